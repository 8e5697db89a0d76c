"""Local Widevine CDM (real pywidevine) against the sandbox licence server; keys decrypt."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, cast

import aiohttp
import numpy as np
import pytest
from pywidevine.license_protocol_pb2 import LicenseRequest, SignedMessage

from daemon.core.errors import DrmError, LicenseError
from daemon.drm import COMMON, WIDEVINE, CdmSession, LicenceFlow, LicenseDenied, build_pssh
from daemon.drm.widevine import MAX_SESSIONS, WidevineCdm
from daemon.sandbox.licence import WidevineLicenceServer
from tests.integration.drm.drm_testkit import (
    KEY_A,
    KID_A,
    KID_B,
    cancel_points,
    decrypt_pcm,
    poster,
)


def _pywidevine_sessions(cdm: WidevineCdm) -> int:
    inner: Any = cdm._cdm  # the real pywidevine Cdm: nothing may stay open inside it
    return len(inner._Cdm__sessions)


async def test_keys_from_sandbox_decrypt_the_content(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession, content: tuple[bytes, Any]
) -> None:
    mp4, pcm = content
    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    await cdm.start()
    keys = await LicenceFlow(cdm, privacy_mode=False).acquire(
        poster(http, licence_url + "widevine"), init_segment=mp4
    )
    assert set(keys) == {KID_A}
    assert np.array_equal(decrypt_pcm(mp4, keys[KID_A]), pcm)
    assert cdm.open_sessions == 0
    assert _pywidevine_sessions(cdm) == 0
    await cdm.aclose()


async def test_privacy_mode_with_the_sandbox_root(
    android_wvd: Path,
    licence_server: WidevineLicenceServer,
    licence_url: str,
    http: aiohttp.ClientSession,
    content: tuple[bytes, Any],
    sandbox_dir: Path,
) -> None:
    mp4, pcm = content
    seen: list[bytes] = []
    inner = poster(http, licence_url + "widevine")

    async def post(body: bytes) -> bytes:
        seen.append(body)
        return await inner(body)

    root_file = sandbox_dir / "widevine" / "root-cert.bin"  # written by the sandbox
    assert root_file.read_bytes() == licence_server.root_certificate()
    cdm = WidevineCdm(android_wvd, service_certificate_root=root_file)
    keys = await LicenceFlow(cdm).acquire(post, init_segment=mp4, default_kids=[KID_A])
    assert np.array_equal(decrypt_pcm(mp4, keys[KID_A]), pcm)
    assert seen[0] == b"\x08\x04"
    request = LicenseRequest.FromString(SignedMessage.FromString(seen[1]).msg)
    assert request.HasField("encrypted_client_id")
    assert not request.HasField("client_id")


async def test_untrusted_service_certificate_is_a_clear_error(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession, content: tuple[bytes, Any]
) -> None:
    cdm = WidevineCdm(android_wvd)  # Google's root: the sandbox certificate does not verify
    with pytest.raises(DrmError, match="not signed by a trusted root"):
        await LicenceFlow(cdm).acquire(
            poster(http, licence_url + "widevine"), init_segment=content[0]
        )
    assert cdm.open_sessions == 0
    assert _pywidevine_sessions(cdm) == 0


async def test_tampered_licence_is_refused(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession
) -> None:
    inner = poster(http, licence_url + "widevine")

    async def tamper(body: bytes) -> bytes:
        signed = SignedMessage.FromString(await inner(body))
        signed.msg = signed.msg[:-1] + bytes([signed.msg[-1] ^ 0x01])
        return cast(bytes, signed.SerializeToString())

    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    with pytest.raises(LicenseError, match="signature does not match"):
        await LicenceFlow(cdm, privacy_mode=False).acquire(tamper, default_kids=[KID_A])
    assert _pywidevine_sessions(cdm) == 0


async def test_licence_made_for_another_device_is_refused(
    android_wvd: Path, chrome_wvd: Path, licence_url: str, http: aiohttp.ClientSession
) -> None:
    inner = poster(http, licence_url + "widevine")
    other = WidevineCdm(chrome_wvd, privacy_mode=False)

    async def foreign(body: bytes) -> bytes:
        # Answer with a valid licence, but one made for the other device's challenge.
        async with CdmSession(other) as session:
            return await inner(await session.challenge(build_pssh(WIDEVINE, [KID_A])))

    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    with pytest.raises(LicenseError, match="another session or device"):
        await LicenceFlow(cdm, privacy_mode=False).acquire(foreign, default_kids=[KID_A])
    assert cdm.open_sessions == 0
    assert other.open_sessions == 0


async def test_licence_for_another_session_of_the_same_device_is_refused(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession
) -> None:
    post = poster(http, licence_url + "widevine")
    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    pssh = build_pssh(WIDEVINE, [KID_A])
    async with CdmSession(cdm) as first, CdmSession(cdm) as second:
        await second.challenge(pssh)
        licence = await post(await first.challenge(pssh))
        with pytest.raises(LicenseError, match="another session or device"):
            await second.keys(licence)
        assert KID_A in await first.keys(licence)
    assert cdm.open_sessions == 0
    assert _pywidevine_sessions(cdm) == 0


async def test_revoked_device_gets_the_denial_reason(
    aiohttp_server: Any, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    from tests.integration.drm.drm_testkit import licence_app

    os.chmod(tmp_path, 0o700)
    server = WidevineLicenceServer(tmp_path, key_bits=1024)
    wvd = tmp_path / "revoked.wvd"
    server.mint_device(wvd, key_bits=1024)
    server.revoke(wvd)
    srv = await aiohttp_server(licence_app(server, {KID_A: KEY_A}))
    cdm = WidevineCdm(wvd, privacy_mode=False)
    with pytest.raises(LicenseDenied) as info:
        await LicenceFlow(cdm, privacy_mode=False).acquire(
            poster(http, str(srv.make_url("/widevine"))), default_kids=[KID_A]
        )
    assert info.value.reason == "VMP_VALIDATION_FAILED"
    assert cdm.open_sessions == 0


async def test_kid_the_service_does_not_grant_is_not_entitled(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession
) -> None:
    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    unknown = bytes(16)
    with pytest.raises(LicenseDenied) as info:
        await LicenceFlow(cdm, privacy_mode=False).acquire(
            poster(http, licence_url + "widevine"), default_kids=[unknown]
        )
    assert info.value.reason == "NOT_ENTITLED"


async def test_foreign_pssh_and_session_limit(android_wvd: Path) -> None:
    cdm = WidevineCdm(android_wvd)
    async with CdmSession(cdm) as session:
        with pytest.raises(DrmError, match="another DRM system"):
            await session.challenge(build_pssh(COMMON, [KID_A]))
    sessions = [await cdm.open() for _ in range(MAX_SESSIONS)]
    with pytest.raises(DrmError, match="too many Widevine sessions"):
        await cdm.open()
    await cdm.close(sessions[0])
    await cdm.close(await cdm.open())
    await cdm.aclose()
    assert cdm.open_sessions == 0
    assert _pywidevine_sessions(cdm) == 0


async def test_cancelling_anywhere_leaves_no_session_open(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession
) -> None:
    """Cancel the real flow after 0, 1, 2, ... loop turns until it completes uncancelled."""
    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    await cdm.start()
    flow = LicenceFlow(cdm, privacy_mode=False)
    post = poster(http, licence_url + "widevine")
    cancelled_at = []
    for turns in cancel_points():
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
            cancelled_at.append(turns)
        assert cdm.open_sessions == 0
        assert _pywidevine_sessions(cdm) == 0
    print(f"cancelled at {len(cancelled_at)} distinct points, completed after {turns} turns")
    assert len(cancelled_at) >= 3


async def test_licence_without_a_needed_kid_is_refused(
    android_wvd: Path, licence_url: str, http: aiohttp.ClientSession
) -> None:
    import base64

    cdm = WidevineCdm(android_wvd, privacy_mode=False)
    only_a = base64.b64encode(build_pssh(WIDEVINE, [KID_A])).decode()
    with pytest.raises(LicenseError, match="lacks a needed key") as info:
        await LicenceFlow(cdm, privacy_mode=False).acquire(
            poster(http, licence_url + "widevine"), mpd_pssh=[only_a], default_kids=[KID_A, KID_B]
        )
    assert KID_B.hex() in str(info.value)
    assert KEY_A.hex() not in str(info.value)
    assert cdm.open_sessions == 0
