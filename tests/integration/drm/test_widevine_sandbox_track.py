"""Issue 6 end to end over the sandbox: a device minted by `speakerd sandbox mint-device`,
the daemon's pywidevine CDM (privacy mode, trusting the sandbox's test root), licences
through the Music licence endpoint, and the decrypted track equal to the clear reference."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

pytest.importorskip("pywidevine")

from daemon.clock import SystemClock
from daemon.commands import open_secret_store
from daemon.contracts import amazon_music as am
from daemon.drm.flow import LicenceFlow
from daemon.drm.registry import create_cdm
from daemon.drm.settings import DrmSettings
from daemon.playback.amazon import AmazonPlayback
from daemon.playback.commands import PlayKind
from daemon.playback.fetcher import FetchSettings
from daemon.playback.sinks.base import ANY_CAPS
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.media import ContentStore
from daemon.sandbox.server import Sandbox
from daemon.services.http import HttpClient
from daemon.services.lwa import LwaClient, LwaSettings
from daemon.services.music import MusicClient, MusicSettings
from tests.support.daemon_proc import spawn


def _reference_pcm(store: ContentStore, track_id: str, fmt: str) -> bytes:
    import av
    import numpy as np

    out = []
    with av.open(io.BytesIO(store.clear_reference(track_id, fmt))) as container:
        for frame in container.decode(audio=0):
            arr = frame.to_ndarray()
            out.append(np.ascontiguousarray(arr.T if frame.format.is_planar else arr).tobytes())
    return b"".join(out)


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
    cdm = create_cdm(DrmSettings(
        cdm="widevine", widevine_device=wvd, privacy_mode=True,
        service_certificate_root=content_dir / "widevine" / "root-cert.bin"), clock=clock)
    await cdm.start()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    try:
        async with HttpClient(clock=clock) as http:
            lwa = LwaClient(http=http, store=open_secret_store(state), clock=clock,
                            settings=LwaSettings(client_id=sandbox.lwa_client_id,
                                                 base_url=sandbox.base_url))
            await lwa.start()
            await lwa.link(lambda pair: None)  # the sandbox approves on the first poll
            tokens = ["STD_RES", "HI_FI"]
            music = MusicClient(http=http, auth=lwa, device_id="ab" * 16,
                                capabilities=lambda: tokens,
                                settings=MusicSettings(api_root=sandbox.base_url + "/"),
                                clock=clock)
            playback = AmazonPlayback(music=lambda: music, http=http, clock=clock,
                                      licence_flow=LicenceFlow(cdm, clock=clock),
                                      capabilities=lambda: tokens, decoders=("flac", "opus"),
                                      fetch=FetchSettings())
            (entry,) = await playback.expand(PlayKind.TRACK, "track:Carrier Wave")
            stream = await playback.open(entry, 0, ANY_CAPS)
            pcm = bytearray()
            try:
                while (chunk := await stream.read()) is not None:
                    pcm += chunk
            finally:
                await stream.aclose()
            await lwa.aclose()
        assert cdm.open_sessions == 0  # type: ignore[attr-defined]
    finally:
        await cdm.aclose()
        await sandbox.aclose()
    store = ContentStore(content_dir, catalog="small", seed=1)
    store.ensure()
    track_id = stream.info.service_id
    assert bytes(pcm) == _reference_pcm(store, track_id, "FLAC_16_44")
