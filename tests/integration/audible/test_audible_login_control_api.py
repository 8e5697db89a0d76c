"""The Audible form sign-in through the control API: each step asked of the phone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import base, hook
from audible_sandbox_helpers import OffsetClock

from daemon.app.wiring_audible_signin import AudibleShelfAdapter, audible_form_signin
from daemon.control.limits import ControlLimits
from daemon.control.server import ControlServer
from daemon.core.clock import SystemClock
from daemon.core.config import ControlConfig
from daemon.core.redact import Secret
from daemon.sandbox.audible import choices
from daemon.services.audible import Endpoints, policy
from daemon.services.http import HttpClient
from daemon.state.files import ensure_private_dir
from daemon.state.secrets import SecretStore
from tests.integration.control.fakes import (
    FakeBrowser,
    FakeDevice,
    FakePlayer,
    FakeSignIn,
    insecure,
    pair_steps,
)


class Api:
    def __init__(self, server: ControlServer, session: aiohttp.ClientSession) -> None:
        self.server, self.session, self.token = server, session, ""

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"https://127.0.0.1:{self.server.https_port}/api/v1{path}"
        async with self.session.request(
            method, url, json=body, ssl=insecure(),
            headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
        ) as r:
            return r.status, await r.json()


@pytest.fixture
async def api(
    sandbox: TestServer, http: HttpClient, tmp_path: Path
) -> AsyncIterator[tuple[Api, SecretStore]]:
    state = ensure_private_dir(tmp_path / "state")
    store = SecretStore.open(state / "secrets", key_file=tmp_path / "device.key",
                             credentials_dir=tmp_path / "no-credentials")
    signin = FakeSignIn()
    steps = audible_form_signin("us", http, OffsetClock(), store,
                                lambda: Endpoints.sandbox(base(sandbox)))
    signin.audible_steps = steps  # type: ignore[attr-defined]
    browser = FakeBrowser()
    browser.audible = AudibleShelfAdapter(  # type: ignore[attr-defined]
        http, OffsetClock(), store, lambda: Endpoints.sandbox(base(sandbox))
    )
    shown: list[Secret] = []
    limits = replace(ControlLimits(bind=("127.0.0.1",), request_rate_per_second=1000,
                                   request_burst=1000, pair_rate_per_minute=600))
    server = ControlServer(state, SystemClock(), ControlConfig(port=0), model="speakerd",
                           limits=limits, store=store, player=FakePlayer(), device=FakeDevice(),
                           browser=browser, signin=signin, version="1.2.3",
                           code_display=shown.append)
    await server.start()
    session = aiohttp.ClientSession()
    client = Api(server, session)
    server.open_pairing()
    _, status, body = await pair_steps(session, f"https://127.0.0.1:{server.https_port}/api/v1",
                                       shown[-1].reveal(), "phone")
    assert status == 200, body
    client.token = body["opened"]["token"]
    try:
        yield client, store
    finally:
        await steps.aclose()
        await session.close()
        await server.aclose()


async def test_every_step_through_the_control_api(
    sandbox: TestServer, api: tuple[Api, SecretStore]
) -> None:
    client, store = api
    await hook(sandbox, "toggles", {"captcha": True, "mfa_choice": True, "cvf": True,
                                    "approval": True})
    status, step = await client.call("POST", "/signin/audible/form",
                                     {"email": "listener@example.com",
                                      "password": "sandbox-password"})
    assert status == 200, step
    assert step["step"] == "captcha"
    assert "/ap/captcha/" in step["image_url"]
    _, step = await client.call("POST", "/signin/audible/form/answer",
                                {"answer": choices.SANDBOX_CAPTCHA_ANSWER})
    assert step == {"step": "mfa_choice",
                    "options": ["Authenticator app", "Text message to ***-***-1234"]}
    _, step = await client.call("POST", "/signin/audible/form/answer", {"answer": "1"})
    assert step == {"step": "otp"}
    _, step = await client.call("POST", "/signin/audible/form/answer",
                                {"answer": choices.SANDBOX_OTP_CODE})
    assert step == {"step": "cvf"}
    _, step = await client.call("POST", "/signin/audible/form/answer",
                                {"answer": choices.SANDBOX_CVF_CODE})
    assert step["step"] == "approval"
    assert store.load(policy.SESSION_SECRET_NAME) is None
    await hook(sandbox, "login/approve-alert", {})
    for _ in range(20):
        _, step = await client.call("GET", "/signin/audible/form")
        if step["step"] != "approval":
            break
        await asyncio.sleep(0.5)
    assert step == {"step": "done"}
    assert store.load(policy.SESSION_SECRET_NAME) is not None


async def test_wrong_password_and_bad_bodies(
    sandbox: TestServer, api: tuple[Api, SecretStore]
) -> None:
    client, store = api
    status, step = await client.call("POST", "/signin/audible/form",
                                     {"email": "listener@example.com", "password": "nope"})
    assert status == 200
    assert step["step"] == "failed"
    assert step["message"].startswith("Amazon sign-in failed: ")
    assert "nope" not in str(step)
    status, body = await client.call("POST", "/signin/audible/form/answer", {"answer": "x"})
    assert status in {400, 409, 502}, body
    status, body = await client.call("POST", "/signin/audible/form", {"email": "a"})
    assert status == 400
    assert "password" in str(body)
    assert store.load(policy.SESSION_SECRET_NAME) is None


async def test_wishlist_and_search_through_the_control_api(
    sandbox: TestServer, api: tuple[Api, SecretStore]
) -> None:
    client, _store = api
    status, body = await client.call("GET", "/audible/wishlist")
    assert status == 409  # not signed in yet
    status, step = await client.call("POST", "/signin/audible/form",
                                     {"email": "listener@example.com",
                                      "password": "sandbox-password"})
    assert step == {"step": "done"}, step
    assert await client.call("POST", "/audible/wishlist", {"asin": "B0SPKRD002"}) == (
        200, {"ok": True})
    status, body = await client.call("GET", "/audible/wishlist")
    assert status == 200
    assert [p["asin"] for p in body["products"]] == ["B0SPKRD002"]
    assert await client.call("DELETE", "/audible/wishlist/B0SPKRD002") == (200, {"ok": True})
    status, body = await client.call("DELETE", "/audible/wishlist/B0SPKRD002")
    assert status in {404, 502}, body
    status, body = await client.call("POST", "/audible/wishlist", {"asin": "../x"})
    assert status == 400
    from daemon.sandbox.audible.catalog import FIXTURE_TITLES

    word = FIXTURE_TITLES[0].title.split()[-1]
    status, body = await client.call("GET", f"/audible/search?q={word}")
    assert status == 200
    assert FIXTURE_TITLES[0].asin in {p["asin"] for p in body["products"]}
