"""Segment addressing: the exact list of segments of a Representation, plus its init segment.

`plan_segments` handles SegmentTemplate ($Number$/$Time$/$RepresentationID$/$Bandwidth$ with
%0Nd widths and $$; @duration numbering; SegmentTimeline with t/d/r including r=-1 and
gaps), SegmentList, SegmentBase (whose segments come from the sidx: fetch `plan.index`, then
call `resolve_index`) and a bare BaseURL. Every URL is given once per BaseURL alternative, in
failover order. Counts and values are capped before anything is materialised, and the
segments of a timeline or template are made on demand: `SegmentPlan.segments` is a lazy
sequence, so `r="199999"` costs a few runs, not 200 000 objects, until someone reads them.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import overload

from daemon.core.errors import ManifestError
from daemon.dash.model import (
    Manifest,
    Period,
    Representation,
    SegmentInfo,
    TimelineEntry,
    join_url,
)
from daemon.mp4.sidx import parse_sidx

MAX_SEGMENTS = 200_000
MAX_MEDIA_TIME = 2**63 - 1
MAX_FORMAT_WIDTH = 32
_TOKEN = re.compile(r"\$(RepresentationID|Number|Bandwidth|Time|SubNumber)?(?:%0(\d+)d)?\$")


@dataclass(frozen=True)
class Segment:
    urls: tuple[str, ...]  # one per BaseURL alternative, in failover order
    start: float  # presentation time in seconds, period start included
    duration: float
    byte_range: tuple[int, int] | None = None  # inclusive, as in an HTTP Range header
    number: int | None = None
    time: int | None = None  # media time in timescale units, as in $Time$

    @property
    def url(self) -> str:
        return self.urls[0]


class LazySegments(Sequence[Segment]):
    """`count` segments made by `make(k)` when read; slices give tuples. Compares equal to
    any sequence holding the same segments."""

    __slots__ = ("_count", "_make")

    def __init__(self, count: int, make: Callable[[int], Segment]) -> None:
        self._count = count
        self._make = make

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Segment: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Segment, ...]: ...
    def __getitem__(self, index: int | slice) -> Segment | tuple[Segment, ...]:
        if isinstance(index, slice):
            return tuple(self._make(k) for k in range(*index.indices(self._count)))
        k = index + self._count if index < 0 else index
        if not 0 <= k < self._count:
            raise IndexError("segment index out of range")
        return self._make(k)

    def __iter__(self) -> Iterator[Segment]:
        return (self._make(k) for k in range(self._count))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != self._count:
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"LazySegments(count={self._count})"


class SegmentTimes(Sequence[tuple[int, int]]):
    """(start, duration) in media time per segment, held as runs of equal durations."""

    __slots__ = ("_count", "_firsts", "_runs")

    def __init__(self, runs: list[tuple[int, int, int, int | None]]) -> None:
        """runs: (start t, duration d, count, stop or None) in timeline order."""
        self._firsts: list[int] = []
        self._runs = runs
        total = 0
        for _, _, count, _ in runs:
            self._firsts.append(total)
            total += count
        self._count = total

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> tuple[int, int]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, int]]: ...
    def __getitem__(self, index: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self._count))]
        k = index + self._count if index < 0 else index
        if not 0 <= k < self._count:
            raise IndexError("segment index out of range")
        run = bisect.bisect_right(self._firsts, k) - 1
        t, d, _, stop = self._runs[run]
        start = t + (k - self._firsts[run]) * d
        return start, d if stop is None else min(d, stop - start)


@dataclass(frozen=True)
class SegmentPlan:
    representation_id: str
    init: Segment | None
    segments: Sequence[Segment]
    index: Segment | None  # SegmentBase: fetch this range, then resolve_index(plan, bytes)
    timescale: int
    presentation_time_offset: int
    period_start: float
    #: the media the index points into when the index is a file of its own
    #: (SegmentTemplate@index, RepresentationIndex@sourceURL); empty: the index's own URLs
    index_media: tuple[str, ...] = ()

    @property
    def needs_index(self) -> bool:
        return self.index is not None and not self.segments


def expand_template(
    template: str, *, representation_id: str, bandwidth: int, number: int | None = None,
    time: int | None = None, where: str = "SegmentTemplate",
) -> str:
    """Substitute DASH template identifiers; unknown ones are left as they are."""

    def sub(m: re.Match[str]) -> str:
        name, width = m.group(1), m.group(2)
        if name is None:
            return "$" if width is None else m.group(0)
        w = int(width) if width else 0
        if w > MAX_FORMAT_WIDTH:
            raise ManifestError(f"format width {w} in {template[:60]!r} is absurd", element=where)
        if name == "RepresentationID":
            return representation_id  # a width here is not allowed by the spec: ignore it
        value = {"Number": number, "Bandwidth": bandwidth, "Time": time}.get(name)
        if value is None:
            return m.group(0)
        return str(value).zfill(w)

    return _TOKEN.sub(sub, template)


def expand_timeline(
    entries: tuple[TimelineEntry, ...], end: int | None, where: str
) -> SegmentTimes:
    """(start, duration) in media time for every segment of a SegmentTimeline.

    `end` is the period end in the same media time (needed by a final r=-1)."""
    runs: list[tuple[int, int, int, int | None]] = []
    total = 0
    prev_end: int | None = None
    for i, s in enumerate(entries):
        w = f"{where}/S[{i}]"
        t = s.t if s.t is not None else (prev_end if prev_end is not None else 0)
        if prev_end is not None and t < prev_end:
            raise ManifestError(f"S@t={t} goes back before the previous end {prev_end}",
                                element=w, attribute="t")
        stop: int | None = None
        if s.r >= 0:
            count = s.r + 1
        else:
            nxt = entries[i + 1].t if i + 1 < len(entries) else None
            stop = nxt if nxt is not None else end
            if stop is None:
                raise ManifestError("r=-1 with no following S@t and no period end", element=w,
                                    attribute="r")
            if stop <= t:
                raise ManifestError(f"r=-1 repeats up to {stop}, before S@t={t}", element=w,
                                    attribute="r")
            count = -(-(stop - t) // s.d)
        if total + count > MAX_SEGMENTS:
            raise ManifestError(f"SegmentTimeline expands to more than {MAX_SEGMENTS} segments",
                                element=w)
        if t + count * s.d > MAX_MEDIA_TIME:
            raise ManifestError("SegmentTimeline time overflows 64 bits", element=w)
        runs.append((t, s.d, count, stop))
        total += count
        prev_end = t + count * s.d if stop is None else max(stop, t)
    return SegmentTimes(runs)


def _period_end_media(period: Period, info: SegmentInfo) -> int | None:
    if period.duration is None:
        return None
    return info.presentation_time_offset + math.ceil(period.duration * info.timescale)


def plan_segments(manifest: Manifest, period: Period, rep: Representation) -> SegmentPlan:
    """Every segment of `rep` in `period`, with init and (SegmentBase) index ranges."""
    del manifest  # live timing (dynamic manifests) is out of scope; the model is enough
    info = rep.segment_info
    where = rep.path
    bases = tuple(b.url for b in rep.base_urls)
    p_start = float(period.start)
    ts, pto = info.timescale, info.presentation_time_offset

    def urls(media: str | None) -> tuple[str, ...]:
        return bases if not media else tuple(join_url(b, media, where) for b in bases)

    def seconds(t: int) -> float:
        return p_start + (t - pto) / ts

    init = None
    if info.initialization_template is not None:
        init = Segment(urls(expand_template(info.initialization_template,
                                            representation_id=rep.id, bandwidth=rep.bandwidth,
                                            where=where)), p_start, 0.0)
    elif info.initialization is not None:
        init = Segment(urls(info.initialization.url), p_start, 0.0,
                       info.initialization.byte_range)
    plan = SegmentPlan(rep.id, init, (), None, ts, pto, p_start)

    if info.kind == "single":
        dur = float(period.duration) if period.duration is not None else 0.0
        return replace(plan, segments=(Segment(bases, p_start, dur),))
    separate = info.representation_index
    if separate is not None and info.kind in ("base", "template"):
        index = Segment(urls(separate.url), p_start, 0.0, separate.byte_range)
        # without @sourceURL the range is in the media file itself, like @indexRange
        return replace(plan, index=index, index_media=bases if separate.url else ())
    if info.kind == "template" and info.index_template is not None and info.duration is None \
            and info.timeline is None:
        url = expand_template(info.index_template, representation_id=rep.id,
                              bandwidth=rep.bandwidth, where=where)
        return replace(plan, index=Segment(urls(url), p_start, 0.0), index_media=bases)
    if info.kind == "base":
        if info.index_range is None:
            dur = float(period.duration) if period.duration is not None else 0.0
            return replace(plan, segments=(Segment(bases, p_start, dur),))
        return replace(plan, index=Segment(bases, p_start, 0.0, info.index_range))

    times = _segment_times(info, period, where)
    segs: list[Segment] = []
    if info.kind == "template":
        template = info.media
        if template is None:
            raise ManifestError("SegmentTemplate without @media", element=where)

        def make(k: int) -> Segment:
            t, d = times[k]
            number = info.start_number + k
            media = expand_template(template, representation_id=rep.id,
                                    bandwidth=rep.bandwidth, number=number, time=t, where=where)
            return Segment(urls(media), seconds(t), d / ts, None, number, t)

        if times:  # a bad template or URL is refused now, not when playback reaches it
            make(0)
            make(len(times) - 1)
        return replace(plan, segments=LazySegments(len(times), make))
    else:  # list
        listed = info.segment_urls
        if not listed:
            raise ManifestError("SegmentList without SegmentURL", element=where)
        if times and len(times) < len(listed):
            listed = listed[: len(times)]  # the timeline decides how many segments exist
        if not times:
            if len(listed) > 1:
                raise ManifestError("SegmentList with several segments needs @duration or a "
                                    "SegmentTimeline", element=where)
            if not period.duration:
                raise ManifestError("SegmentList has no segment duration: no @duration, no "
                                    "SegmentTimeline and no period duration", element=where)
            dur = int(period.duration * ts)
            times = SegmentTimes([(pto, dur, 1, None)])
        for k, item in enumerate(listed):
            t, d = times[k]
            segs.append(Segment(urls(item.url), seconds(t), d / ts, item.byte_range,
                                info.start_number + k, t))
    return replace(plan, segments=tuple(segs))


def _segment_times(info: SegmentInfo, period: Period, where: str) -> SegmentTimes:
    end = _period_end_media(period, info)
    if info.timeline is not None:
        return expand_timeline(info.timeline, end, f"{where}/SegmentTimeline")
    if info.duration is None:
        return SegmentTimes([])
    if period.duration is None:
        raise ManifestError("@duration addressing needs a period duration (live edge "
                            "timing is not supported)", element=where)
    total = Fraction(period.duration) * info.timescale
    count = math.ceil(total / info.duration)
    if count > MAX_SEGMENTS:
        raise ManifestError(f"@duration gives {count} segments, more than {MAX_SEGMENTS}",
                            element=where, attribute="duration")
    pto = info.presentation_time_offset
    return SegmentTimes([(pto, info.duration, count, pto + math.ceil(total))])


def resolve_index(plan: SegmentPlan, sidx: bytes) -> SegmentPlan:
    """Fill a SegmentBase plan's segments from the bytes of its indexRange (the sidx box)."""
    if plan.index is None:
        raise ManifestError("plan has no index range to resolve", element=plan.representation_id)
    # a sidx in a file of its own counts offsets as if it began the media file (shaka-player
    # passes offset 0 for an index template)
    in_media = plan.index.byte_range is not None and not plan.index_media
    first = plan.index.byte_range[0] if in_media and plan.index.byte_range else 0
    media_urls = plan.index_media or plan.index.urls
    box, subs = parse_sidx(sidx, sidx_offset=first)
    if len(subs) > MAX_SEGMENTS:
        raise ManifestError("sidx lists too many subsegments", element=plan.representation_id)
    pto_s = plan.presentation_time_offset / plan.timescale
    segs = []
    for n, sub in enumerate(subs):
        if sub.is_index:
            raise ManifestError("hierarchical sidx (a reference to another sidx) is not "
                                "supported", element=plan.representation_id)
        segs.append(Segment(media_urls,
                            plan.period_start + sub.start / box.timescale - pto_s,
                            sub.duration / box.timescale, (sub.first_byte, sub.last_byte),
                            n + 1, sub.start))
    return replace(plan, segments=tuple(segs))
