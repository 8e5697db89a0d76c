"""One track as PCM, from its MPD: select, fetch, decrypt, decode.

The time to first audio is bounded by round trips the protocol forces (DESIGN.md §3): once
the MPD is here, the init segment is fetched, then the licence request and the first media
segments run in parallel; clear-lead segments are decoded while the licence is in flight,
and the first encrypted one waits for the keys (AM-C26: buffer, never skip). AES and
decoding run in threads; this module only moves bytes between them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from daemon.core.clock import Clock
from daemon.core.errors import DaemonError, DecryptError, ManifestError, MediaError
from daemon.dash import parse_mpd
from daemon.dash.model import Representation
from daemon.dash.segments import Segment, SegmentPlan
from daemon.dash.select import codec_family
from daemon.drm.cdm import ContentKeys
from daemon.drm.flow import LicenceFlow
from daemon.playback.abr import ThroughputEstimator
from daemon.playback.dash_service import CallbackService, DashService
from daemon.playback.dash_session import (
    DashSession,
    StreamRequest,
    fetch_segment,
    new_session,
    output_formats,
    plan_track,
)
from daemon.playback.decoder import Decoder, PcmChunk
from daemon.playback.events import AudioFormat, AudioQuality, TrackInfo
from daemon.playback.fetcher import FetchSettings, Get, SegmentFetcher, SegmentRef
from daemon.playback.sinks.base import OutputCaps, PcmFormat

log = logging.getLogger("daemon.playback")

_QUALITY = {"STD_RES": AudioQuality.SD, "HI_FI": AudioQuality.HD, "HI_RES": AudioQuality.UHD,
            "THREE_DIMENSIONAL": AudioQuality.ATMOS, "REAL_AUDIO_360": AudioQuality.RA360}


class DashStream:
    """A `PcmStream` over one DASH representation."""

    def __init__(self, *, info: TrackInfo, session: DashSession, inits: list[Segment | None],
                 rung: int, fetcher: SegmentFetcher, decoder: Decoder,
                 keys_task: asyncio.Task[ContentKeys] | None, clock: Clock, get: Get,
                 families: list[str | None], caps: OutputCaps, protected: bool,
                 keep_session: bool) -> None:
        self._info = info
        self.session = session
        self.selection = session.selection
        self._init_refs = inits  # per ladder rung; the chosen rung's bytes are at hand
        self._inits = session.inits
        self._protected = protected
        self._keep = keep_session
        self._get = get
        self._fetcher = fetcher
        # Decoders in play order: a step between codec families (lossless <-> Opus) starts a
        # new one at a segment boundary; the reader drains the head, then moves on.
        self._decoders: deque[Decoder] = deque([decoder])
        self._families = families
        self._rung = rung
        self._caps = caps
        self._keys_task = keys_task
        self._clock = clock
        self._keys: ContentKeys | None = session.keys
        self._decryptors = session.decryptors
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
        first = await self._decoders[0].read()
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
        while True:
            nxt = await self._decoders[0].read()
            if nxt is not None:
                self._format = nxt.format  # changes when ABR stepped to another codec
                return nxt.data
            if len(self._decoders) > 1:  # this codec's part ended; the next one follows
                await self._decoders.popleft().aclose()
                continue
            feeder = self._feeder
            if feeder is not None and feeder.done() and not feeder.cancelled():
                error = feeder.exception()
                if error is not None:
                    raise error
            return None

    async def _feed(self) -> None:
        """Fetched segments -> decrypt (thread) -> decoder; ends the decoders' streams."""
        feeding = self._decoders[0]
        family = self._families[self._rung]
        try:
            while (got := await self._fetcher.next_segment()) is not None:
                segment, rung = got
                if self._families[rung] != family:
                    feeding = await self._switch_decoder(feeding, rung)
                    family = self._families[rung]
                clear = await self._decrypt(segment, rung)
                await feeding.feed(clear)
            await feeding.end_of_stream()
        except DaemonError as exc:
            log.error("stream.feed_failed track=%s error=%s", self._info.service_id, exc)
            for decoder in self._decoders:
                await decoder.aclose()
            raise

    async def _switch_decoder(self, old: Decoder, rung: int) -> Decoder:
        """A decoder for another codec, queued before the old one ends so the reader never
        mistakes the boundary for the end of the track."""
        from daemon.mp4.cenc import decrypt_init

        init = await self._init_for(rung)
        clear_init = await asyncio.to_thread(decrypt_init, init) if self._protected else init
        new = Decoder(self._caps)
        await new.start(clear_init)
        self._decoders.append(new)
        await old.end_of_stream()
        log.info("abr.codec_switch track=%s to=%s", self._info.service_id,
                 self._families[rung])
        return new

    async def _init_for(self, rung: int) -> bytes:
        init = self._inits.get(rung)
        if init is None:  # another rung of the ladder: its init once, when first needed
            ref = self._init_refs[rung]
            if ref is None:
                raise ManifestError("a ladder representation has no initialization segment")
            init = self._inits[rung] = await fetch_segment(self._get, ref)
        return init

    async def _decryptor(self, rung: int) -> Any:
        from daemon.mp4.cenc import Decryptor

        key = (rung, self._keys is not None)
        found = self._decryptors.get(key)
        if found is None:
            init = await self._init_for(rung)
            found = await asyncio.to_thread(Decryptor, init, self._keys or {})
            self._decryptors[key] = found
        return found

    async def _decrypt(self, segment: bytes, rung: int) -> bytes | memoryview:
        """The clear segment. Protected ones are decrypted in place in one buffer (the only
        copy of the segment), handed to the decoder as a view of it."""
        if not self._protected:
            return segment  # an unprotected representation
        try:  # before the licence, clear-lead fragments pass with no keys
            return await self._decrypt_once(segment, rung)
        except DecryptError:
            if self._keys is not None:
                raise
        # Encrypted and no keys yet: wait for the licence (the clear lead has played).
        if self._keys_task is None:
            raise DecryptError("the segment is encrypted and no licence was requested")
        self._keys = self.session.keys = await self._keys_task
        return await self._decrypt_once(segment, rung)

    async def _decrypt_once(self, segment: bytes, rung: int) -> memoryview:
        from daemon.mp4.crypto import SLACK

        decryptor = await self._decryptor(rung)
        buf = bytearray(len(segment) + SLACK)
        buf[: len(segment)] = segment
        await asyncio.to_thread(decryptor.decrypt_into, buf, len(segment))
        return memoryview(buf)[: len(segment)]

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._feeder is not None:
            self._feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, DaemonError):
                await self._feeder
        task = self._keys_task
        if task is not None and task.done() and not task.cancelled() \
                and task.exception() is None and self.session.keys is None:
            self.session.keys = task.result()  # arrived after the last segment we needed
        elif task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DaemonError):
                (await task).drop()
        if not self._keep:
            self.session.drop()
        await self._fetcher.aclose()
        for decoder in self._decoders:
            await decoder.aclose()


