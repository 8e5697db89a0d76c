"""Fixtures for the DRM integration tests: a sandbox Widevine server and minted devices."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("pywidevine")

from daemon.sandbox.licence import WidevineLicenceServer
from tests.integration.drm.drm_testkit import (
    KEY_A,
    KEY_B,
    KID_A,
    KID_B,
    encrypted_flac_fmp4,
    licence_app,
    tone,
)


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sandbox-data")
    os.chmod(path, 0o700)
    return path


@pytest.fixture(scope="session")
def licence_server(sandbox_dir: Path) -> WidevineLicenceServer:
    return WidevineLicenceServer(sandbox_dir)


@pytest.fixture(scope="session")
def android_wvd(licence_server: WidevineLicenceServer, sandbox_dir: Path) -> Path:
    out = sandbox_dir / "android.wvd"
    licence_server.mint_device(out, "ANDROID")
    return out


@pytest.fixture(scope="session")
def chrome_wvd(licence_server: WidevineLicenceServer, sandbox_dir: Path) -> Path:
    out = sandbox_dir / "chrome.wvd"
    licence_server.mint_device(out, "CHROME")
    return out


@pytest.fixture
def content_keys() -> dict[bytes, bytes]:
    return {KID_A: KEY_A, KID_B: KEY_B}


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[WidevineLicenceServer]:
    """A server with its own root, for tests that change state (revocation)."""
    os.chmod(tmp_path, 0o700)
    return WidevineLicenceServer(tmp_path, key_bits=1024)


@pytest.fixture(scope="session")
def content() -> tuple[bytes, object]:
    """(encrypted fMP4 with a Widevine pssh in moov, source PCM) under KID_A/KEY_A."""
    pcm = tone(1.0)
    return encrypted_flac_fmp4(pcm, KID_A, KEY_A), pcm


@pytest.fixture
async def licence_url(
    aiohttp_server: Any, licence_server: WidevineLicenceServer, content_keys: dict[bytes, bytes]
) -> str:
    srv = await aiohttp_server(licence_app(licence_server, content_keys))
    return str(srv.make_url("/"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
