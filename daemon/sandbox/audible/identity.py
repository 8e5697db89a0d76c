"""Emulated Amazon identity hosts: sign-in pages, maplanding, register, token, deregister.

Login pages carry the §3.3 ids/classes/field names (AU-C03); register enforces the PKCE and
code checks of AU-C22 and issues what AU-C07 lists. Errors use §4.3 / §6.1 shapes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from daemon.contracts import audible as c
from daemon.sandbox.audible import choices
from daemon.services.audible import metadata1

from . import login_steps
from .common import (
    access_token_registration,
    host_pool,
    marketplace,
    parse_json_object,
    read_body,
    read_form,
    request_id,
    state_of,
)
from .state import AudibleState, LoginSession, Registration

# --- pages ------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(text=text, content_type="text/html", status=status)


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{html.escape(value)}">'


def _signin_form(session_id: str, *, error: str | None = None, captcha: bool = False) -> str:
    parts = []
    if error:
        parts.append(
            f'<div id="{choices.ERROR_BOX_ID}"><h4>There was a problem</h4>'
            f"<ul><li><span>{html.escape(error)}</span></li></ul></div>"
        )
    parts.append(f'<form name="{c.SIGNIN_FORM_NAME}" method="post" action="{c.SIGNIN_PATH}">')
    parts.append(_hidden("session", session_id))
    parts.append(_hidden("appActionToken", secrets.token_hex(8)))
    parts.append('<input type="email" name="email"><input type="password" name="password">')
    parts.append('<input type="hidden" name="metadata1" value="">')
    if captcha:
        parts.append(
            f'<div id="auth-captcha-image-container"><img alt="Visual CAPTCHA image, '
            f'continue down for an audio option" src="/ap/captcha/{session_id}.jpg">'
            '</div><input type="text" name="guess">'
        )
    parts.append('<input type="submit" value="Sign-In"></form>')
    return "".join(parts)


_REQUIRED_SIGNIN = (
    "openid.oa2.response_type",
    "openid.oa2.code_challenge_method",
    "openid.oa2.code_challenge",
    "openid.oa2.client_id",
    "openid.return_to",
    "openid.assoc_handle",
)


def start_login(
    state: AudibleState, query: dict[str, str], reached_pool: str | None = None
) -> LoginSession | str:
    """A new login session from sign-in URL parameters, or the reason they are unusable.
    `reached_pool` is the pool of the host the pages were reached on (None: not checked, as
    for the scripted phone, which has only the URL's parameters)."""
    missing = [k for k in _REQUIRED_SIGNIN if not query.get(k)]
    if missing:
        return "missing parameter " + missing[0]
    if query["openid.oa2.response_type"] != "code":
        return "unsupported response_type"
    if query["openid.oa2.code_challenge_method"] != "S256":
        return "unsupported code_challenge_method"
    client_id = query["openid.oa2.client_id"]
    if not client_id.startswith("device:"):
        return "bad client_id"
    handle = query["openid.assoc_handle"]
    cc = handle.rsplit("_", 1)[-1]
    if cc not in c.LOCALES:
        return "unknown assoc_handle"
    pool = c.ACCOUNT_POOL_AUDIBLE if handle.startswith("amzn_audible_ios_lap_") else (
        c.ACCOUNT_POOL_AMAZON
    )
    if pool == c.ACCOUNT_POOL_AUDIBLE and cc not in c.USERNAME_LOCALES:
        return "username sign-in is not available in this marketplace"
    if reached_pool is not None and reached_pool != pool:
        return "this sign-in belongs on the other host (www.amazon vs www.audible)"
    return LoginSession(
        challenge=query["openid.oa2.code_challenge"],
        client_id=client_id[len("device:") :],
        return_to=query["openid.return_to"],
        country_code=cc,
        pool=pool,
    )


async def signin_get(request: web.Request) -> web.Response:
    state = state_of(request)
    result = start_login(state, dict(request.query), host_pool(request))
    if isinstance(result, str):
        return _page(
            "Error",
            f'<div id="ap_error_page_message"><h4>{html.escape(result)}</h4></div>',
            status=400,
        )
    session_id = secrets.token_urlsafe(12)
    state.login_sessions[session_id] = result
    response = _page("Amazon Sign-In", _signin_form(session_id))
    response.set_cookie("session-id", secrets.token_hex(8))
    return response


async def signin_post(request: web.Request) -> web.Response:
    state = state_of(request)
    form = await read_form(request)
    session_id = form.get("session", "")
    session = state.login_sessions.get(session_id)
    if session is None:
        return _page(
            "Error",
            '<div id="ap_error_page_message"><h4>Your session has expired</h4></div>',
            status=400,
        )
    toggles = state.toggles
    if not session.authenticated:
        login_name = (
            state.settings.account_username
            if session.pool == c.ACCOUNT_POOL_AUDIBLE
            else state.settings.account_email
        )
        if form.get("email") != login_name or not secrets.compare_digest(
            form.get("password", "").encode(), state.settings.account_password.encode()
        ):
            return _page(
                "Amazon Sign-In",
                _signin_form(
                    session_id,
                    error="Your password is incorrect",
                    captcha=toggles.captcha and not session.captcha_solved,
                ),
            )
        if toggles.locked:
            return _page(
                "Amazon Sign-In",
                _signin_form(
                    session_id,
                    error="Your account has been locked for your protection; reset the"
                    " password to unlock it",
                ),
            )
        need_captcha = (
            toggles.captcha
            or (
                toggles.captcha_without_init_cookies
                and not {"frc", "map-md", "amzn-app-id"} <= set(request.cookies)
            )
            or (
                toggles.captcha_without_metadata
                and metadata1.decode(form.get("metadata1", "")) is None
            )
        )
        if need_captcha and not session.captcha_solved:
            if form.get("guess", "").strip().lower() != choices.SANDBOX_CAPTCHA_ANSWER:
                return _page("Amazon Sign-In", _signin_form(session_id, captcha=True))
            session.captcha_solved = True
        session.authenticated = True
        return login_steps.next_step(state, session_id, session)
    return login_steps.mfa_post(state, session_id, session, form)


async def maplanding(request: web.Request) -> web.Response:
    # The real page is a "not found" page on purpose (§3.1); the code is in the URL.
    return _page("Page Not Found", "<h1>Looking for something?</h1>", status=404)


# --- /auth/register ----------------------------------------------------------------------


def _identity_error(status: int, code: str, text: str) -> web.Response:
    return web.json_response(
        {
            "response": {"error": {"code": code, "index": secrets.token_hex(4), "message": text}},
            "request_id": request_id(),
        },
        status=status,
    )


def _credential_error(request: web.Request) -> web.Response:
    host = (request.headers.get("Host") or "api.amazon.com").split(":", 1)[0]
    return web.Response(
        status=401, headers={"WWW-Authenticate": choices.CREDENTIAL_ERROR_HEADER.format(host=host)}
    )


def _str_field(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value else None


def _new_key_pem(bits: int) -> tuple[bytes, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem, key.public_key()


def _adp_token() -> str:
    def b64(n: int) -> str:
        return base64.b64encode(secrets.token_bytes(n)).decode()

    return (
        f"{{enc:{b64(96)}}}{{key:{b64(256)}}}{{iv:{b64(16)}}}"
        f"{{name:{choices.ADP_TOKEN_NAME}}}{{serial:Mg==}}"
    )


async def register(request: web.Request) -> web.Response:
    state = state_of(request)
    body = parse_json_object(await read_body(request))
    bad = _identity_error(400, "InvalidValue", "One or more provided values are invalid.")
    if body is None:
        return bad
    reg_data, auth = body.get("registration_data"), body.get("auth_data")
    serial = _str_field(reg_data, "device_serial")
    device_type = _str_field(reg_data, "device_type")
    client_id = _str_field(auth, "client_id")
    code = _str_field(auth, "authorization_code")
    verifier = _str_field(auth, "code_verifier")
    if not (serial and device_type and client_id and code and verifier):
        return bad
    tokens = body.get("requested_token_type")
    if not isinstance(tokens, list) or "bearer" not in tokens or "mac_dms" not in tokens:
        return bad
    # AU-C22: code single-use with TTL, PKCE, client_id = hex(serial#device_type).
    issued = state.codes.pop(code, None)
    if issued is None or issued.expires <= state.now():
        return _credential_error(request)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        .rstrip(b"=")
        .decode()
    )
    expected_client = f"{serial}#{device_type}".encode().hex()
    if (
        not secrets.compare_digest(challenge, issued.challenge)
        or client_id != expected_client
        or issued.client_id != expected_client
        # A username account's code registers only on api.audible, an Amazon one on api.amazon.
        or issued.pool != host_pool(request)
    ):
        return _credential_error(request)
    pem, public_key = await asyncio.to_thread(_new_key_pem, state.settings.rsa_key_bits)
    adp = _adp_token()
    locale = marketplace(request)
    reg = Registration(
        serial=serial,
        device_type=device_type,
        customer_id=state.settings.customer_id,
        adp_token=adp,
        public_key=public_key,
        refresh_token=c.REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(48),
        locale=locale,
        account_pool=issued.pool,
    )
    store_cookie = secrets.token_urlsafe(24)
    reg.store_cookie = store_cookie
    state.registrations[adp] = reg
    access = state.new_access_token(adp)
    await state.registrations_changed()
    tld = c.LOCALES[locale].tld
    cookie_domain = f".{issued.pool.lower()}.{tld}"
    first = state.settings.account_name.split()[0]
    success: dict[str, Any] = {
        "tokens": {
            "bearer": {
                "access_token": access,
                "refresh_token": reg.refresh_token,
                "expires_in": str(int(state.settings.access_token_ttl)),
            },
            "mac_dms": {"device_private_key": pem.decode(), "adp_token": adp},
            "website_cookies": [
                {
                    "Name": "session-id",
                    "Value": f'"{secrets.token_hex(8)}"',
                    "Domain": cookie_domain,
                    "Path": "/",
                    "Secure": "true",
                    "HttpOnly": "false",
                    "Expires": "01 Jan 2030 00:00:00 GMT",
                }
            ],
            "store_authentication_cookie": {"cookie": store_cookie},
        },
        "extensions": {
            "device_info": {
                "device_name": f"{first}'s Audible for iPhone",
                "device_serial_number": serial,
                "device_type": device_type,
            },
            "customer_info": {
                "account_pool": reg.account_pool,
                "user_id": reg.customer_id,
                "home_region": "NA",
                "name": state.settings.account_name,
                "given_name": first,
            },
        },
        "customer_id": reg.customer_id,
    }
    return web.json_response({"response": {"success": success}, "request_id": request_id()})


# --- /auth/token (AU-C11) ------------------------------------------------------------------


async def token(request: web.Request) -> web.Response:
    state = state_of(request)
    raw = await read_body(request)
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        form = {}
    source = form.get("source_token", "")
    if (
        form.get("requested_token_type") != "access_token"
        or form.get("source_token_type") != "refresh_token"
        or not source
    ):
        return web.json_response(
            {"error": "invalid_request", "error_description": "Malformed token request"}, status=400
        )
    reg = next(
        (
            r
            for r in state.registrations.values()
            if secrets.compare_digest(r.refresh_token, source)
        ),
        None,
    )
    if reg is None or reg.revoked or reg.account_pool != host_pool(request):
        return web.json_response(
            {"error": "invalid_grant", "error_description": "The refresh token is invalid."},
            status=400,
        )
    access = state.new_access_token(reg.adp_token)
    await state.registrations_changed()
    ttl = int(state.settings.access_token_ttl)
    if state.toggles.actor_mode:
        return web.json_response(
            {
                "actor_access_token": access,
                "actor_refresh_token": reg.refresh_token,
                "expires_in": ttl,
            }
        )
    return web.json_response({"access_token": access, "expires_in": ttl, "token_type": "bearer"})


# --- /auth/deregister, /user/profile --------------------------------------------------------


async def deregister(request: web.Request) -> web.Response:
    state = state_of(request)
    raw = await read_body(request)
    reg = access_token_registration(request)
    if reg is None or reg.revoked or reg.account_pool != host_pool(request):
        return _identity_error(401, "Unauthorized", "Access token is invalid or expired.")
    body = parse_json_object(raw) if raw else {}
    if body is None:
        return _identity_error(400, "InvalidValue", "One or more provided values are invalid.")
    everything = body.get("deregister_all_existing_accounts", False)
    if not isinstance(everything, bool):
        return _identity_error(400, "InvalidValue", "One or more provided values are invalid.")
    for other in state.registrations.values():
        if other is reg or (everything and other.customer_id == reg.customer_id):
            other.revoked = True
    await state.registrations_changed()
    return web.json_response({"response": {"success": {}}, "request_id": request_id()})


async def profile(request: web.Request) -> web.Response:
    state = state_of(request)
    reg = access_token_registration(request)
    if reg is None or reg.revoked:
        return _identity_error(401, "Unauthorized", "Access token is invalid or expired.")
    return web.json_response(
        {
            "user_id": reg.customer_id,
            "name": state.settings.account_name,
            "email": state.settings.account_email,
        }
    )


def signin_query(url: str) -> dict[str, str]:
    """Parameters of a sign-in URL (used by the approve hook)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


async def exchange_cookies(request: web.Request) -> web.Response:
    """`/ap/exchangetoken/cookies` (§4.5): website cookies for a TLD from a refresh token."""
    state = state_of(request)
    form = await read_form(request)
    source = form.get("source_token", "")
    domain = form.get("domain", "")
    reg = next(
        (
            r
            for r in state.registrations.values()
            if source and secrets.compare_digest(r.refresh_token, source)
        ),
        None,
    )
    if form.get("requested_token_type") != "auth_cookies" or not domain.startswith(
        (".amazon.", ".audible.")
    ):
        return web.json_response({"error": "invalid_request"}, status=400)
    if reg is None or reg.revoked or reg.account_pool != host_pool(request):
        return web.json_response({"error": "invalid_grant"}, status=400)
    cookie = {"Name": "session-id", "Value": secrets.token_hex(8), "Domain": domain, "Path": "/"}
    return web.json_response({"response": {"tokens": {"cookies": {domain: [cookie]}}}})
