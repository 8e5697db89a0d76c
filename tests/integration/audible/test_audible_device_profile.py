"""Every request names the same current device profile; signatures carry fractions.

A recording `HttpClient` keeps what the client sends through a whole account life
(form sign-in, register, refresh, signed API calls, deregister), and the test compares
each place the app's identity appears with the one profile in `policy`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import RecordingHttp
from audible_sandbox_helpers import OffsetClock, register, sign

from daemon.core.redact import Secret
from daemon.services.audible import AudibleClient, Endpoints, form_login, get_locale, policy

LIB = "/1.0/library"
_STAMP = re.compile(r":\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
async def rec() -> AsyncIterator[RecordingHttp]:
    client = RecordingHttp()
    await client.start()
    try:
        yield client
    finally:
        await client.aclose()


async def test_all_requests_carry_one_profile(
    sandbox: TestServer, rec: RecordingHttp, client_clock: OffsetClock
) -> None:
    base = str(sandbox.make_url("")).rstrip("/")
    endpoints = Endpoints.sandbox(base)
    login = await form_login(
        rec, get_locale("us"), endpoints, "listener@example.com", Secret("sandbox-password")
    )
    client = await AudibleClient.register(login, http=rec, clock=client_clock, endpoints=endpoints)
    await client.library_page()
    await client.refresh_access_token()
    await client.deregister()

    seen = {"signin": 0, "register": 0, "token": 0, "signed": 0}
    for _method, url, headers, body in rec.sent:
        path = url[len(base) :].split("?", 1)[0]
        if path.startswith("/ap/signin"):
            seen["signin"] += 1
            assert headers["User-Agent"] == policy.LOGIN_USER_AGENT
            cookies = dict(p.split("=", 1) for p in headers["Cookie"].split("; "))
            md = json.loads(base64.b64decode(cookies["map-md"]))
            assert md["app_identifier"] == {
                "app_version": policy.APP_VERSION,
                "bundle_id": policy.BUNDLE_ID,
            }
            assert md["device_registration_data"] == {
                "software_version": policy.SOFTWARE_VERSION
            }
        elif path == "/auth/register":
            seen["register"] += 1
            data = json.loads(body)["registration_data"]
            assert {k: data[k] for k in ("app_version", "os_version", "software_version")} == {
                "app_version": policy.APP_VERSION,
                "os_version": policy.OS_VERSION,
                "software_version": policy.SOFTWARE_VERSION,
            }
            assert data["device_type"] == policy.DEVICE_TYPE
            assert data["app_name"] == policy.APP_NAME
            assert data["device_model"] == policy.DEVICE_MODEL
        elif path == "/auth/token":
            seen["token"] += 1
            form = body if isinstance(body, dict) else dict(parse_qsl(body.decode()))
            assert form["app_version"] == policy.APP_VERSION
            assert form["app_name"] == policy.APP_NAME
        elif path.startswith("/1.0/"):
            seen["signed"] += 1
            assert _STAMP.search(headers["x-adp-signature"]), headers["x-adp-signature"]
    assert all(seen.values()), seen
    # The profile is today's app, not the 2021 one (3.56.2 / iOS 15).
    assert tuple(int(x) for x in policy.APP_VERSION.split(".")) >= (4, 60)
    assert int(policy.OS_VERSION.split(".")[0]) >= 26


@pytest.mark.parametrize("seconds", [-905.25, 905.25])
async def test_sandbox_window_both_ways_with_fractions(
    sandbox: TestServer, seconds: float
) -> None:
    base = str(sandbox.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        reg = await register(http, base)
        for offset, status in ((seconds, 403), (seconds * 0.98, 200)):
            when = datetime.now(UTC) + timedelta(seconds=offset)
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            async with http.get(base + LIB, headers=sign(reg, "GET", LIB, stamp=stamp)) as r:
                assert r.status == status, (offset, await r.text())
