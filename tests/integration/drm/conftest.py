"""Fixtures for the DRM integration tests: a sandbox Widevine server and minted devices."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

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
from tests.support import canary


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
def fresh_server(tmp_path: Path) -> WidevineLicenceServer:
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


SECRET = canary.REMOTE_SECRET  # the suite fails if it ever reaches a log record


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def serve_url(android_wvd: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pywidevine serve` on a loopback port with the minted device named `android`."""
    workdir = tmp_path_factory.mktemp("serve")
    config = workdir / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "devices": [str(android_wvd)],
                "users": {SECRET: {"username": "speaker", "devices": [android_wvd.stem]}},
                "force_privacy_mode": False,
            }
        )
    )
    os.chmod(config, 0o600)
    # Its log goes to a file: a pipe nobody reads fills up and blocks the server.
    log = (workdir / "serve.log").open("wb")
    for _ in range(5):  # the port is free when chosen; another process may still take it
        port = _free_port()
        proc = subprocess.Popen(
            [_pywidevine_cli(), "serve", str(config), "-h", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        if _wait_ready(proc, url):
            break
        proc.kill()
        proc.wait()
    else:
        log.close()
        pytest.fail("pywidevine serve did not start")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def _pywidevine_cli() -> str:
    beside = Path(sys.executable).parent / "pywidevine"
    found = str(beside) if beside.exists() else shutil.which("pywidevine")
    if found is None:
        pytest.skip("the pywidevine command is not installed")
    return found


def _wait_ready(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False
