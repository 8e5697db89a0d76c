"""Legacy headless form login (spec/audible.md §3.3) with CAPTCHA and OTP callbacks.

Not the daemon's normal path (that is the external PKCE login), but kept for a terminal
fallback and to exercise the sandbox pages. It keys on the documented form names/ids,
answers CAPTCHA and OTP steps through callbacks (terminal prompts by default) and ends
when a redirect carries `openid.oa2.authorization_code`. The password never leaves the
request body.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from daemon.contracts import audible as c
from daemon.core.errors import AuthError, ProtocolError
from daemon.core.redact import Secret, redact
from daemon.services.audible import policy
from daemon.services.http import HttpClient

from . import transport
from .locales import Endpoints, Locale
from .login import LoginResult, extract_authorization_code, init_cookies, start_external_login

CaptchaCallback = Callable[[str], "str | Awaitable[str]"]
OtpCallback = Callable[[], "str | Awaitable[str]"]

_MAX_STEPS = 10
_VOID = frozenset({"input", "img", "br", "hr", "meta", "link"})


async def prompt_captcha(image_url: str) -> str:
    """Default CAPTCHA callback: show the image address, read the answer from the terminal."""
    print(
        f"Amazon asks for a CAPTCHA. Open this image and type the characters:\n  {image_url}",
        file=sys.stderr,
    )
    answer = await asyncio.to_thread(input, "CAPTCHA: ")
    return answer.strip().lower()


async def prompt_otp() -> str:
    """Default OTP callback: read the one-time code from the terminal."""
    return (await asyncio.to_thread(input, "One-time code (authenticator app): ")).strip()


async def _call(callback: Callable[..., Any], *args: Any) -> str:
    result = callback(*args)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, str):
        raise AuthError("the sign-in prompt returned no text")
    return result


class _Page(HTMLParser):
    """Forms (attributes + inputs), CAPTCHA images and error-box text of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[dict[str, str], list[dict[str, str]]]] = []
        self.captcha: str | None = None
        self.errors: list[str] = []
        self._in_error = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a, []))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1].append(a)
        elif tag == "img" and "CAPTCHA" in a.get("alt", ""):
            self.captcha = a.get("src", "")
        if tag in _VOID:
            return
        is_box = a.get("id") in (
            "auth-error-message-box",
            "auth-warning-message-box",
            "ap_error_page_message",
        )
        if is_box or self._in_error:
            self._in_error += 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_error and tag not in _VOID:
            self._in_error -= 1

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.errors.append(data.strip())

    def form(
        self, *, name: str | None = None, id_part: tuple[str, ...] = ()
    ) -> tuple[dict[str, str], list[dict[str, str]]] | None:
        for attrs, inputs in self.forms:
            if name is not None and attrs.get("name") == name:
                return attrs, inputs
            if id_part and any(p in attrs.get("id", "") for p in id_part):
                return attrs, inputs
        return None


def _hidden(inputs: list[dict[str, str]]) -> dict[str, str]:
    return {i["name"]: i.get("value", "") for i in inputs if i.get("type") == "hidden"}


async def form_login(
    http: HttpClient,
    locale: Locale,
    endpoints: Endpoints,
    email: str,
    password: Secret,
    *,
    captcha_callback: CaptchaCallback | None = None,
    otp_callback: OtpCallback | None = None,
    serial: str | None = None,
    with_username: bool = False,
) -> LoginResult:
    """Sign in through the HTML pages; returns the code + verifier for `/auth/register`.
    `with_username`: a pre-Amazon account, signed in on `www.audible.{tld}`."""
    captcha_cb: CaptchaCallback = captcha_callback or prompt_captcha
    otp_cb: OtpCallback = otp_callback or prompt_otp
    pending = start_external_login(
        locale, endpoints, serial=serial, with_username=with_username
    )
    www, host = endpoints.www_base(locale, with_username=with_username)
    cookies = init_cookies()
    base_headers = {**host, "User-Agent": policy.LOGIN_USER_AGENT, "Accept-Language": "en-US"}
    method, url, body = "GET", pending.signin_url, None
    sent_credentials = sent_otp = False
    for _ in range(_MAX_STEPS):
        headers = {**base_headers, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await transport.send(http, method, url, headers=headers, body=body)
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
            method, url, body = "GET", _local(target, www), None
            continue
        if response.status >= 500:
            raise ProtocolError("Amazon sign-in page failed", status=response.status)
        page = _Page()
        page.feed(response.body.decode("utf-8", "replace"))
        mfa = page.form(id_part=(c.MFA_FORM_ID, "verification-code-form"))
        signin = page.form(name=c.SIGNIN_FORM_NAME) or (page.forms[0] if page.forms else None)
        if mfa is not None:
            if page.errors and sent_otp:
                raise AuthError(
                    "Amazon did not accept the one-time code: "
                    + redact(" ".join(page.errors))[:200]
                )
            code = await _call(otp_cb)
            sent_otp = True
            fields = {
                **_hidden(mfa[1]),
                "otpCode": code,
                "mfaSubmit": "Submit",
                "rememberDevice": "false",
            }
            form_attrs = mfa[0]
        elif signin is not None:
            fields = {
                **_hidden(signin[1]),
                "email": email,
                "password": password.reveal(),
                "metadata1": "",
            }
            if page.captcha is not None:
                answer = await _call(captcha_cb, urljoin(url, page.captcha))
                fields.update(
                    guess=answer,
                    use_image_captcha="true",
                    use_audio_captcha="false",
                    showPasswordChecked="false",
                )
            elif sent_credentials and page.errors:
                raise AuthError("Amazon sign-in failed: " + redact(" ".join(page.errors))[:200])
            sent_credentials = True
            form_attrs = signin[0]
        else:
            raise AuthError(
                "Amazon showed a sign-in step speakerd does not know; use the"
                " browser sign-in: `speakerd login audible`"
            )
        method = "POST"
        url = _local(urljoin(url, form_attrs.get("action") or url), www)
        body = urlencode(fields).encode()
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
    "CaptchaCallback",
    "OtpCallback",
    "extract_authorization_code",
    "form_login",
    "prompt_captcha",
    "prompt_otp",
]
