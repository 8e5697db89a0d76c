"""One track from MPD to PCM over the sandbox's real generated content (CENC with a 30 s
clear lead, ClearKey), checked against PyAV decoding the clear reference on its own."""

from __future__ import annotations

import asyncio
import logging

import pytest

from daemon.core.clock import SystemClock
from daemon.core.errors import MediaError
from daemon.drm.clearkey import ClearKeyCdm
from daemon.drm.flow import LicenceFlow
from daemon.playback.dash_stream import CallbackService, StreamRequest, open_dash_stream
from daemon.playback.events import AudioQuality, TrackInfo
from daemon.playback.fetcher import FetchSettings
from daemon.playback.sinks.base import ANY_CAPS, SampleFormat, caps_from
from daemon.sandbox.licence.clearkey import issue_clearkey
from daemon.sandbox.media import ContentStore

BASE = "http://content.test/"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ContentStore:
    content = ContentStore(tmp_path_factory.mktemp("content"), catalog="small")
    content.ensure()
    return content


def _track(store: ContentStore, scheme: str = "cenc", addressing: str | None = None) -> str:
    for tid, t in store.tracks.items():
        if t.scheme == scheme and (addressing is None or t.addressing == addressing):
            return tid
    raise LookupError(scheme)


class Origin:
    """A content origin over the store: what the HTTP layer would fetch, counted."""

    def __init__(self, store: ContentStore, track_id: str) -> None:
        self.store = store
        self.track_id = track_id
        self.requests: list[tuple[str, tuple[int, int] | None]] = []

    async def get(self, url: str, byte_range: tuple[int, int] | None) -> bytes:
        self.requests.append((url, byte_range))
        name = url.removeprefix(BASE)
        data = self.store.resource(self.track_id, name)
        if byte_range is not None:
            data = data[byte_range[0]:byte_range[1] + 1]
        return data


def reference_pcm(store: ContentStore, track_id: str, fmt_id: str) -> bytes:
    """PyAV's own decode of the clear reference, interleaved like our output."""
    import io

    import av
    import numpy as np

    out = []
    with av.open(io.BytesIO(store.clear_reference(track_id, fmt_id)), "r") as container:
        for frame in container.decode(audio=0):
            arr = frame.to_ndarray()
            if frame.format.is_planar:
                arr = arr.T
            out.append(np.ascontiguousarray(arr).tobytes())
    return b"".join(out)


async def _read_all(stream: object) -> bytes:
    data = bytearray()
    while (chunk := await stream.read()) is not None:  # type: ignore[attr-defined]
        data += chunk
    return bytes(data)


def _request(store: ContentStore, tid: str, capabilities: list[str],
             start_ms: int = 0) -> StreamRequest:
    mpd = store.mpd(tid, list(store.tracks[tid].formats), BASE, BASE + "licence")
    track = store.tracks[tid]
    return StreamRequest(mpd=mpd.encode(), mpd_url=BASE + "track.mpd",
                         info=TrackInfo(service_id=tid, title=track.track.title),
                         start_ms=start_ms, caps=ANY_CAPS, capabilities=capabilities,
                         decoders=["flac", "opus"])


def _service(store: ContentStore, tid: str, get: object, post: object = None
             ) -> CallbackService:
    """The origin's bytes and a ClearKey licence (or `post`)."""

    async def licence(challenge: bytes) -> bytes:
        return issue_clearkey(challenge, store.keys(tid))

    return CallbackService(get, post or licence)  # type: ignore[arg-type]


async def test_hi_res_track_decrypts_and_decodes_bit_exact(store: ContentStore) -> None:
    tid = _track(store, "cenc")
    origin = Origin(store, tid)
    stream = await open_dash_stream(
        _request(store, tid, ["HI_RES", "HI_FI", "STD_RES"]),
        service=_service(store, tid, origin.get),
        licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False), clock=SystemClock(),
        settings=FetchSettings())
    try:
        assert stream.info.quality == AudioQuality.UHD
        assert stream.format.rate == 192_000
        assert stream.format.sample_format in (SampleFormat.S32_LE, SampleFormat.S24_LE)
        pcm = await _read_all(stream)
    finally:
        await stream.aclose()
    assert pcm == reference_pcm(store, tid, "FLAC_24_192")


async def test_std_res_only_gets_opus(store: ContentStore) -> None:
    tid = _track(store, "cenc")
    stream = await open_dash_stream(
        _request(store, tid, ["STD_RES"]),
        service=_service(store, tid, Origin(store, tid).get),
        licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False), clock=SystemClock(),
        settings=FetchSettings())
    try:
        assert stream.info.quality == AudioQuality.SD
        assert stream.info.format is not None
        assert stream.info.format.codec == "opus"
        assert len(await _read_all(stream)) > 0
    finally:
        await stream.aclose()


