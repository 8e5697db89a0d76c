"""Widevine end to end over the sandbox: a device minted by `speakerd sandbox mint-device`,
the daemon's pywidevine CDM (privacy mode, trusting the sandbox's test root), licences
through the Music licence endpoint, and the decrypted track equal to the clear reference;
then the same through `pywidevine serve` (a subprocess) with the remote CDM."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pywidevine")

from daemon.contracts import amazon_music as am
from daemon.core.clock import SystemClock
from daemon.core.config import DrmConfig
from daemon.drm.registry import CdmOptions, create_cdm
from daemon.playback.commands import PlayKind
from daemon.playback.sinks.base import ANY_CAPS
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.server import Sandbox
from tests.support.daemon_proc import spawn
from tests.support.music_stack import amazon_playback, reference_pcm


async def _play_track(sandbox: Sandbox, cdm: Any, state: Path) -> tuple[bytes, str]:
    """Sign in, open "Carrier Wave" through the CDM, and read all of its PCM."""
    pcm = bytearray()
    try:
        async with amazon_playback(sandbox, state, cdm) as playback:
            (entry,) = await playback.resolve(PlayKind.TRACK, "track:Carrier Wave")
            stream = await playback.open(entry, 0, ANY_CAPS)
            try:
                while (chunk := await stream.read()) is not None:
                    pcm += chunk
            finally:
                await stream.aclose()
        assert cdm.open_sessions == 0
    finally:
        await cdm.aclose()
        await sandbox.aclose()
    return bytes(pcm), stream.info.service_id


async def test_minted_device_plays_the_sandbox_track(tmp_path: Path, content_dir: Path) -> None:
    wvd = tmp_path / "device.wvd"
    mint = spawn(["sandbox", "mint-device", "--data-dir", str(content_dir), str(wvd)], env={})
    _, err = mint.communicate(timeout=120)
    assert mint.returncode == 0, err
    assert stat.S_IMODE(wvd.stat().st_mode) == 0o600

    clock = SystemClock()
    sandbox = Sandbox(SandboxConfig(data_dir=content_dir, catalog="small", seed=1,
                                    licence_backend=am.LicenceBackend.WIDEVINE_TEST), clock)
    await sandbox.start()
    cdm = create_cdm(DrmConfig(cdm="widevine", widevine_device=wvd), options=CdmOptions(
        privacy_mode=True,
        service_certificate_root=content_dir / "widevine" / "root-cert.bin"), clock=clock)
    await cdm.start()
    pcm, track_id = await _play_track(sandbox, cdm, tmp_path / "state")
    assert pcm == reference_pcm(content_dir, track_id, "FLAC_16_44")


async def test_remote_cdm_through_pywidevine_serve_plays_the_sandbox_track(
        tmp_path: Path, sandbox_dir: Path, serve_url: str) -> None:
    from daemon.core.redact import Secret
    from tests.integration.drm.conftest import SECRET

    # `serve_url` holds a device minted under the test root in `sandbox_dir`; a sandbox on
    # that directory issues licences that device's certificate chains to.
    clock = SystemClock()
    sandbox = Sandbox(SandboxConfig(data_dir=sandbox_dir, catalog="small", seed=1,
                                    licence_backend=am.LicenceBackend.WIDEVINE_TEST), clock)
    await sandbox.start()
    cdm = create_cdm(DrmConfig(cdm="remote", remote_url=serve_url,
                               remote_secret=Secret(SECRET), remote_device="android"),
                     options=CdmOptions(privacy_mode=False), clock=clock)
    await cdm.start()
    pcm, track_id = await _play_track(sandbox, cdm, tmp_path / "state")
    assert pcm == reference_pcm(sandbox_dir, track_id, "FLAC_16_44")
