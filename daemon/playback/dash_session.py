"""What opening one DASH track learns, kept for opening it again: the request, the parsed
manifest, the selection and segment plans, init segments and keys (`DashSession`), and how
a first open builds it (`new_session`: parse, select, plan; the sidx of SegmentBase tracks
is fetched here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from daemon.core.errors import ManifestError, MediaError
from daemon.dash import parse_mpd, plan_segments, resolve_index
from daemon.dash.model import Manifest, Period, Representation
from daemon.dash.segments import Segment, SegmentPlan
from daemon.dash.select import OutputFormats, Selection, codec_family, select
from daemon.drm.cdm import ContentKeys
from daemon.playback.events import TrackInfo
from daemon.playback.fetcher import Get
from daemon.playback.sinks.base import OutputCaps


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
    bandwidth_bps: int | None = None  # None: what the caller's estimate has measured
    #: ABR thresholds (daemon.playback.abr.AbrConfig); None = the defaults
    abr_config: Any = None


def output_formats(caps: OutputCaps) -> OutputFormats:
    return OutputFormats(max_sample_rate=caps.max_rate, max_bit_depth=caps.max_bits,
                         max_channels=caps.max_channels,
                         sample_rates=frozenset(caps.rates) if caps.rates else None)


@dataclass
class DashSession:
    """What opening a track learnt that opening it again (a seek, a replay) reuses: the
    parsed manifest, the selection and segment plans, the init segments, the clear init and
    the content keys. Reused while the MPD URL and the output are the same. Its owner (the
    source) calls `drop()` when the track leaves the current/previous/next window, which
    wipes the keys (AM-C26: keys in memory only, for that window)."""

    mpd_url: str
    caps: OutputCaps
    manifest: Manifest
    period: Period
    selection: Selection
    ladder: list[Representation]
    plans: list[SegmentPlan]
    rung: int
    #: fetched init segments by ladder rung, and the chosen rung's clear init
    inits: dict[int, bytes] = field(default_factory=dict)
    clear_init: bytes | None = None
    keys: ContentKeys | None = None
    #: daemon.mp4.cenc.Decryptor per (rung, keys known): an init is parsed once per key set
    decryptors: dict[tuple[int, bool], Any] = field(default_factory=dict)

    @property
    def rep(self) -> Representation:
        return self.ladder[self.rung]

    def fits(self, request: StreamRequest) -> bool:
        return request.mpd_url == self.mpd_url and request.caps == self.caps

    def drop(self) -> None:
        if self.keys is not None:
            self.keys.drop()
            self.keys = None
        self.decryptors.clear()


def switchable(selection: Selection, chosen: Representation, period: Period
                ) -> list[Representation]:
    """The rungs ABR may move along, ascending: the Opus ladder of the track's key, and a
    chosen lossless representation on top of it (left only when the buffer is about to run
    dry, daemon.playback.abr). Other codecs are chosen once per track."""
    playable = {v.representation_id for v in selection.verdicts if v.playable}
    opus = sorted((r for r in period.representations
                   if codec_family(r.codecs) == "opus" and r.id in playable
                   and r.default_kid == chosen.default_kid), key=lambda r: r.bandwidth)
    family = codec_family(chosen.codecs)
    if family == "opus" and chosen in opus:
        return opus
    if family == "flac" and opus:
        return [*opus, chosen]
    return [chosen]


async def plan_track(manifest: Manifest, period: Period, rep: Representation, get: Get
                ) -> SegmentPlan:
    plan = plan_segments(manifest, period, rep)
    if plan.needs_index:
        assert plan.index is not None
        plan = resolve_index(plan, await fetch_segment(get, plan.index))
    return plan


async def new_session(request: StreamRequest, get: Get, bandwidth: int | None
                       ) -> DashSession:
    """Parse, select and plan (the sidx of SegmentBase tracks is fetched here)."""
    manifest = parse_mpd(request.mpd, request.mpd_url)
    if not manifest.periods:
        raise ManifestError("the manifest has no period", url=request.mpd_url)
    period = manifest.periods[0]
    selection = select(period, capabilities=request.capabilities, decoders=request.decoders,
                       output=output_formats(request.caps), bandwidth_bps=bandwidth)
    rep = selection.chosen
    if rep is None:
        raise MediaError("no playable representation in the manifest", url=request.mpd_url,
                         reasons="; ".join(f"{v.representation_id}:{v.code}"
                                           for v in selection.verdicts))
    ladder = switchable(selection, rep, period)
    plans = list(await asyncio.gather(*(plan_track(manifest, period, r, get) for r in ladder)))
    if len({len(p.segments) for p in plans}) != 1:  # not one timeline: no switching
        ladder, plans = [rep], [plans[ladder.index(rep)]]
    rung = ladder.index(rep)
    if plans[rung].init is None:
        raise ManifestError("the representation has no initialization segment",
                            representation=rep.id)
    return DashSession(mpd_url=request.mpd_url, caps=request.caps, manifest=manifest,
                       period=period, selection=selection, ladder=ladder, plans=plans,
                       rung=rung)


async def fetch_segment(get: Get, seg: Segment) -> bytes:
    from daemon.playback.fetcher import fetch_with_failover

    return await fetch_with_failover(get, seg.urls, seg.byte_range)
