"""One track as PCM, from its MPD: select, fetch, decrypt, decode.

The time to first audio is bounded by round trips the protocol forces (DESIGN.md §3): once
the MPD is here, the init segment is fetched, then the licence request and the first media
segments run in parallel; clear-lead segments are decoded while the licence is in flight,
and the first encrypted one waits for the keys (AM-C26: buffer, never skip). AES and
decoding run in threads; this module only moves bytes between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from daemon.clock import Clock
from daemon.dash import parse_mpd, plan_segments, resolve_index
from daemon.dash.segments import Segment, SegmentPlan
from daemon.dash.select import OutputFormats, Selection, select
from daemon.drm.cdm import ContentKeys
from daemon.drm.flow import LicenceFlow, LicencePost
from daemon.errors import DaemonError, DecryptError, ManifestError, MediaError
from daemon.playback.decoder import Decoder, PcmChunk
from daemon.playback.events import AudioFormat, AudioQuality, TrackInfo
from daemon.playback.fetcher import FetchSettings, Get, SegmentFetcher, SegmentRef
from daemon.playback.sinks.base import OutputCaps, PcmFormat

log = logging.getLogger("daemon.playback")

_QUALITY = {"STD_RES": AudioQuality.SD, "HI_FI": AudioQuality.HD, "HI_RES": AudioQuality.UHD,
            "THREE_DIMENSIONAL": AudioQuality.ATMOS, "REAL_AUDIO_360": AudioQuality.RA360}


@dataclass(frozen=True)
class StreamRequest:
    """Everything needed to open one track's stream."""

    mpd: bytes
    mpd_url: str
    info: TrackInfo
    start_ms: int
    caps: OutputCaps
    capabilities: Iterable[str]
    decoders: Iterable[str]
    bandwidth_bps: int | None = None
    licence_post: LicencePost | None = None


def output_formats(caps: OutputCaps) -> OutputFormats:
    return OutputFormats(max_sample_rate=caps.max_rate, max_bit_depth=caps.max_bits,
                         max_channels=caps.max_channels,
                         sample_rates=frozenset(caps.rates) if caps.rates else None)


class DashStream:
    """A `PcmStream` over one DASH representation."""

    def __init__(self, *, info: TrackInfo, selection: Selection, init: bytes,
                 fetcher: SegmentFetcher, decoder: Decoder,
                 keys_task: asyncio.Task[ContentKeys] | None, clock: Clock) -> None:
        self._info = info
        self.selection = selection
        self._init = init
        self._fetcher = fetcher
        self._decoder = decoder
        self._keys_task = keys_task
        self._clock = clock
        self._keys: ContentKeys | None = None
        self._decryptor: Any = None  # daemon.mp4.cenc.Decryptor, parsed once per key set
        self._first: PcmChunk | None = None
        self._format: PcmFormat | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def info(self) -> TrackInfo:
        return self._info

    @property
    def format(self) -> PcmFormat:
        """Known once open_dash_stream returned (it decodes the first chunk)."""
        assert self._format is not None
        return self._format

    def buffered_seconds(self) -> float:
        return self._fetcher.buffered_seconds

    async def _prime(self) -> None:
        self._feeder = asyncio.create_task(self._feed(), name="dash-feeder")
        first = await self._decoder.read()
        if first is None:
            raise MediaError("the track decoded to no audio", track=self._info.service_id)
        self._first = first
        self._format = fmt = first.format
        af = self._info.format
        if af is not None:
            self._info = replace(self._info, format=replace(
                af, output_rate=fmt.rate if fmt.rate != af.sample_rate else None))

    async def read(self) -> bytes | None:
        if self._first is not None:
            chunk, self._first = self._first, None
            self._format = chunk.format
            return chunk.data
        nxt = await self._decoder.read()
        if nxt is None:
            feeder = self._feeder
            if feeder is not None and feeder.done() and not feeder.cancelled():
                error = feeder.exception()
                if error is not None:
                    raise error
            return None
        return nxt.data

    async def _feed(self) -> None:
        """Fetched segments -> decrypt (thread) -> decoder; ends the decoder's stream."""
        try:
            while (segment := await self._fetcher.next()) is not None:
                clear = await self._decrypt(segment)
                await self._decoder.feed(clear)
            await self._decoder.end_of_stream()
        except DaemonError as exc:
            log.error("stream.feed_failed track=%s error=%s", self._info.service_id, exc)
            await self._decoder.aclose()
            raise

    async def _decrypt(self, segment: bytes) -> bytes:
        if self._keys_task is None:
            return segment  # an unprotected representation
        from daemon.mp4.cenc import Decryptor

        if self._decryptor is None:  # before the licence: clear-lead fragments pass
            self._decryptor = await asyncio.to_thread(Decryptor, self._init, {})
        try:
            return await asyncio.to_thread(self._decryptor.segment, segment)
        except DecryptError:
            if self._keys is not None:
                raise
        # Encrypted and no keys yet: wait for the licence (the clear lead has played).
        self._keys = await self._keys_task
        self._decryptor = await asyncio.to_thread(Decryptor, self._init, self._keys)
        return await asyncio.to_thread(self._decryptor.segment, segment)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._feeder is not None:
            self._feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, DaemonError):
                await self._feeder
        if self._keys_task is not None:
            self._keys_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DaemonError):
                keys = await self._keys_task
                keys.drop()
        if self._keys is not None:
            self._keys.drop()
        self._decryptor = None
        await self._fetcher.aclose()
        await self._decoder.aclose()


