"""Remote CDM against a real `pywidevine serve` subprocess holding a sandbox-minted device."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import yaml
from pywidevine.license_protocol_pb2 import SignedMessage

from daemon.drm import CdmSession, DrmSettings, LicenceFlow, create_cdm
from daemon.drm.remote import RemoteCdm
from daemon.errors import DrmError, LicenseError
from daemon.redact import Secret
from tests.integration.drm.drm_testkit import KID_A, KID_B, cancel_points, decrypt_pcm, poster
from tests.support import canary
from tests.support.clock import FakeClock

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


def _remote(url: str, secret: str = SECRET, device: str = "android", **kw: Any) -> RemoteCdm:
    settings = DrmSettings(
        cdm="remote", remote_host=url, remote_secret=Secret(secret), remote_device=device,
        privacy_mode=False, **kw,
    )  # fmt: skip
    cdm = create_cdm(settings)
    assert isinstance(cdm, RemoteCdm)
    return cdm


async def test_remote_cdm_gets_keys_that_decrypt(
    serve_url: str, licence_url: str, http: aiohttp.ClientSession, content: tuple[bytes, Any]
) -> None:
    mp4, pcm = content
    async with _remote(serve_url) as cdm:
        keys = await LicenceFlow(cdm, privacy_mode=False).acquire(
            poster(http, licence_url + "widevine"), init_segment=mp4
        )
        assert cdm.device_info == {"system_id": 4242, "security_level": 3}
        assert cdm.open_sessions == 0
    assert np.array_equal(decrypt_pcm(mp4, keys[KID_A]), pcm)


async def test_untrusted_service_certificate_via_remote(
    serve_url: str, licence_url: str, http: aiohttp.ClientSession
) -> None:
    async with _remote(serve_url) as cdm:
        cdm._privacy_mode = True  # serve's Cdm trusts only Google's root
        with pytest.raises(DrmError, match="service certificate is not trusted"):
            await LicenceFlow(cdm).acquire(
                poster(http, licence_url + "widevine"), default_kids=[KID_A]
            )
        assert cdm.open_sessions == 0


async def test_wrong_secret_is_401_and_not_retried(serve_url: str) -> None:
    cdm = _remote(serve_url, secret="wrong")
    try:
        await cdm.start()  # the ping needs no secret
        with pytest.raises(DrmError, match="401") as info:
            await cdm.open()
        assert "wrong" not in str(info.value)
        assert "attempts" not in info.value.fields
    finally:
        await cdm.aclose()


async def test_unknown_device_is_refused(serve_url: str) -> None:
    async with _remote(serve_url, device="nosuch") as cdm:
        with pytest.raises(DrmError, match="403"):
            await cdm.open()


async def test_tampered_licence_via_remote(
    serve_url: str, licence_url: str, http: aiohttp.ClientSession
) -> None:
    inner = poster(http, licence_url + "widevine")

    async def tamper(body: bytes) -> bytes:
        signed = SignedMessage.FromString(await inner(body))
        signed.signature = bytes(32)
        return signed.SerializeToString()

    async with _remote(serve_url) as cdm:
        with pytest.raises(LicenseError, match="tampered"):
            await LicenceFlow(cdm, privacy_mode=False).acquire(tamper, default_kids=[KID_A])
        assert cdm.open_sessions == 0


async def test_cdm_that_is_down_fails_after_bounded_retries() -> None:
    clock = FakeClock(auto_advance=True)
    cdm = RemoteCdm(
        f"http://127.0.0.1:{_free_port()}", Secret(SECRET), "android", retries=2, clock=clock
    )
    try:
        with pytest.raises(DrmError, match="down or unreachable") as info:
            await cdm.start()
        assert info.value.fields["attempts"] == 3
        assert len(clock.sleeps) == 2
        async with cdm:
            pass
    except DrmError:
        pass
    finally:
        await cdm.aclose()


async def test_cancelling_remote_flow_closes_remote_sessions(
    serve_url: str, licence_url: str, http: aiohttp.ClientSession
) -> None:
    async with _remote(serve_url) as cdm:
        flow = LicenceFlow(cdm, privacy_mode=False)
        post = poster(http, licence_url + "widevine")
        cancelled = 0
        for turns in cancel_points(step=3):
            task = asyncio.create_task(flow.acquire(post, default_kids=[KID_A, KID_B]))
            for _ in range(turns):
                await asyncio.sleep(0)
            if task.done():
                assert set(task.result()) == {KID_A, KID_B}
                break
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                cancelled += 1
            assert cdm.open_sessions == 0
        assert cancelled >= 3
        # The server agrees: a fresh session still opens (nothing leaked to its limit).
        async with CdmSession(cdm):
            pass
