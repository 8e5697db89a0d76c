"""The ClearKey CDM against the sandbox's ClearKey server (both written here, W3C format)."""

from __future__ import annotations

import json

import pytest

from daemon.core.errors import DrmError, LicenseError
from daemon.drm import COMMON, WIDEVINE, CdmSession, build_pssh
from daemon.drm.clearkey import ClearKeyCdm
from daemon.sandbox.licence import clearkey_response, issue_clearkey

K1, V1 = bytes(range(16)), bytes(range(16, 32))
K2, V2 = bytes(range(32, 48)), bytes(range(48, 64))


async def test_challenge_to_keys_round_trip() -> None:
    cdm = ClearKeyCdm()
    async with CdmSession(cdm) as session:
        request = await session.challenge(build_pssh(COMMON, [K1, K2]))
        assert json.loads(request)["type"] == "temporary"
        keys = await session.keys(issue_clearkey(request, {K1: V1, K2: V2, b"x" * 16: V1}))
        assert dict(keys) == {K1: V1, K2: V2}
        assert V1.hex() not in repr(keys)
        assert K1.hex() in repr(keys)
    assert cdm.open_sessions == 0


async def test_licence_without_the_kid_is_refused_and_session_closed() -> None:
    cdm = ClearKeyCdm()
    async with CdmSession(cdm) as session:
        await session.challenge(build_pssh(COMMON, [K1, K2]))
        with pytest.raises(LicenseError, match="lacks") as info:
            await session.keys(clearkey_response({K1: V1}))
    assert K2.hex() in str(info.value)
    assert cdm.open_sessions == 0


@pytest.mark.parametrize(
    "licence",
    [b"", b"nope", b'{"keys": 3}', b'{"keys": [{"kty": "oct", "kid": "AA", "k": "AA"}]}', b"[]"],
)
async def test_malformed_licences_are_licence_errors(licence: bytes) -> None:
    cdm = ClearKeyCdm()
    async with CdmSession(cdm) as session:
        await session.challenge(build_pssh(COMMON, [K1]))
        with pytest.raises(LicenseError):
            await session.keys(licence)


async def test_pssh_for_another_system_is_refused() -> None:
    cdm = ClearKeyCdm()
    async with CdmSession(cdm) as session:
        with pytest.raises(DrmError, match="another DRM system") as info:
            await session.challenge(build_pssh(WIDEVINE, [K1]))
    assert "Widevine" in str(info.value)


async def test_closed_session_is_refused() -> None:
    cdm = ClearKeyCdm()
    session = await cdm.open()
    await cdm.close(session)
    await cdm.close(session)  # idempotent
    with pytest.raises(DrmError, match="closed"):
        await cdm.challenge(session, build_pssh(COMMON, [K1]))