async def test_clear_lead_plays_while_the_licence_is_in_flight(store: ContentStore) -> None:
    tid = _track(store, "cenc")
    release = asyncio.Event()
    asked = asyncio.Event()

    async def slow_licence(challenge: bytes) -> bytes:
        asked.set()
        await release.wait()
        return issue_clearkey(challenge, store.keys(tid))

    stream = await open_dash_stream(
        _request(store, tid, ["HI_FI"]),
        service=_service(store, tid, Origin(store, tid).get, slow_licence),
        licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False), clock=SystemClock(),
        settings=FetchSettings())
    try:
        # Audio is ready although the licence has not been answered: the clear lead.
        await asyncio.wait_for(asked.wait(), 10)
        first = await stream.read()
        assert first
        release.set()
        rest = await _read_all(stream)
    finally:
        await stream.aclose()
    assert first + rest == reference_pcm(store, tid, "FLAC_16_44")


async def test_seek_into_the_encrypted_part_lands_on_the_sample(store: ContentStore) -> None:
    tid = _track(store, "cenc")
    stream = await open_dash_stream(
        _request(store, tid, ["HI_FI"], start_ms=33_500),
        service=_service(store, tid, Origin(store, tid).get),
        licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False), clock=SystemClock(),
        settings=FetchSettings())
    try:
        pcm = await _read_all(stream)
    finally:
        await stream.aclose()
    reference = reference_pcm(store, tid, "FLAC_16_44")
    frame = 4  # S16 stereo
    offset = 44_100 * 33_500 // 1000 * frame
    assert pcm == reference[offset:offset + len(pcm)]
    assert abs(len(pcm) - (len(reference) - offset)) <= frame


async def test_cbcs_and_segment_base_track(store: ContentStore) -> None:
    tid = _track(store, "cbcs")
    stream = await open_dash_stream(
        _request(store, tid, ["HI_FI"]),
        service=_service(store, tid, Origin(store, tid).get),
        licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False), clock=SystemClock(),
        settings=FetchSettings())
    try:
        pcm = await _read_all(stream)
    finally:
        await stream.aclose()
    assert pcm == reference_pcm(store, tid, "FLAC_16_44")


async def test_output_that_takes_nothing_playable_is_refused(store: ContentStore) -> None:
    tid = _track(store, "cenc")
    request = _request(store, tid, ["HI_RES"])
    mono_8k = caps_from([8000], ["S16_LE"], max_channels=1)
    with pytest.raises(MediaError, match="no playable representation"):
        await open_dash_stream(
            StreamRequest(**{**request.__dict__, "caps": mono_8k}),
            service=_service(store, tid, Origin(store, tid).get),
            licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False), clock=SystemClock(),
            settings=FetchSettings())


async def test_lossless_steps_down_to_opus_when_the_buffer_runs_dry(
        store: ContentStore, caplog: pytest.LogCaptureFixture) -> None:
    from daemon.playback.abr import AbrConfig
    from tests.support.clock import FakeClock

    tid = _track(store, "cenc")
    origin = Origin(store, tid)
    clock = FakeClock()

    async def slow_get(url: str, byte_range: tuple[int, int] | None) -> bytes:
        data = await origin.get(url, byte_range)
        clock.advance(len(data) * 8 / 250_000)  # a 250 kbit/s link: FLAC cannot keep up
        return data

    # The buffer counts as "about to run dry" at once, so the first decision steps down.
    request = _request(store, tid, ["HI_FI", "STD_RES"])
    request = StreamRequest(**{**request.__dict__,
                               "abr_config": AbrConfig(panic_buffer_s=1_000.0)})
    with caplog.at_level(logging.INFO, logger="daemon.playback"):
        stream = await open_dash_stream(
            request, service=_service(store, tid, slow_get),
            licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False),
            clock=clock, settings=FetchSettings(buffer_seconds=10.0))
        formats = [stream.format]
        seconds = 0.0
        try:
            while (chunk := await stream.read()) is not None:
                if stream.format != formats[-1]:
                    formats.append(stream.format)
                seconds += len(chunk) / stream.format.bytes_per_second
        finally:
            await stream.aclose()
    assert stream.info.quality == AudioQuality.HD  # chosen lossless
    assert formats[0].rate == 44_100
    assert formats[-1].rate == 48_000  # ... and continued in Opus
    assert any("abr.codec_switch" in r.getMessage() and "opus" in r.getMessage()
               for r in caplog.records)
    duration = store.tracks[tid].track.duration_s
    assert abs(seconds - duration) < 0.5  # every segment played once, none lost
