"""Account-level credentials beyond the device key: website cookies, activation bytes, AAX.

- `exchange_cookies`: `/ap/exchangetoken/cookies` turns the refresh token into website
  cookies for a marketplace's domain (§4.5); they replace the registration's cookies in
  the session (secret store).
- `activation_bytes`: the account's 4-byte AAX secret, fetched once with a signed
  `www.audible.com/license/token` (§8.2) and kept in the session as a secret — every
  fetch registers a player on the account, so it is never fetched again while stored.
- `aax_url`: the second way to a book, the legacy `FSDownloadContent` redirect (§7.8),
  with the host moved to the marketplace's `cds.audible.{tld}`; the file plays with
  PyAV's `activation_bytes` option.
"""

from __future__ import annotations

import logging
import struct
from urllib.parse import urlencode, urlsplit

from daemon.contracts import audible as c
from daemon.core.errors import AuthError, LicenseError, ProtocolError
from daemon.core.redact import Secret, redact
from daemon.services.audible import policy

from . import transport
from .client import AudibleClient

log = logging.getLogger("daemon.services.audible")

_RECORDS = 8
_RECORD = 70


def extract_activation_bytes(blob: bytes) -> str:
    """The 8 lower-hex activation characters of an activation blob (§8.2 layout)."""
    if b"BAD_LOGIN" in blob or b"Whoops" in blob or b"group_id" not in blob:
        raise AuthError("Audible refused to activate this speaker for AAX titles")
    tail = blob[-(_RECORD + 1) * _RECORDS :]
    if len(tail) < (_RECORD + 1) * _RECORDS:
        raise ProtocolError("Audible's activation answer is too short")
    joined = b"".join(tail[i * 71 : i * 71 + _RECORD] for i in range(_RECORDS))
    (value,) = struct.unpack("<I", joined[:4])
    return f"{value:08x}"


async def exchange_cookies(client: AudibleClient, tld: str | None = None) -> dict[str, str]:
    """Website cookies for `.amazon.{tld}` (username accounts: `.audible.{tld}`), saved."""
    session = client.session
    locale = client.locale
    cookie_tld = tld or locale.tld
    pool = "audible" if session.with_username else "amazon"
    base, host = client.endpoints.www_base(locale, with_username=session.with_username)
    form = {
        "app_name": policy.APP_NAME,
        "app_version": policy.APP_VERSION,
        "source_token": session.refresh_token.reveal(),
        "requested_token_type": "auth_cookies",
        "source_token_type": "refresh_token",
        "domain": f".{pool}.{cookie_tld}",
    }
    response = await transport.send(
        client.http, "POST", base + c.COOKIE_EXCHANGE_PATH, headers=host, body=form
    )
    if response.status in (400, 401, 403):
        raise AuthError(policy.RELOGIN_HINT, status=response.status)
    transport.raise_for_status(response)
    body = transport.json_object(response)
    try:
        raw = body["response"]["tokens"]["cookies"]
        cookies = {
            str(item["Name"]): str(item["Value"]).replace('"', "")
            for items in raw.values()
            for item in items
        }
    except (KeyError, TypeError, AttributeError):
        raise ProtocolError("Audible's cookie exchange answer is unusable") from None
    await client.replace_session(session.with_cookies(cookies))
    log.info("audible.cookies_exchanged count=%d", len(cookies))
    return cookies


async def activation_bytes(client: AudibleClient, *, refetch: bool = False) -> Secret:
    """The account's activation bytes: the stored ones, else fetched (signed) and stored."""
    stored = client.session.activation_bytes
    if stored is not None and not refetch:
        return stored
    base, host = client.endpoints.activation_base()
    url = f"{base}{c.ACTIVATION_PATH}?{c.ACTIVATION_QUERY}"
    response = await client.signed_send("GET", url, host)
    if response.status in (401, 403):
        raise AuthError(policy.RELOGIN_HINT, status=response.status)
    transport.raise_for_status(response)
    value = extract_activation_bytes(response.body)
    await client.replace_session(client.session.with_activation_bytes(value))
    log.info("audible.activation_bytes_stored")
    return Secret(value)


async def aax_url(client: AudibleClient, asin: str, codec: str = "LC_64_22050_stereo") -> str:
    """The download URL of a title's AAX file (signed `FSDownloadContent` → redirect)."""
    base, host = client.endpoints.legacy_content_base()
    query = urlencode(
        {"type": "AUDI", "currentTransportMethod": "WIFI", "key": asin, "codec": codec}
    )
    response = await client.signed_send("GET", f"{base}{c.FS_DOWNLOAD_PATH}?{query}", host)
    location = response.headers.get("Location", "")
    if response.status in (401, 403):
        raise AuthError(policy.RELOGIN_HINT, status=response.status)
    if response.status not in (301, 302, 303, 307) or not location:
        raise LicenseError(
            "Audible offers no AAX download for this title: "
            + (redact(response.body.decode("utf-8", "replace"))[:120] or str(response.status)),
            asin=asin,
        )
    parts = urlsplit(location)
    dl_base, _ = client.endpoints.download_base(client.locale)
    return f"{dl_base}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def aax_headers(client: AudibleClient) -> dict[str, str]:
    """Headers for fetching the AAX URL (the Host of `cds.audible.{tld}` on the sandbox)."""
    return client.endpoints.download_base(client.locale)[1]


def aax_options(activation: Secret) -> dict[str, str]:
    """PyAV/FFmpeg demuxer options that open an AAX file (in memory; never logged)."""
    return {"activation_bytes": activation.reveal()}
