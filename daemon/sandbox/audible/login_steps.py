"""The sign-in steps after the password (§3.3, AU-C03): MFA device choice, one-time code,
verification code by email/SMS (CVF), approval alert; plus the CAPTCHA image.

`next_step` is called with a login session whose credentials were accepted; it answers
the page of the first step still open (each toggled in `Toggles`), or the redirect to
maplanding once all are passed. Pages carry the documented ids/classes/field names.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from daemon.contracts import audible as c
from daemon.sandbox.audible import choices

from .common import read_form, state_of
from .state import AudibleState, AuthCode, LoginSession

CVF_PATH = "/ap/cvf/verify"
APPROVAL_PATH = "/ap/approval"
CAPTCHA_PATH = "/ap/captcha/{name}"


def page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
        f"<body>{body}</body></html>"
    )
    return web.Response(text=text, content_type="text/html", status=status)


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{html.escape(value)}">'


def _error(text: str | None) -> str:
    if not text:
        return ""
    return (
        f'<div id="{choices.ERROR_BOX_ID}"><ul><li><span>{html.escape(text)}</span></li>'
        "</ul></div>"
    )


def mfa_form(session_id: str, error: str | None = None) -> str:
    return (
        f'{_error(error)}<form id="{c.MFA_FORM_ID}" method="post" action="{c.SIGNIN_PATH}">'
        f'{hidden("session", session_id)}<input type="tel" name="otpCode">'
        '<input type="submit" name="mfaSubmit" value="Submit"></form>'
    )


def _device_form(session_id: str, error: str | None = None) -> str:
    options = "".join(
        f'<div data-a-input-name="{c.DEVICE_OPTION_INPUT}" class="a-radio {cls}"><label>'
        f'<input type="radio" name="{c.DEVICE_OPTION_INPUT}" value="{value}">'
        f"<span>{html.escape(label)}</span></label></div>"
        for cls, value, label in choices.SANDBOX_MFA_DEVICES
    )
    return (
        f'{_error(error)}<form id="{c.DEVICE_SELECT_FORM_ID}" method="post" '
        f'action="{c.SIGNIN_PATH}">{hidden("session", session_id)}{options}'
        '<input type="submit" id="auth-send-code" value="Send code"></form>'
    )


def _cvf_page(session_id: str, *, sent: bool, error: str | None = None) -> str:
    if not sent:
        form = (
            f'<form method="post" action="{CVF_PATH}">{hidden("session", session_id)}'
            '<span>To continue, we will send a verification code to your email.</span>'
            '<input type="submit" value="Send code"></form>'
        )
    else:
        form = (
            f'<form method="post" action="{CVF_PATH}">{hidden("session", session_id)}'
            f'{hidden("action", "code")}<input type="text" name="code">'
            '<input type="submit" value="Verify"></form>'
        )
    return f'{_error(error)}<div id="{c.CVF_CONTAINER_ID}">{form}</div>'


def _approval_page(session_id: str) -> str:
    return (
        f'<form id="{c.APPROVAL_FORM_IDS[1]}" method="get" action="{APPROVAL_PATH}">'
        f'{hidden("session", session_id)}<span class="{c.APPROVAL_WAIT_CLASS}">'
        "Approve the notification sent to your phone to continue.</span>"
        '<input type="submit" value="Resend"></form>'
    )


def finish_login(state: AudibleState, session: LoginSession) -> str:
    """Issue a single-use code; return the maplanding target (path + query, local host)."""
    code = secrets.token_urlsafe(18)
    state.codes[code] = AuthCode(
        session.challenge,
        session.client_id,
        state.now() + state.settings.auth_code_ttl,
        session.pool,
    )
    lap = "lap_" if session.pool == c.ACCOUNT_POOL_AUDIBLE else ""
    params = {
        "openid.oa2.authorization_code": code,
        "openid.mode": "id_res",
        "openid.assoc_handle": f"amzn_audible_ios_{lap}{session.country_code}",
        "openid.return_to": session.return_to,
    }
    return f"{c.MAPLANDING_PATH}?{urlencode(params)}"


def next_step(state: AudibleState, session_id: str, session: LoginSession) -> web.Response:
    """The page of the first open step, or the maplanding redirect (raises HTTPFound)."""
    t = state.toggles
    if t.mfa_choice and session.device_chosen is None:
        return page("Two-Step Verification", _device_form(session_id))
    if (t.otp or t.mfa_choice) and not session.otp_passed:
        return page("Two-Step Verification", mfa_form(session_id))
    if t.cvf and not session.cvf_passed:
        return page("Verify it's you", _cvf_page(session_id, sent=session.cvf_sent_at is not None))
    if t.approval and not session.approved:
        raise web.HTTPFound(f"{APPROVAL_PATH}?session={session_id}")
    del state.login_sessions[session_id]
    raise web.HTTPFound(finish_login(state, session))


def mfa_post(
    state: AudibleState, session_id: str, session: LoginSession, form: dict[str, str]
) -> web.Response:
    """A post to /ap/signin after the password: device choice or one-time code."""
    t = state.toggles
    if t.mfa_choice and session.device_chosen is None:
        chosen = form.get(c.DEVICE_OPTION_INPUT, "")
        if chosen not in {v for _c, v, _l in choices.SANDBOX_MFA_DEVICES}:
            return page("Two-Step Verification", _device_form(session_id, "Choose a device"))
        session.device_chosen = chosen
    elif (t.otp or t.mfa_choice) and not session.otp_passed:
        code = form.get("otpCode")
        if code is not None and code.strip() != choices.SANDBOX_OTP_CODE:
            return page("Two-Step Verification", mfa_form(session_id, "The code is invalid"))
        if code is not None:
            session.otp_passed = True
    return next_step(state, session_id, session)


async def cvf_post(request: web.Request) -> web.Response:
    state = state_of(request)
    form = await read_form(request)
    session_id = form.get("session", "")
    session = state.login_sessions.get(session_id)
    if session is None or not session.authenticated:
        return page("Error", '<div id="ap_error_page_message"><h4>Session expired</h4></div>', 400)
    if form.get("action") != "code":
        session.cvf_sent_at = state.now()  # "sends" SANDBOX_CVF_CODE
        return next_step(state, session_id, session)
    sent = session.cvf_sent_at
    if sent is None or state.now() - sent > state.settings.cvf_code_ttl:
        session.cvf_sent_at = None
        return page(
            "Verify it's you",
            _cvf_page(session_id, sent=False, error="The code has expired; request a new one"),
        )
    if form.get("code", "").strip() != choices.SANDBOX_CVF_CODE:
        return page(
            "Verify it's you", _cvf_page(session_id, sent=True, error="The code is invalid")
        )
    session.cvf_passed = True
    return next_step(state, session_id, session)


async def approval_get(request: web.Request) -> web.Response:
    state = state_of(request)
    session_id = request.query.get("session", "")
    session = state.login_sessions.get(session_id)
    if session is None or not session.authenticated:
        return page("Error", '<div id="ap_error_page_message"><h4>Session expired</h4></div>', 400)
    session.approval_polls += 1
    after = state.settings.approval_after_polls
    if after is not None and session.approval_polls > after:
        session.approved = True
    if not session.approved:
        return page("Approve the sign-in", _approval_page(session_id))
    return next_step(state, session_id, session)


def approve_alerts(state: AudibleState) -> int:
    """The scripted phone taps "Approve" on every pending alert; returns how many."""
    count = 0
    for session in state.login_sessions.values():
        if session.authenticated and not session.approved:
            session.approved = True
            count += 1
    return count


def _jpeg() -> bytes:
    import av
    import numpy as np

    ctx: Any = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 120, 40, "yuvj420p"
    ctx.time_base = Fraction(1, 25)
    rgb = np.zeros((40, 120, 3), dtype=np.uint8)
    rgb[:, ::7] = 255  # a few bars; the answer is the fixed test word anyway
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


async def captcha_image(request: web.Request) -> web.Response:
    """The CAPTCHA picture the sign-in page points at (a real JPEG)."""
    state = state_of(request)
    name = request.match_info["name"]
    if not name.endswith(".jpg") or name[:-4] not in state.login_sessions:
        return web.Response(status=404)
    image = state.other_media.get(("captcha", "jpg"))
    if image is None:
        image = await asyncio.to_thread(_jpeg)
        state.other_media[("captcha", "jpg")] = image
    return web.Response(body=image, content_type="image/jpeg")
