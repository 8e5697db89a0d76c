"""The persisted Audible device registration (AU-C08) and where it is kept.

`AudibleSession` holds every credential as a `Secret`; `to_json`/`from_json` are for the
encrypted secret store only (never a plain file). `SessionStore` is the small interface
the store must offer (`daemon.state.secrets.SecretStore` satisfies it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Protocol

from daemon.contracts import audible as c
from daemon.core.errors import AuthError
from daemon.core.redact import Secret
from daemon.services.audible import policy

_ADP_TOKEN = re.compile(r"^\{enc:[^}]*\}\{key:[^}]*\}\{iv:[^}]*\}\{name:[^}]*\}\{serial:[^}]*\}$")


class SessionStore(Protocol):
    """Named JSON objects kept encrypted at rest."""

    def save(self, name: str, value: dict[str, Any]) -> None: ...

    def load(self, name: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class AudibleSession:
    """A registered device: identity, signing key, tokens, marketplace."""

    device_serial: str
    device_type: str
    device_name: str
    customer_id: str
    customer_name: str
    adp_token: Secret
    device_private_key: Secret
    refresh_token: Secret
    access_token: Secret
    expires: float  # unix seconds when `access_token` dies
    locale_code: str
    with_username: bool = False
    activation_bytes: Secret | None = None
    # Website cookies from registration or exchange (JSON object name -> value) and the
    # `store_authentication_cookie`; both are credentials, kept only in the secret store.
    website_cookies: Secret | None = None
    store_cookie: Secret | None = None

    def cookies(self) -> dict[str, str]:
        """The website cookies as a dict (empty when none were issued)."""
        if self.website_cookies is None:
            return {}
        value = json.loads(self.website_cookies.reveal())
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def with_cookies(self, cookies: dict[str, str]) -> AudibleSession:
        return replace(self, website_cookies=Secret(json.dumps(cookies, sort_keys=True)))

    def with_activation_bytes(self, value: str) -> AudibleSession:
        return replace(self, activation_bytes=Secret(value))

    def with_access_token(
        self, token: Secret, expires: float, refresh_token: Secret | None = None
    ) -> AudibleSession:
        return replace(
            self,
            access_token=token,
            expires=expires,
            refresh_token=refresh_token or self.refresh_token,
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the secret store (reveals secrets: never log or write it plainly)."""
        return {
            "version": 1,
            "device_serial": self.device_serial,
            "device_info": {
                "device_serial_number": self.device_serial,
                "device_type": self.device_type,
                "device_name": self.device_name,
            },
            "customer_info": {"user_id": self.customer_id, "name": self.customer_name},
            "adp_token": self.adp_token.reveal(),
            "device_private_key": self.device_private_key.reveal(),
            "refresh_token": self.refresh_token.reveal(),
            "access_token": self.access_token.reveal(),
            "expires": self.expires,
            "locale_code": self.locale_code,
            "with_username": self.with_username,
            "activation_bytes": (
                self.activation_bytes.reveal() if self.activation_bytes is not None else None
            ),
            "website_cookies": self.cookies() if self.website_cookies is not None else None,
            "store_authentication_cookie": (
                self.store_cookie.reveal() if self.store_cookie is not None else None
            ),
        }

    @classmethod
    def from_json(cls, data: Any) -> AudibleSession:
        """Rebuild from `to_json` output; a damaged record is an AuthError (sign in again)."""
        try:
            device = data["device_info"]
            customer = data["customer_info"]
            fields = {
                "device_serial": data["device_serial"],
                "device_type": device["device_type"],
                "device_name": device.get("device_name", ""),
                "customer_id": customer["user_id"],
                "customer_name": customer.get("name", ""),
                "adp_token": data["adp_token"],
                "device_private_key": data["device_private_key"],
                "refresh_token": data["refresh_token"],
                "access_token": data["access_token"],
                "locale_code": data["locale_code"],
            }
            expires = data["expires"]
            with_username = data.get("with_username", False)
            activation = data.get("activation_bytes")
            cookies = data.get("website_cookies")
            store_cookie = data.get("store_authentication_cookie")
        except (KeyError, TypeError, AttributeError):
            raise AuthError("saved Audible sign-in is incomplete; " + policy.RELOGIN_HINT) from None
        if (
            not all(
                isinstance(v, str) and v
                for k, v in fields.items()
                if k not in {"device_name", "customer_name"}
            )
            or not isinstance(expires, int | float)
            or isinstance(expires, bool)
            or not isinstance(with_username, bool)
            or (activation is not None and not isinstance(activation, str))
            or (cookies is not None and not _cookie_dict(cookies))
            or (store_cookie is not None and not isinstance(store_cookie, str))
            or fields["locale_code"] not in c.LOCALES
            or (with_username and fields["locale_code"] not in c.USERNAME_LOCALES)
            or not _ADP_TOKEN.match(fields["adp_token"])
        ):
            raise AuthError("saved Audible sign-in is damaged; " + policy.RELOGIN_HINT)
        return cls(
            device_serial=fields["device_serial"],
            device_type=fields["device_type"],
            device_name=str(fields["device_name"]),
            customer_id=fields["customer_id"],
            customer_name=str(fields["customer_name"]),
            adp_token=Secret(fields["adp_token"]),
            device_private_key=Secret(fields["device_private_key"]),
            refresh_token=Secret(fields["refresh_token"]),
            access_token=Secret(fields["access_token"]),
            expires=float(expires),
            locale_code=fields["locale_code"],
            with_username=with_username,
            activation_bytes=Secret(activation) if activation else None,
            website_cookies=(
                Secret(json.dumps(cookies, sort_keys=True)) if cookies is not None else None
            ),
            store_cookie=Secret(store_cookie) if store_cookie else None,
        )


