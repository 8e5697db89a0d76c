"""Fixtures for the Audible sandbox/client tests: the sandbox on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from daemon.clock import SystemClock
from daemon.sandbox.audible import AudibleSandboxSettings, setup_audible


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
