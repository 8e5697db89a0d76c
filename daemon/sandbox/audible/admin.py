"""Test hooks under /_sandbox/audible/ (AU-C24): never part of a real contract.

Approve a login (the scripted "phone"), flip toggles, revoke registrations, shift the
clock, arm throttling and faults, expire access tokens, read a summary.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from daemon.sandbox.audible import choices

from . import login_steps
from .common import message, parse_json_object, read_body, state_of
from .identity import signin_query, start_login
from .login_steps import finish_login

_BOOL_TOGGLES = (
    "captcha",
    "otp",
    "captcha_without_init_cookies",
    "reject_bearer",
    "actor_mode",
    # The further sign-in steps (login_steps.py).
    "mfa_choice",
    "cvf",
    "approval",
    "captcha_without_metadata",
    "locked",
)


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    body = parse_json_object(await read_body(request) or b"{}")
    return body if body is not None else message(400, "body must be a JSON object")


def _toggles_json(request: web.Request) -> dict[str, Any]:
    t = state_of(request).toggles
    return {
        **{k: getattr(t, k) for k in _BOOL_TOGGLES},
        "throttle_after": t.throttle_after,
        "clock_offset": t.clock_offset,
    }


async def approve_login(request: web.Request) -> web.Response:
    """Complete a sign-in URL without the pages: answer the maplanding path with a code."""
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    url = body.get("signin_url")
    if not isinstance(url, str):
        return message(400, "signin_url (string) is required")
    state = state_of(request)
    session = start_login(state, signin_query(url))
    if isinstance(session, str):
        return message(400, session)
    return web.json_response({"maplanding_url": finish_login(state, session)})


async def approve_alerts(request: web.Request) -> web.Response:
    """The scripted phone approves every pending approval alert."""
    return web.json_response({"approved": login_steps.approve_alerts(state_of(request))})


async def set_toggles(request: web.Request) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    toggles = state_of(request).toggles
    for key, value in body.items():
        if key not in _BOOL_TOGGLES:
            return message(400, f"unknown toggle {key!r}")
        if not isinstance(value, bool):
            return message(400, f"toggle {key!r} must be a boolean")
    for key, value in body.items():
        setattr(toggles, key, value)
    return web.json_response(_toggles_json(request))


async def revoke(request: web.Request) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    serial = body.get("serial")
    if serial is not None and not isinstance(serial, str):
        return message(400, "serial must be a string")
    count = 0
    for reg in state_of(request).registrations.values():
        if not reg.revoked and (serial is None or reg.serial == serial):
            reg.revoked = True
            count += 1
    await state_of(request).registrations_changed()
    return web.json_response({"revoked": count})


async def set_clock(request: web.Request) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    offset = body.get("offset_seconds")
    if not isinstance(offset, int | float) or isinstance(offset, bool):
        return message(400, "offset_seconds (number) is required")
    state_of(request).toggles.clock_offset = float(offset)
    return web.json_response(_toggles_json(request))


async def throttle(request: web.Request) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    after = body.get("after")
    if after is not None and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
        return message(400, "after must be a non-negative integer or null")
    state = state_of(request)
    state.toggles.throttle_after = after
    for reg in state.registrations.values():
        reg.licence_count = 0
    return web.json_response(_toggles_json(request))


async def faults(request: web.Request) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    status, count = body.get("status"), body.get("count", 1)
    if status not in (200, 429, 500, 503) or not isinstance(count, int) or count < 0:
        return message(400, "status must be 200 (HTML page), 429, 500 or 503; count >= 0")
    toggles = state_of(request).toggles
    toggles.fault_status, toggles.fault_count = status, count
    return web.json_response({"status": status, "count": count})


async def expire_tokens(request: web.Request) -> web.Response:
    state = state_of(request)
    for token, (adp, _exp) in list(state.access_tokens.items()):
        state.access_tokens[token] = (adp, state.now() - 1)
    await state.registrations_changed()
    return web.json_response({"expired": len(state.access_tokens)})


async def summary(request: web.Request) -> web.Response:
    state = state_of(request)
    regs = [
        {
            "serial": r.serial,
            "revoked": r.revoked,
            "locale": r.locale,
            "licence_count": r.licence_count,
        }
        for r in state.registrations.values()
    ]
    return web.json_response(
        {
            "toggles": _toggles_json(request),
            "registrations": regs,
            "positions": {a: p[0] for a, p in state.positions.items()},
        }
    )


def add_admin_routes(app: web.Application, wrap: Any) -> None:
    p = choices.SANDBOX_ADMIN_PREFIX
    app.router.add_post(f"{p}/login/approve", wrap(approve_login))
    app.router.add_post(f"{p}/toggles", wrap(set_toggles))
    app.router.add_post(f"{p}/registrations/revoke", wrap(revoke))
    app.router.add_post(f"{p}/login/approve-alert", wrap(approve_alerts))
    app.router.add_post(f"{p}/clock", wrap(set_clock))
    app.router.add_post(f"{p}/throttle", wrap(throttle))
    app.router.add_post(f"{p}/faults", wrap(faults))
    app.router.add_post(f"{p}/access-tokens/expire", wrap(expire_tokens))
    app.router.add_get(f"{p}/state", wrap(summary))
