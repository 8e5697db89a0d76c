"""What a reopen costs on the wire, counted at the daemon's HTTP client against the real
sandbox: a seek inside an open track sends no manifest, licence, definition or init
request (only the segment holding the target onwards), and playing a track again sends
only the chunk request that mints its new track instance. The audio after a seek is the
reference's, bit for bit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from daemon.contracts import amazon_music as am
from daemon.core.clock import SystemClock
from daemon.drm.clearkey import ClearKeyCdm
from daemon.playback.commands import PlayKind
from daemon.playback.sinks.base import ANY_CAPS
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.server import Sandbox
from daemon.services.http import HttpClient
from daemon.sources.amazon import AmazonPlayback
from tests.support.music_stack import amazon_playback, reference_pcm

Sent = list[tuple[str, str, str | None]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every request the daemon's HTTP client sends (method, URL, Range), in order."""
    log: Sent = []
    real = HttpClient.request

    async def recording(self: HttpClient, method: str, url: str, **kw: Any) -> Any:
        log.append((method, url, (kw.get("headers") or {}).get("Range")))
        return await real(self, method, url, **kw)

    monkeypatch.setattr(HttpClient, "request", recording)
    return log


@pytest.fixture
async def playback(tmp_path: Path, content_dir: Path) -> AsyncIterator[AmazonPlayback]:
    sandbox = Sandbox(SandboxConfig(data_dir=content_dir, catalog="small", seed=1,
                                    licence_backend=am.LicenceBackend.CLEARKEY), SystemClock())
    await sandbox.start()
    try:
        async with amazon_playback(sandbox, tmp_path / "state", ClearKeyCdm()) as source:
            yield source
    finally:
        await sandbox.aclose()


def _kinds(sent: Sent) -> list[str]:
    """Each request as what it is for, from the sandbox's URL shapes."""
    kinds = []
    for method, url, byte_range in sent:
        path = url.split("?", 1)[0]
        if method == "POST" and "/drm/" in path:
            kinds.append("licence")
        elif path.endswith(".mpd"):
            kinds.append("manifest")
        elif byte_range is not None and byte_range.startswith("bytes=0-"):
            kinds.append("init")  # SegmentBase: init and sidx open the file
        elif "/media/" in path or path.endswith((".m4s", ".mp4")):
            kinds.append("segment")
        elif "chunk" in path:
            kinds.append("chunk")
        elif "definition" in path or "/track" in path:
            kinds.append("definition")
        else:
            kinds.append(f"other:{method} {path}")
    return kinds


async def _read_all(stream: Any) -> bytes:
    out = bytearray()
    while (chunk := await stream.read()) is not None:
        out += chunk
    return bytes(out)


async def test_a_seek_sends_no_manifest_licence_or_init_request(
        playback: AmazonPlayback, sent: Sent, content_dir: Path) -> None:
    (entry,) = await playback.resolve(PlayKind.TRACK, "track:Carrier Wave")
    stream = await playback.open(entry, 0, ANY_CAPS)
    assert await stream.read()
    await stream.aclose()
    opened = _kinds(sent)
    assert "manifest" in opened
    assert "licence" in opened  # the first open really licensed
    assert "init" in opened
    sent.clear()

    seek_ms = 3000
    stream = await playback.open(entry, seek_ms, ANY_CAPS)
    try:
        pcm = await _read_all(stream)
        fmt = stream.format
    finally:
        await stream.aclose()
    after = _kinds(sent)
    assert after, "the seek fetched nothing at all"
    assert set(after) == {"segment"}, after
    reference = reference_pcm(content_dir, stream.info.service_id, "FLAC_16_44")
    start = seek_ms * fmt.rate // 1000 * fmt.frame_bytes
    assert pcm == reference[start:]


async def test_a_second_play_sends_no_definition_or_manifest_request(
        playback: AmazonPlayback, sent: Sent) -> None:
    (entry,) = await playback.resolve(PlayKind.TRACK, "track:Carrier Wave")
    stream = await playback.open(entry, 0, ANY_CAPS)
    assert await stream.read()
    await stream.aclose()
    first = _kinds(sent)
    assert "chunk" in first
    assert "definition" in first
    sent.clear()

    (again,) = await playback.resolve(PlayKind.TRACK, "track:Carrier Wave")
    stream = await playback.open(again, 0, ANY_CAPS)
    try:
        assert await stream.read()
    finally:
        await stream.aclose()
    second = _kinds(sent)
    # one chunk request: a replay needs a fresh track instance (its own collector)
    assert second.count("chunk") == 1, second
    assert "definition" not in second, second
    assert "manifest" not in second, second
    # (a licence again: one licence per track instance, AM-C26)
