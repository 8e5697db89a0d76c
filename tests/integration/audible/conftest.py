"""Fixtures for the Audible sandbox/client tests: the sandbox on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from audible_sandbox_helpers import OffsetClock

from daemon.core.clock import SystemClock
from daemon.core.retry import RetryPolicy
from daemon.sandbox.audible import AudibleSandboxSettings, setup_audible
from daemon.services.http import HttpClient
from daemon.state.secrets import SecretStore


@pytest.fixture
def sandbox_settings() -> AudibleSandboxSettings:
    return AudibleSandboxSettings(rsa_key_bits=1024, chapter_seconds=1.0)


@pytest.fixture
async def sandbox(sandbox_settings: AudibleSandboxSettings) -> AsyncIterator[TestServer]:
    app = web.Application()
    setup_audible(app, sandbox_settings, SystemClock(), admin_enabled=True)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def client_clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient(clock=SystemClock(), retry=RetryPolicy(max_attempts=1))
    await client.start()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore.open(tmp_path / "secrets", key_file=tmp_path / "device.key")
