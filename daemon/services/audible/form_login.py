"""Headless form login (spec/audible.md §3.3): every sign-in step through callbacks.

Not the daemon's normal path (that is the external PKCE login in a browser), but the
terminal and LAN sign-in for people without a browser at hand, and the way the sandbox
pages are exercised. It keys on the documented form names/ids and answers each step
through a callback of one shape — `f(...) -> str | Awaitable[str]`:

- CAPTCHA: `captcha_callback(image_url)` → the characters;
- MFA device choice: `mfa_choice_callback(labels)` → one label (or its 1-based number);
- one-time code: `otp_callback()` → the code;
- verification code by email/SMS (CVF): `cvf_callback()` → the code;
- approval alert: `approval_callback()` is told once ("approve on your phone"), then the
  page is polled every `approval_poll_seconds` until approved or `approval_timeout`.

Terminal prompts are the defaults. It ends when a redirect carries
`openid.oa2.authorization_code`. The password never leaves the request body; `metadata1`
carries a browser fingerprint (metadata1.py) so the pages ask for fewer CAPTCHAs.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from daemon.contracts import audible as c
from daemon.core.errors import AuthError, ProtocolError
from daemon.core.redact import Secret, redact
from daemon.services.audible import policy
from daemon.services.http import HttpClient

from . import metadata1, transport
from .form_pages import SignInPage, hidden_fields
from .locales import Endpoints, Locale
from .login import LoginResult, extract_authorization_code, init_cookies, start_external_login

CaptchaCallback = Callable[[str], "str | Awaitable[str]"]
OtpCallback = Callable[[], "str | Awaitable[str]"]
CvfCallback = Callable[[], "str | Awaitable[str]"]
MfaChoiceCallback = Callable[[Sequence[str]], "str | Awaitable[str]"]
ApprovalCallback = Callable[[], "Awaitable[None] | None"]

_MAX_STEPS = 12


async def _ask(text: str) -> str:
    return (await asyncio.to_thread(input, text)).strip()


async def prompt_captcha(image_url: str) -> str:
    """Default CAPTCHA callback: show the image address, read the answer from the terminal."""
    print(
        f"Amazon asks for a CAPTCHA. Open this image and type the characters:\n  {image_url}",
        file=sys.stderr,
    )
    return (await _ask("CAPTCHA: ")).lower()


async def prompt_otp() -> str:
    """Default OTP callback: read the one-time code from the terminal."""
    return await _ask("One-time code (authenticator app or text message): ")


async def prompt_cvf() -> str:
    """Default CVF callback: the code Amazon just sent by email or text message."""
    return await _ask("Amazon sent a verification code by email or text message. Code: ")


async def prompt_mfa_choice(labels: Sequence[str]) -> str:
    """Default device choice: a numbered list, read a number."""
    print("Where should Amazon send the one-time code?", file=sys.stderr)
    for n, label in enumerate(labels, 1):
        print(f"  {n}. {label}", file=sys.stderr)
    return await _ask("Number: ")


def prompt_approval() -> None:
    """Default approval callback: say what to do; the login then waits."""
    print(
        "Amazon sent a sign-in notification: approve it on your phone. Waiting…",
        file=sys.stderr,
    )


async def _call(callback: Callable[..., Any], *args: Any) -> str:
    result = callback(*args)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, str):
        raise AuthError("the sign-in prompt returned no text")
    return result


def _choose(answer: str, labels: Sequence[str]) -> int:
    text = answer.strip()
    if text.isdigit() and 1 <= int(text) <= len(labels):
        return int(text) - 1
    for i, label in enumerate(labels):
        if text and text.lower() == label.lower():
            return i
    raise AuthError(f"{text!r} is none of the offered devices; give a number 1-{len(labels)}")


def _step_error(what: str, page: SignInPage) -> AuthError:
    return AuthError(f"{what}: " + redact(" ".join(page.errors))[:200])


async def form_login(
    http: HttpClient,
    locale: Locale,
    endpoints: Endpoints,
    email: str,
    password: Secret,
    *,
    captcha_callback: CaptchaCallback | None = None,
    otp_callback: OtpCallback | None = None,
    cvf_callback: CvfCallback | None = None,
    mfa_choice_callback: MfaChoiceCallback | None = None,
    approval_callback: ApprovalCallback | None = None,
    approval_poll_seconds: float = 3.0,
    approval_timeout: float = 180.0,
    serial: str | None = None,
    with_username: bool = False,
) -> LoginResult:
    """Sign in through the HTML pages; returns the code + verifier for `/auth/register`.
    `with_username`: a pre-Amazon account, signed in on `www.audible.{tld}`."""
    pending = start_external_login(
        locale, endpoints, serial=serial, with_username=with_username
    )
    www, host = endpoints.www_base(locale, with_username=with_username)
    cookies = init_cookies()
    base_headers = {**host, "User-Agent": policy.LOGIN_USER_AGENT, "Accept-Language": "en-US"}
    method, url, body = "GET", pending.signin_url, b""
    sent_credentials = sent_otp = sent_cvf = False
    approval_deadline: float | None = None
    steps = 0
    while steps < _MAX_STEPS:
        headers = {**base_headers, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await transport.send(
            http, method, url, headers=headers, body=body if method == "POST" else None
        )
        for raw in response.headers.getall("Set-Cookie", []):
            try:
                jar: SimpleCookie = SimpleCookie(raw)
            except CookieError:
                continue
            cookies.update({k: m.value for k, m in jar.items()})
        location = response.headers.get("Location", "")
        if response.status in (301, 302, 303, 307) and location:
            target = urljoin(url, location)
            if policy.AUTH_CODE_PARAMS[0] in target:
                return pending.complete(target)
            method, url, body = "GET", _local(target, www), b""
            steps += 1
            continue
        if response.status >= 500:
            raise ProtocolError("Amazon sign-in page failed", status=response.status)
        page = SignInPage()
        page.feed(response.body.decode("utf-8", "replace"))
        if page.is_approval:
            now = time.monotonic()
            if approval_deadline is None:
                if approval_callback is None:
                    prompt_approval()
                else:
                    told = approval_callback()
                    if inspect.isawaitable(told):
                        await told
                approval_deadline = now + approval_timeout
            elif now >= approval_deadline:
                raise AuthError(
                    "the sign-in was not approved on the phone in time; run the sign-in"
                    " again and approve the notification"
                )
            await asyncio.sleep(approval_poll_seconds)
            method, body = "GET", b""  # re-read the same page: polls are not steps
            continue
        steps += 1
        device = page.form(id_part=(c.DEVICE_SELECT_FORM_ID,))
        mfa = page.form(id_part=(c.MFA_FORM_ID, "verification-code-form"))
        signin = page.form(name=c.SIGNIN_FORM_NAME) or (page.forms[0] if page.forms else None)
        if device is not None and page.devices:
            labels = [d.label or d.kind for d in page.devices]
            pick = page.devices[_choose(await _call(mfa_choice_callback or prompt_mfa_choice,
                                                    labels), labels)]
            fields = {**hidden_fields(device[1]), c.DEVICE_OPTION_INPUT: pick.value}
            form_attrs = device[0]
        elif mfa is not None:
            if page.errors and sent_otp:
                raise _step_error("Amazon did not accept the one-time code", page)
            code = await _call(otp_callback or prompt_otp)
            sent_otp = True
            fields = {
                **hidden_fields(mfa[1]),
                "otpCode": code,
                "mfaSubmit": "Submit",
                "rememberDevice": "false",
            }
            form_attrs = mfa[0]
        elif page.is_cvf and page.forms:
            form_attrs, inputs = page.forms[0]
            if page.errors and sent_cvf:
                raise _step_error("Amazon did not accept the verification code", page)
            fields = hidden_fields(inputs)
            if any(i.get("name") == "code" for i in inputs):
                fields.update(action="code", code=await _call(cvf_callback or prompt_cvf))
                sent_cvf = True
            # else: posting the page as it is makes Amazon send the code.
        elif signin is not None:
            fields = {
                **hidden_fields(signin[1]),
                "email": email,
                "password": password.reveal(),
                "metadata1": metadata1.browser_metadata(policy.LOGIN_USER_AGENT, url),
            }
            if page.captcha is not None:
                answer = await _call(captcha_callback or prompt_captcha,
                                     urljoin(url, page.captcha))
                fields.update(
                    guess=answer,
                    use_image_captcha="true",
                    use_audio_captcha="false",
                    showPasswordChecked="false",
                )
            elif sent_credentials and page.errors:
                raise _step_error("Amazon sign-in failed", page)
            sent_credentials = True
            form_attrs = signin[0]
        else:
            raise AuthError(
                "Amazon showed a sign-in step speakerd does not know; use the"
                " browser sign-in: `speakerd login audible`"
            )
        method = (form_attrs.get("method") or "post").upper()
        action = _local(urljoin(url, form_attrs.get("action") or url), www)
        if method == "GET":
            url, body = f"{action}?{urlencode(fields)}", b""
        else:
            url, body = action, urlencode(fields).encode()
    raise AuthError(
        "Amazon sign-in did not finish after several steps; use the browser"
        " sign-in: `speakerd login audible`"
    )


def _local(url: str, www: str) -> str:
    """Keep following on the configured www origin (the sandbox serves every host)."""
    parts = urlsplit(url)
    base = urlsplit(www)
    if parts.netloc == base.netloc:
        return url
    if parts.hostname and parts.hostname.startswith(("www.amazon.", "www.audible.")):
        return f"{www}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return url


__all__ = [
    "ApprovalCallback",
    "CaptchaCallback",
    "CvfCallback",
    "MfaChoiceCallback",
    "OtpCallback",
    "extract_authorization_code",
    "form_login",
    "prompt_approval",
    "prompt_captcha",
    "prompt_cvf",
    "prompt_mfa_choice",
    "prompt_otp",
]