class _LadderAbr:
    """Throughput estimate + rung decision for one track's ladder (daemon.playback.abr)."""

    def __init__(self, ladder: list[Representation], chosen: Representation, clock: Clock,
                 estimate: ThroughputEstimator, config: Any = None) -> None:
        from daemon.playback.abr import AbrController, Rung

        rungs = [Rung(r.id, r.bandwidth, lossless=codec_family(r.codecs) == "flac")
                 for r in ladder]
        self._ctl = AbrController.for_rep(rungs, chosen.id, config)
        self._estimate = estimate
        self._clock = clock

    def choose(self, buffered_s: float) -> int:
        decision = self._ctl.decide(now=self._clock.monotonic(),
                                    estimate_bps=self._estimate.estimate_bps(),
                                    buffer_s=buffered_s)
        if decision.changed:
            log.info("abr.switch to=%s reason=%s", decision.rung.rep_id, decision.reason)
        return decision.index


def _refs(plan: SegmentPlan, segments: Iterable[Segment]) -> list[SegmentRef]:
    return [SegmentRef(s.urls, s.byte_range, s.duration) for s in segments]


async def open_dash_stream(request: StreamRequest, *, service: DashService,
                           licence_flow: LicenceFlow | None, clock: Clock,
                           settings: FetchSettings,
                           estimate: ThroughputEstimator | None = None,
                           session: DashSession | None = None,
                           keep_session: bool = False) -> DashStream:
    """Parse, select, plan, start fetching and licensing, and decode the first audio;
    every byte, licence and renewed manifest comes from `service`.

    `estimate` is the caller's one throughput estimate: every download feeds it, and both
    the selection (when the request names no bandwidth) and the ABR read it; a fresh one
    when None. `session` (the `.session` of an earlier stream of the same track) skips
    what that stream already did: parsing, planning, the init segment and the licence, so
    a seek fetches only the segment holding the target. With `keep_session` the stream
    leaves its keys in the session when it closes (the caller then owns `session.drop()`);
    otherwise closing the stream wipes them."""
    estimate = estimate if estimate is not None else ThroughputEstimator()
    get: Get = service.fetch
    bandwidth = request.bandwidth_bps
    if bandwidth is None and (known := estimate.estimate_bps()) is not None:
        bandwidth = int(known)
    reused = session is not None and session.fits(request)
    if session is None or not reused:
        session = await new_session(request, get, bandwidth)
    selection = session.selection
    ladder, plans, rung, rep = session.ladder, session.plans, session.rung, session.rep
    plan = plans[rung]
    assert plan.init is not None

    # From here on nothing waits that the protocol does not force: the licence (from the
    # MPD's PSSH and KID), the init segment and the first media segments go out together.
    keys_task: asyncio.Task[ContentKeys] | None = None
    kid = rep.default_kid
    mpd_pssh = [base64.b64encode(c.pssh).decode() for c in rep.content_protection if c.pssh]
    if rep.protected and licence_flow is None:
        raise MediaError("the track is encrypted and no licence path is configured",
                         representation=rep.id)

    def licence(init: bytes | None) -> asyncio.Task[ContentKeys]:
        assert licence_flow is not None
        return asyncio.create_task(licence_flow.acquire(
            service.post_licence, mpd_pssh=mpd_pssh, init_segment=init,
            default_kids=(kid,) if kid else ()), name="licence")

    need_keys = rep.protected and session.keys is None
    if need_keys and (mpd_pssh or kid):
        keys_task = licence(None)

    start_s = request.start_ms / 1000 + plan.period_start
    first = next((i for i, s in enumerate(plan.segments) if s.start + s.duration > start_s),
                 len(plan.segments))
    segments = plan.segments[first:]
    # The decoder counts frames from the packets' own timestamps: track time, not offset.
    skip_to = request.start_ms / 1000 if request.start_ms > 0 else None
    abr = (_LadderAbr(ladder, rep, clock, estimate, request.abr_config) if len(ladder) > 1
           else None)
    init_refs: list[Segment | None] = [p.init for p in plans]  # refreshed in place

    async def on_expired() -> list[list[SegmentRef]]:
        renewed = await service.refresh_manifest()
        if renewed is None:
            raise ManifestError("the segment URLs expired and cannot be renewed",
                                url=request.mpd_url)
        mpd, url = renewed
        fresh = parse_mpd(mpd, url)
        if not fresh.periods:
            raise ManifestError("the refreshed manifest has no period", url=url)
        by_id = {r.id: r for r in fresh.periods[0].representations}
        missing = [r.id for r in ladder if r.id not in by_id]
        if missing:
            raise ManifestError("the refreshed manifest lacks a representation",
                                representation=missing[0])
        new_plans = await asyncio.gather(
            *(plan_track(fresh, fresh.periods[0], by_id[r.id], get) for r in ladder))
        init_refs[:] = [p.init for p in new_plans]
        session.plans[:] = new_plans  # a later seek uses the fresh URLs
        wanted = range(len(ladder)) if abr else [rung]
        return [_refs(new_plans[i], new_plans[i].segments[first:]) for i in wanted]

    fetcher = SegmentFetcher(
        get, _refs(plan, segments), clock, settings,
        estimate.add,
        rungs=[_refs(p, p.segments[first:]) for p in plans] if abr else (),
        choose=abr.choose if abr else None, rung=rung if abr else 0,
        on_expired=on_expired)
    fetcher.start()
    try:
        init = session.inits.get(rung)
        if init is None:
            init = session.inits[rung] = await fetch_segment(get, plan.init)
    except BaseException:
        await fetcher.aclose()
        if keys_task is not None:
            keys_task.cancel()
        raise
    if need_keys and keys_task is None:  # no PSSH or KID in the MPD: the init's
        keys_task = licence(init)

    decoder = Decoder(request.caps)
    verdict = next((v for v in selection.verdicts if v.representation_id == rep.id), None)
    tier = (verdict.tier if verdict else None) or "STD_RES"
    codec = (verdict.codec if verdict else None) or rep.codecs
    info = replace(request.info, quality=_QUALITY.get(tier, AudioQuality.SD),
                   format=AudioFormat(codec=codec,
                                      sample_rate=rep.audio_sampling_rate or 0,
                                      bit_depth=rep.bit_depth, channels=rep.channels or 2))
    stream = DashStream(info=info, session=session, inits=init_refs,
                        rung=rung if abr else 0, fetcher=fetcher, decoder=decoder,
                        keys_task=keys_task, clock=clock, get=get,
                        families=[codec_family(r.codecs) for r in ladder] if abr
                        else [codec_family(rep.codecs)], caps=request.caps,
                        protected=rep.protected, keep_session=keep_session)
    try:
        clear_init = session.clear_init
        if clear_init is None:
            from daemon.mp4.cenc import decrypt_init

            clear_init = await asyncio.to_thread(decrypt_init, init) if rep.protected else init
            session.clear_init = clear_init
        await decoder.start(clear_init, skip_to_s=skip_to)
        await stream._prime()
    except BaseException:
        await stream.aclose()
        raise
    log.info("stream.opened track=%s representation=%s tier=%s start_segment=%d reused=%s",
             info.service_id, rep.id, tier, first, reused)
    return stream


__all__ = ["CallbackService", "DashService", "DashSession", "DashStream", "StreamRequest",
           "open_dash_stream", "output_formats"]
