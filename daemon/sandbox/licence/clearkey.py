"""The sandbox's W3C ClearKey licence server (drm-and-media.md §4). Pure functions."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from daemon.sandbox.licence.errors import BadChallenge, LicenceDenied

_MAX_BODY = 64 * 1024
_MAX_KIDS = 64


def b64url(data: bytes) -> str:
    """base64url without padding, as EME ClearKey writes ids and keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def clearkey_response(keys: Mapping[bytes, bytes], session_type: str = "temporary") -> bytes:
    """The JWK set for `keys` (KID -> key), ignoring any request (Amazon-emulation mode)."""
    jwks = [{"kty": "oct", "kid": b64url(kid), "k": b64url(key)} for kid, key in keys.items()]
    return json.dumps({"keys": jwks, "type": session_type}, separators=(",", ":")).encode()


def issue_clearkey(request_body: bytes, keys: Mapping[bytes, bytes]) -> bytes:
    """Answer a W3C ClearKey request `{"kids":[b64url...],"type":...}` with the requested keys.

    Raises BadChallenge (400) for a malformed request, LicenceDenied NOT_ENTITLED (403) when a
    requested KID is not among `keys`.
    """
    if len(request_body) > _MAX_BODY:
        raise BadChallenge("ClearKey request too large")
    try:
        request = json.loads(request_body)
    except (ValueError, UnicodeDecodeError):
        raise BadChallenge("ClearKey request is not JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get("kids"), list):
        raise BadChallenge('ClearKey request needs a "kids" list')
    kids_text = request["kids"]
    if not kids_text or len(kids_text) > _MAX_KIDS:
        raise BadChallenge(f'"kids" must list 1..{_MAX_KIDS} key ids')
    session_type = request.get("type", "temporary")
    if session_type not in ("temporary", "persistent-license"):
        raise BadChallenge('"type" must be "temporary" or "persistent-license"')
    wanted: list[bytes] = []
    for text in kids_text:
        try:
            kid = b64url_decode(text) if isinstance(text, str) else b""
        except (binascii.Error, ValueError):
            kid = b""
        if len(kid) != 16:
            raise BadChallenge("each kid must be 16 bytes in base64url")
        wanted.append(kid)
    missing = [kid.hex() for kid in wanted if kid not in keys]
    if missing:
        raise LicenceDenied(
            "NOT_ENTITLED",
            f"no entitlement for key id(s) {', '.join(missing)}",
            drm_type="CLEARKEY",
        )
    return clearkey_response({kid: keys[kid] for kid in dict.fromkeys(wanted)}, session_type)