def _refs(plan: SegmentPlan, segments: Iterable[Segment]) -> list[SegmentRef]:
    return [SegmentRef(s.urls, s.byte_range, s.duration) for s in segments]


async def _fetch(get: Get, seg: Segment) -> bytes:
    from daemon.playback.fetcher import fetch_with_failover

    return await fetch_with_failover(get, seg.urls, seg.byte_range)


async def open_dash_stream(request: StreamRequest, *, get: Get, licence_flow: LicenceFlow | None,
                           clock: Clock, settings: FetchSettings,
                           on_sample: Callable[[int, float], None] | None = None
                           ) -> DashStream:
    """Parse, select, plan, start fetching and licensing, and decode the first audio."""
    manifest = parse_mpd(request.mpd, request.mpd_url)
    if not manifest.periods:
        raise ManifestError("the manifest has no period", url=request.mpd_url)
    period = manifest.periods[0]
    selection = select(period, capabilities=request.capabilities, decoders=request.decoders,
                       output=output_formats(request.caps), bandwidth_bps=request.bandwidth_bps)
    rep = selection.chosen
    if rep is None:
        raise MediaError("no playable representation in the manifest", url=request.mpd_url,
                         reasons="; ".join(f"{v.representation_id}:{v.code}"
                                           for v in selection.verdicts))
    plan = plan_segments(manifest, period, rep)
    if plan.needs_index:
        assert plan.index is not None
        plan = resolve_index(plan, await _fetch(get, plan.index))
    if plan.init is None:
        raise ManifestError("the representation has no initialization segment",
                            representation=rep.id)
    init = await _fetch(get, plan.init)

    keys_task: asyncio.Task[ContentKeys] | None = None
    if rep.protected:
        if licence_flow is None or request.licence_post is None:
            raise MediaError("the track is encrypted and no licence path is configured",
                             representation=rep.id)
        kid = rep.default_kid
        keys_task = asyncio.create_task(licence_flow.acquire(
            request.licence_post, init_segment=init, default_kids=(kid,) if kid else ()),
            name="licence")

    start_s = request.start_ms / 1000 + plan.period_start
    first = next((i for i, s in enumerate(plan.segments) if s.start + s.duration > start_s),
                 len(plan.segments))
    segments = plan.segments[first:]
    # The decoder counts frames from the packets' own timestamps: track time, not offset.
    skip_to = request.start_ms / 1000 if request.start_ms > 0 else None
    fetcher = SegmentFetcher(get, _refs(plan, segments), clock, settings, on_sample)
    fetcher.start()
    decoder = Decoder(request.caps)
    verdict = next((v for v in selection.verdicts if v.representation_id == rep.id), None)
    tier = (verdict.tier if verdict else None) or "STD_RES"
    codec = (verdict.codec if verdict else None) or rep.codecs
    info = replace(request.info, quality=_QUALITY.get(tier, AudioQuality.SD),
                   format=AudioFormat(codec=codec,
                                      sample_rate=rep.audio_sampling_rate or 0,
                                      bit_depth=rep.bit_depth, channels=rep.channels or 2))
    stream = DashStream(info=info, selection=selection, init=init, fetcher=fetcher,
                        decoder=decoder, keys_task=keys_task, clock=clock)
    try:
        from daemon.mp4.cenc import decrypt_init

        clear_init = await asyncio.to_thread(decrypt_init, init) if rep.protected else init
        await decoder.start(clear_init, skip_to_s=skip_to)
        await stream._prime()
    except BaseException:
        await stream.aclose()
        raise
    log.info("stream.opened track=%s representation=%s tier=%s start_segment=%d",
             info.service_id, rep.id, tier, first)
    return stream


__all__ = ["DashStream", "StreamRequest", "open_dash_stream"]
