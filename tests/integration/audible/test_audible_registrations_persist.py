"""Sandbox device registrations outlive a restart (file 0600 in a 0700 directory)."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from audible_sandbox_helpers import OffsetClock

from daemon.core.clock import SystemClock
from daemon.core.errors import AuthError
from daemon.sandbox.audible import AudibleSandboxSettings, setup_audible
from daemon.services.audible import AudibleClient, Endpoints, get_locale, start_external_login
from daemon.services.http import HttpClient


@asynccontextmanager
async def running(path: Path) -> AsyncIterator[TestServer]:
    app = web.Application()
    settings = AudibleSandboxSettings(rsa_key_bits=1024, registrations_path=path)
    setup_audible(app, settings, SystemClock(), admin_enabled=True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


async def _register(server: TestServer, http: HttpClient, clock: OffsetClock) -> AudibleClient:
    base = str(server.make_url("")).rstrip("/")
    pending = start_external_login(get_locale("us"), Endpoints.sandbox(base))
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{base}/_sandbox/audible/login/approve", json={"signin_url": pending.signin_url})
        as r,
    ):
        landed = (await r.json())["maplanding_url"]
    login = pending.complete(base + landed)
    return await AudibleClient.register(
        login, http=http, clock=clock, endpoints=Endpoints.sandbox(base)
    )


def _moved(client: AudibleClient, server: TestServer, http: HttpClient) -> AudibleClient:
    base = str(server.make_url("")).rstrip("/")
    return AudibleClient(
        client.session, http=http, clock=client._clock, endpoints=Endpoints.sandbox(base)
    )


async def test_registration_survives_restart_and_revocation_too(
    tmp_path: Path, http: HttpClient, client_clock: OffsetClock
) -> None:
    path = tmp_path / "sandbox" / "audible" / "registrations.json"
    async with running(path) as first:
        client = await _register(first, http, client_clock)
        items, _ = await client.library()
        assert items
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    # Only the public half of the device key is kept by the sandbox.
    assert "PRIVATE" not in path.read_text()
    assert len(saved["registrations"]) == 1

    async with running(path) as second:
        again = _moved(client, second, http)
        items, _ = await again.library()  # signed with the old registration
        assert items
        await again.refresh_access_token()  # the refresh token is still known
        await again.deregister()

    async with running(path) as third:
        gone = _moved(client, third, http)
        try:
            await gone.library()
        except AuthError:
            pass
        else:
            raise AssertionError("a deregistered device worked after a restart")


async def test_two_sandboxes_sharing_the_file_keep_both_devices(
    tmp_path: Path, http: HttpClient, client_clock: OffsetClock
) -> None:
    path = tmp_path / "regs.json"
    async with running(path) as a, running(path) as b:
        one = await _register(a, http, client_clock)
        two = await _register(b, http, client_clock)
    async with running(path) as c:
        for client in (one, two):
            items, _ = await _moved(client, c, http).library()
            assert items


async def test_damaged_file_starts_empty(
    tmp_path: Path, http: HttpClient, client_clock: OffsetClock
) -> None:
    path = tmp_path / "d" / "regs.json"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"{not json")
    async with running(path) as server:
        client = await _register(server, http, client_clock)
        assert (await client.library())[0]
    assert json.loads(path.read_text())["registrations"]
