"""Sans-IO MPEG-DASH: MPD model and parser, segment addressing, representation selection.

Strings in, values out; no asyncio, no network, no files.

    parse_mpd(text: str | bytes, base_url: str, *, max_bytes=2 MiB) -> Manifest
    plan_segments(manifest, period, representation) -> SegmentPlan
    resolve_index(plan, sidx_bytes) -> SegmentPlan            (SegmentBase + sidx)
    expand_template(template, *, representation_id, bandwidth, number=None, time=None) -> str
    select(period, *, capabilities, decoders, output, bandwidth_bps=None, ...) -> Selection
                                                      (daemon.dash.select)
"""

from daemon.dash.model import (
    AdaptationSet,
    BaseUrl,
    ContentProtection,
    Manifest,
    Period,
    Representation,
    SegmentInfo,
)
from daemon.dash.parser import parse_mpd
from daemon.dash.segments import Segment, SegmentPlan, expand_template, plan_segments, resolve_index

__all__ = [
    "AdaptationSet",
    "BaseUrl",
    "ContentProtection",
    "Manifest",
    "Period",
    "Representation",
    "Segment",
    "SegmentInfo",
    "SegmentPlan",
    "expand_template",
    "parse_mpd",
    "plan_segments",
    "resolve_index",
]
