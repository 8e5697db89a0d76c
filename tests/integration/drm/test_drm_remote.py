"""Remote CDM against a real `pywidevine serve` subprocess holding a sandbox-minted device."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiohttp
import numpy as np
import pytest
from pywidevine.license_protocol_pb2 import SignedMessage

from daemon.core.config import DrmConfig
from daemon.core.errors import DrmError, LicenseError
from daemon.core.redact import Secret
from daemon.drm import CdmOptions, CdmSession, LicenceFlow, create_cdm
from daemon.drm.remote import RemoteCdm
from tests.integration.drm.conftest import SECRET, _free_port
from tests.integration.drm.drm_testkit import KID_A, KID_B, cancel_points, decrypt_pcm, poster
from tests.support.clock import FakeClock


def _remote(url: str, secret: str = SECRET, device: str = "android", **kw: Any) -> RemoteCdm:
    config = DrmConfig(
        cdm="remote", remote_url=url, remote_secret=Secret(secret), remote_device=device
    )
    cdm = create_cdm(config, options=CdmOptions(privacy_mode=False, **kw))
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
        return cast(bytes, signed.SerializeToString())

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
