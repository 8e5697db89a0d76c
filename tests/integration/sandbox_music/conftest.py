"""Fixtures: a sandbox on 127.0.0.1 port 0 and a PLAIN aiohttp client (no daemon clients)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.server import Sandbox

MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture(scope="session")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One content cache for the whole session: generation happens once."""
    path = tmp_path_factory.mktemp("sandbox-music-data")
    os.chmod(path, 0o700)
    return path


@pytest.fixture
async def make_sandbox(content_dir: Path) -> AsyncIterator[MakeSandbox]:
    started: list[Sandbox] = []

    async def make(**overrides: Any) -> Sandbox:
        base = SandboxConfig(port=0, data_dir=content_dir, catalog="small", admin_enabled=True,
                             auto_approve=False, interval_s=1, seed=7)
        sandbox = Sandbox(replace(base, **overrides))
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        await sandbox.aclose()


@pytest.fixture
async def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    return await make_sandbox()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
