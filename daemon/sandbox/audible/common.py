"""Shared helpers of the Audible sandbox routes: bodies, error shapes, auth checks.

Every route reads its body through `read_body` (size cap → 413), answers errors with the
§9.1 `{"message": …}` shape, and authenticates API calls through `authenticate`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from daemon.contracts import audible as c
from daemon.sandbox.audible import choices

from .state import AudibleState, Registration

STATE_KEY: web.AppKey[AudibleState] = web.AppKey("audible_sandbox_state", AudibleState)


class BodyTooLarge(Exception):
    pass


def state_of(request: web.Request) -> AudibleState:
    return request.app[STATE_KEY]


def message(status: int, text: str, **extra: Any) -> web.Response:
    return web.json_response({"message": text, **extra}, status=status)


def not_authenticated() -> web.Response:
    return message(403, choices.MSG_NOT_AUTHENTICATED)


def validation_error(*errors: str) -> web.Response:
    return message(400, choices.validation_message(list(errors)))


def request_id() -> str:
    return secrets.token_hex(16)


async def read_body(request: web.Request) -> bytes:
    """The whole body, refusing more than `max_body_bytes` (→ BodyTooLarge)."""
    limit = state_of(request).settings.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """A JSON object, or None for anything else (bad UTF-8, bad JSON, not an object)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def marketplace(request: web.Request) -> str:
    """The locale whose `api.audible.{tld}` host was addressed (Host header), else default."""
    host = (request.headers.get("Host") or "").split(":", 1)[0].lower()
    for code, loc in c.LOCALES.items():
        if host in (
            c.API_HOST.format(tld=loc.tld),
            c.IDENTITY_HOST.format(tld=loc.tld),
            c.WWW_HOST.format(tld=loc.tld),
            c.USERNAME_WWW_HOST.format(tld=loc.tld),
        ):
            return code
    return state_of(request).settings.default_locale


def host_pool(request: web.Request) -> str:
    """The account pool a request's Host addresses: `Audible` for `www.audible.*` and
    `api.audible.*` (username accounts' identity hosts), otherwise `Amazon`."""
    host = (request.headers.get("Host") or "").split(":", 1)[0].lower()
    for loc in c.LOCALES.values():
        if host in (
            c.USERNAME_WWW_HOST.format(tld=loc.tld),
            c.USERNAME_IDENTITY_HOST.format(tld=loc.tld),
        ):
            return c.ACCOUNT_POOL_AUDIBLE
    return c.ACCOUNT_POOL_AMAZON


# --- AU-C09 signature verification ------------------------------------------------------

_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(Z|[+-]\d{2}:\d{2}Z?)$"
)


def parse_timestamp(text: str) -> float | None:
    """Lenient ISO-8601 (§5 formats: fraction of any length; `Z`, `±hh:mm`, `+00:00Z`)."""
    m = _TS.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    try:
        base = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        base -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


def verify_signature(request: web.Request, body: bytes) -> Registration | None:
    """The registration whose key signed this request, or None (any failure)."""
    state = state_of(request)
    token = request.headers.get("x-adp-token")
    sig_header = request.headers.get("x-adp-signature")
    if not token or not sig_header or request.headers.get("x-adp-alg") != c.SIGNATURE_ALG:
        return None
    reg = state.registrations.get(token)
    if reg is None or reg.revoked:
        return None
    sig_b64, sep, stamp = sig_header.partition(":")
    if not sep:
        return None
    when = parse_timestamp(stamp)
    if when is None or abs(when - state.now()) > state.settings.signature_skew:
        return None
    try:
        signature = base64.b64decode(sig_b64, validate=True)
        text = body.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    signed = f"{request.method.upper()}\n{request.raw_path}\n{stamp}\n{text}\n{token}"
    try:
        reg.public_key.verify(
            signature, signed.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return None
    return reg


def has_signature(request: web.Request) -> bool:
    return any(h in request.headers for h in ("x-adp-token", "x-adp-signature"))


def access_token_registration(request: web.Request) -> Registration | None:
    """Registration behind an `x-amz-access-token` (or, unless toggled off, Bearer) header."""
    state = state_of(request)
    token = request.headers.get(c.ACCESS_TOKEN_HEADER)
    if token is None and not state.toggles.reject_bearer:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :]
    if not token:
        return None
    return state.registration_for_access_token(token)


def authenticate(request: web.Request, body: bytes, *, signed_only: bool) -> Registration | None:
    """Signing first (AU-C13); access-token header only where `signed_only` is False."""
    if has_signature(request):
        return verify_signature(request, body)
    if signed_only:
        return None
    reg = access_token_registration(request)
    return reg if reg is not None and not reg.revoked else None


def take_fault(request: web.Request) -> web.Response | None:
    """An injected AU-C23 fault for this API call, if one is armed."""
    toggles = state_of(request).toggles
    if toggles.fault_status is None or toggles.fault_count <= 0:
        return None
    toggles.fault_count -= 1
    status = toggles.fault_status
    if toggles.fault_count == 0:
        toggles.fault_status = None
    if status == 200:
        return web.Response(
            text="<html><body><h1>Service Unavailable</h1></body></html>", content_type="text/html"
        )
    if status == 429:
        return web.json_response(
            {"message": "Rate exceeded"}, status=429, headers={"Retry-After": "1"}
        )
    return message(status, choices.MSG_SERVER_ERROR)


async def read_form(request: web.Request) -> dict[str, str]:
    """A form-encoded body as a dict; undecodable bytes give an empty form (the handler then
    answers as for missing fields). An oversized body raises BodyTooLarge (-> 413)."""
    raw = await read_body(request)
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}