def _cookie_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def registration_cookies(tokens: Any) -> tuple[dict[str, str] | None, str | None]:
    """`website_cookies` (list of {Name, Value}) as a dict, and the store cookie text;
    missing or malformed parts are None (they are not needed to play)."""
    cookies: dict[str, str] | None = None
    raw = tokens.get("website_cookies") if isinstance(tokens, dict) else None
    if isinstance(raw, list):
        cookies = {}
        for item in raw:
            if isinstance(item, dict):
                name, value = item.get("Name"), item.get("Value")
                if isinstance(name, str) and isinstance(value, str):
                    cookies[name] = value.replace('"', "")
    store = tokens.get("store_authentication_cookie") if isinstance(tokens, dict) else None
    cookie = store.get("cookie") if isinstance(store, dict) else None
    return cookies, cookie if isinstance(cookie, str) and cookie else None


def parse_registration(
    body: Any, serial: str, locale_code: str, now: float, with_username: bool = False
) -> AudibleSession:
    """The §4.2 success body → session; anything missing or mistyped is a ProtocolError."""
    from daemon.core.errors import ProtocolError

    def bad(what: str) -> ProtocolError:
        return ProtocolError(f"Audible registration answer is unusable: {what}")

    try:
        success = body["response"]["success"]
        tokens = success["tokens"]
        bearer, mac = tokens["bearer"], tokens["mac_dms"]
        ext = success["extensions"]
        device, customer = ext["device_info"], ext["customer_info"]
        access, refresh = bearer["access_token"], bearer["refresh_token"]
        expires_in = bearer.get("expires_in", c.ACCESS_TOKEN_TTL_SECONDS)
        key, adp = mac["device_private_key"], mac["adp_token"]
        user_id = customer["user_id"]
        dev_serial = device.get("device_serial_number", serial)
        dev_type = device.get("device_type", policy.DEVICE_TYPE)
    except (KeyError, TypeError, AttributeError):
        raise bad("required fields are missing") from None
    for name, value in (
        ("access_token", access),
        ("refresh_token", refresh),
        ("device_private_key", key),
        ("adp_token", adp),
        ("user_id", user_id),
        ("device_serial_number", dev_serial),
        ("device_type", dev_type),
    ):
        if not isinstance(value, str) or not value:
            raise bad(f"{name} is not a string")
    if not _ADP_TOKEN.match(adp):
        raise bad("adp_token does not have its five segments")
    try:
        ttl = float(expires_in)  # a string ("3600") in this answer (§4.2)
    except (TypeError, ValueError):
        raise bad("expires_in is not a number") from None
    if dev_serial != serial:
        raise bad("device serial was not echoed back")
    web_cookies, store_cookie = registration_cookies(tokens)
    return AudibleSession(
        device_serial=dev_serial,
        device_type=dev_type,
        device_name=str(device.get("device_name") or ""),
        customer_id=user_id,
        customer_name=str(customer.get("name") or ""),
        adp_token=Secret(adp),
        device_private_key=Secret(key),
        refresh_token=Secret(refresh),
        access_token=Secret(access),
        expires=now + ttl,
        locale_code=locale_code,
        with_username=with_username,
        website_cookies=(
            Secret(json.dumps(web_cookies, sort_keys=True)) if web_cookies is not None else None
        ),
        store_cookie=Secret(store_cookie) if store_cookie else None,
    )
