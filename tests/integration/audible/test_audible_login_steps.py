"""Every sign-in step through the one callback interface, against the sandbox demanding it."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import base, hook
from audible_sandbox_helpers import OffsetClock

from daemon.core.errors import AuthError
from daemon.core.redact import Secret
from daemon.sandbox.audible import choices
from daemon.services.audible import AudibleClient, Endpoints, form_login, get_locale, metadata1
from daemon.services.http import HttpClient


class Phone:
    """Answers the callbacks and records what was asked."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.asked: list[str] = []
        self.device_labels: list[str] = []
        self.approve = True
        self.cvf_code = choices.SANDBOX_CVF_CODE
        self.slow = False

    def captcha(self, url: str) -> str:
        self.asked.append("captcha")
        return choices.SANDBOX_CAPTCHA_ANSWER

    def otp(self) -> str:
        self.asked.append("otp")
        return choices.SANDBOX_OTP_CODE

    async def cvf(self) -> str:
        self.asked.append("cvf")
        if self.slow:
            await hook(self.server, "clock", {"offset_seconds": 3600})
        return self.cvf_code

    def choice(self, labels: Sequence[str]) -> str:
        self.asked.append("choice")
        self.device_labels = list(labels)
        return "2"

    async def approval(self) -> None:
        self.asked.append("approval")
        if self.approve:
            await hook(self.server, "login/approve-alert", {})

    async def login(self, http: HttpClient, **kw: float) -> object:
        return await form_login(
            http, get_locale("us"), Endpoints.sandbox(base(self.server)),
            "listener@example.com", Secret("sandbox-password"),
            captcha_callback=self.captcha, otp_callback=self.otp, cvf_callback=self.cvf,
            mfa_choice_callback=self.choice, approval_callback=self.approval,
            approval_poll_seconds=kw.get("poll", 0.01), approval_timeout=kw.get("timeout", 5.0),
        )


async def test_all_steps_in_one_sign_in_then_register(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    await hook(sandbox, "toggles", {"captcha": True, "mfa_choice": True, "cvf": True,
                                    "approval": True})
    phone = Phone(sandbox)
    login = await phone.login(http)
    assert phone.asked == ["captcha", "choice", "otp", "cvf", "approval"]
    assert phone.device_labels == ["Authenticator app", "Text message to ***-***-1234"]
    client = await AudibleClient.register(
        login, http=http, clock=client_clock,  # type: ignore[arg-type]
        endpoints=Endpoints.sandbox(base(sandbox)),
    )
    assert (await client.library_page()).total_count == 3


@pytest.mark.parametrize("toggle", ["cvf", "approval", "mfa_choice", "otp", "captcha"])
async def test_each_step_alone(sandbox: TestServer, http: HttpClient, toggle: str) -> None:
    await hook(sandbox, "toggles", {toggle: True})
    phone = Phone(sandbox)
    await phone.login(http)
    expected = {"cvf": ["cvf"], "approval": ["approval"], "mfa_choice": ["choice", "otp"],
                "otp": ["otp"], "captcha": ["captcha"]}[toggle]
    assert phone.asked == expected


async def test_approval_that_never_comes_times_out(sandbox: TestServer, http: HttpClient) -> None:
    await hook(sandbox, "toggles", {"approval": True})
    phone = Phone(sandbox)
    phone.approve = False
    with pytest.raises(AuthError, match="not approved on the phone in time"):
        await phone.login(http, poll=0.01, timeout=0.1)


async def test_wrong_cvf_code_is_one_sentence(sandbox: TestServer, http: HttpClient) -> None:
    await hook(sandbox, "toggles", {"cvf": True})
    phone = Phone(sandbox)
    phone.cvf_code = "000000"
    with pytest.raises(AuthError, match="did not accept the verification code: The code is"):
        await phone.login(http)


async def test_expired_cvf_code(sandbox: TestServer, http: HttpClient) -> None:
    await hook(sandbox, "toggles", {"cvf": True})
    phone = Phone(sandbox)
    phone.slow = True  # the person types the code after it expired
    with pytest.raises(AuthError, match="The code has expired"):
        await phone.login(http)


async def test_metadata1_spares_the_captcha_and_captcha_url_is_an_image(
    sandbox: TestServer, http: HttpClient
) -> None:
    import io

    import av

    await hook(sandbox, "toggles", {"captcha_without_metadata": True})
    phone = Phone(sandbox)
    await phone.login(http)
    assert phone.asked == []  # our metadata1 is accepted
    # Without it the page shows a CAPTCHA whose URL answers a JPEG.
    async with aiohttp.ClientSession() as s:
        signin = (await _signin_url(sandbox))
        async with s.get(signin) as r:
            page = await r.text()
        session_id = page.split('name="session" value="', 1)[1].split('"', 1)[0]
        form = {"session": session_id, "email": "listener@example.com",
                "password": "sandbox-password", "metadata1": ""}
        async with s.post(base(sandbox) + "/ap/signin", data=form) as r:
            page = await r.text()
        src = page.split('src="', 1)[1].split('"', 1)[0]
        async with s.get(base(sandbox) + src) as r:
            assert r.content_type == "image/jpeg"
            jpeg = await r.read()
    with av.open(io.BytesIO(jpeg), "r") as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (120, 40)
    assert metadata1.decode("") is None


async def _signin_url(server: TestServer) -> str:
    from daemon.services.audible import start_external_login

    return start_external_login(get_locale("us"), Endpoints.sandbox(base(server))).signin_url


async def test_locked_account_is_one_sentence(sandbox: TestServer, http: HttpClient) -> None:
    await hook(sandbox, "toggles", {"locked": True})
    with pytest.raises(AuthError) as caught:
        await Phone(sandbox).login(http)
    text = str(caught.value)
    assert text.startswith("Amazon sign-in failed: ")
    assert "Your account has been locked" in text
    assert "sandbox-password" not in text
