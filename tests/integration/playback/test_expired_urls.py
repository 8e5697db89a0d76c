"""Signed segment URLs that expire mid-track (AM-C23) are renewed from a fresh manifest
while the buffer plays, so the listener hears every sample once, in order."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from daemon.contracts import amazon_music as am
from daemon.core.clock import SystemClock
from daemon.drm.clearkey import ClearKeyCdm
from daemon.playback.commands import PlayKind
from daemon.playback.fetcher import FetchSettings
from daemon.playback.sinks.base import ANY_CAPS
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.server import Sandbox
from tests.support.music_stack import amazon_playback, reference_pcm


async def test_expired_segment_urls_are_renewed_without_a_gap(
        tmp_path: Path, content_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    sandbox = Sandbox(SandboxConfig(data_dir=content_dir, catalog="small", seed=1,
                                    admin_enabled=True,
                                    licence_backend=am.LicenceBackend.CLEARKEY), SystemClock())
    await sandbox.start()
    pcm = bytearray()
    try:
        async with amazon_playback(sandbox, tmp_path / "state", ClearKeyCdm(),
                                   fetch=FetchSettings(buffer_seconds=10.0)) as playback:
            (entry,) = await playback.resolve(PlayKind.TRACK, "track:Carrier Wave")
            stream = await playback.open(entry, 0, ANY_CAPS)
            try:
                chunk = await stream.read()
                assert chunk
                pcm += chunk
                async with aiohttp.ClientSession() as admin:
                    url = sandbox.base_url + "/_sandbox/music/expire-manifests"
                    async with admin.post(url) as resp:
                        assert resp.status == 200
                with caplog.at_level(logging.INFO, logger="daemon.playback"):
                    while (chunk := await stream.read()) is not None:
                        pcm += chunk
            finally:
                await stream.aclose()
    finally:
        await sandbox.aclose()
    assert any("fetch.urls_expired" in r.getMessage() for r in caplog.records)
    assert bytes(pcm) == reference_pcm(content_dir, stream.info.service_id, "FLAC_16_44")
