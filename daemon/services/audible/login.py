"""PKCE external login (spec/audible.md §3.1-§3.2, AU-C02): pure helpers + one small state.

`start_external_login` creates the verifier (kept here, never shown) and the sign-in URL
a person opens in a browser; `PendingLogin.complete` takes the pasted maplanding URL (or
the bare code) and yields the `LoginResult` that `/auth/register` needs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from daemon.contracts import audible as c
from daemon.core.errors import AuthError
from daemon.core.redact import Secret
from daemon.services.audible import policy

from .locales import Endpoints, Locale


def new_device_serial() -> str:
    """32 upper-hex characters (mkb79's form); persist it: it feeds voucher decryption."""
    return uuid.uuid4().hex.upper()


def build_client_id(serial: str, device_type: str = policy.DEVICE_TYPE) -> str:
    """Hex of the ASCII bytes `"{serial}#{device_type}"`."""
    return f"{serial}#{device_type}".encode("ascii").hex()


def new_code_verifier() -> Secret:
    """32 random bytes, base64url without padding (43 characters)."""
    return Secret(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode())


def code_challenge(verifier: Secret) -> str:
    digest = hashlib.sha256(verifier.reveal().encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_signin_url(
    locale: Locale,
    serial: str,
    challenge: str,
    endpoints: Endpoints,
    *,
    with_username: bool = False,
) -> str:
    """The §3.1 sign-in URL (iOS profile)."""
    www, _ = endpoints.www_base(locale, with_username=with_username)
    return_to = f"https://{endpoints.www_host(locale, with_username=with_username)}"
    return_to += c.MAPLANDING_PATH
    handle = ("amzn_audible_ios_lap_" if with_username else "amzn_audible_ios_") + (
        locale.country_code
    )
    params = {
        "openid.oa2.response_type": "code",
        "openid.oa2.code_challenge_method": "S256",
        "openid.oa2.code_challenge": challenge,
        "openid.return_to": return_to,
        "openid.assoc_handle": handle,
        "openid.identity": policy.OPENID_IDENTIFIER_SELECT,
        "pageId": "amzn_audible_ios_privatepool" if with_username else "amzn_audible_ios",
        "accountStatusPolicy": "P1",
        "openid.claimed_id": policy.OPENID_IDENTIFIER_SELECT,
        "openid.mode": "checkid_setup",
        "openid.ns.oa2": "http://www.amazon.com/ap/ext/oauth/2",
        "openid.oa2.client_id": f"device:{build_client_id(serial)}",
        "openid.ns.pape": "http://specs.openid.net/extensions/pape/1.0",
        "marketPlaceId": locale.marketplace_id,
        "openid.oa2.scope": "device_auth_access",
        "forceMobileLayout": "true",
        "openid.ns": "http://specs.openid.net/auth/2.0",
        "openid.pape.max_auth_age": "0",
    }
    return f"{www}{c.SIGNIN_PATH}?{urlencode(params)}"


def init_cookies() -> dict[str, str]:
    """mkb79's anti-CAPTCHA cookies (§3.1), for a browser/session that can set them."""
    frc = base64.b64encode(secrets.token_bytes(313)).rstrip(b"=").decode()
    map_md = {
        "device_user_dictionary": [],
        "device_registration_data": {"software_version": policy.SOFTWARE_VERSION},
        "app_identifier": {"app_version": policy.APP_VERSION, "bundle_id": policy.BUNDLE_ID},
    }
    return {
        "frc": frc,
        "map-md": base64.b64encode(json.dumps(map_md).encode()).decode(),
        "amzn-app-id": "MAPiOSLib/6.0/ToHideRetailLink",
    }


def extract_authorization_code(pasted: str) -> Secret:
    """The code from a maplanding URL (`openid.oa2.authorization_code`, then fallbacks)
    or a bare code. Raises AuthError with a hint when none is there."""
    text = pasted.strip()
    if not text:
        raise AuthError("nothing was pasted; paste the whole address of the final page")
    if "://" in text or "?" in text or "=" in text:
        query = parse_qs(urlsplit(text).query if "://" in text or "?" in text else text)
        for name in policy.AUTH_CODE_PARAMS:
            values = query.get(name)
            if values and values[0].strip():
                return Secret(values[0].strip())
        raise AuthError(
            "the pasted address carries no authorization code; paste the address"
            " of the page Amazon shows after sign-in (it contains"
            " 'openid.oa2.authorization_code')"
        )
    if any(ch.isspace() for ch in text) or len(text) > 512:
        raise AuthError("that does not look like an authorization code or a maplanding address")
    return Secret(text)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What `/auth/register` needs; secrets stay masked."""

    authorization_code: Secret
    code_verifier: Secret
    serial: str
    locale: Locale
    with_username: bool = False


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A started external login: show `signin_url`, then `complete(pasted)`."""

    signin_url: str
    serial: str
    code_verifier: Secret
    locale: Locale
    with_username: bool = False

    def complete(self, pasted: str) -> LoginResult:
        return LoginResult(
            extract_authorization_code(pasted),
            self.code_verifier,
            self.serial,
            self.locale,
            self.with_username,
        )


def start_external_login(
    locale: Locale, endpoints: Endpoints, *, serial: str | None = None, with_username: bool = False
) -> PendingLogin:
    """Step 1 of AU-C02: serial (reuse a persisted one when given), verifier, sign-in URL."""
    serial = serial or new_device_serial()
    verifier = new_code_verifier()
    url = build_signin_url(
        locale, serial, code_challenge(verifier), endpoints, with_username=with_username
    )
    return PendingLogin(url, serial, verifier, locale, with_username)
