"""The MPD of a track for a set of formats (spec/amazon-music.md §6.3, AM-C23).

Static, on-demand profile, minBufferTime PT2S, one AdaptationSet per codec family, CENC
signalled by mp4protection (`cenc:default_KID`) and a Widevine ContentProtection carrying
`cenc:pssh` and the licence URL as `dashif:Laurl`. The track's addressing mode decides
between SegmentList (byte ranges), SegmentBase (sidx) and SegmentTemplate (+timeline).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from daemon.drm.pssh import widevine_pssh
from daemon.sandbox.choices import BIT_DEPTH_SCHEME, MPD_PROFILE
from daemon.sandbox.media.catalog import Track
from daemon.sandbox.media.formats import FORMATS
from daemon.sandbox.media.package import Layout

WIDEVINE_SCHEME = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
MP4PROTECTION_SCHEME = "urn:mpeg:dash:mp4protection:2011"
_NAMESPACES = (
    'xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
    'xmlns:dashif="https://dashif.org/CPS" xmlns:amz-music="urn:amazon:music:drm:2019"'
)


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _attrs(**values: object) -> str:
    return " ".join(f"{k.replace('_', '-')}={quoteattr(str(v))}" for k, v in values.items())


def _timeline(layout: Layout) -> list[str]:
    lines = ["<SegmentTimeline>"]
    runs: list[list[int]] = []  # [t, d, r]
    for s in layout.segments:
        if runs and runs[-1][1] == s.duration:
            runs[-1][2] += 1
        else:
            runs.append([s.start, s.duration, 0])
    for n, (t, d, r) in enumerate(runs):
        parts = [f't="{t}"'] if n == 0 else []
        parts.append(f'd="{d}"')
        if r:
            parts.append(f'r="{r}"')
        lines.append(f"  <S {' '.join(parts)}/>")
    lines.append("</SegmentTimeline>")
    return lines


def _uniform(layout: Layout) -> int | None:
    """The common segment duration when every segment but the last has it."""
    durations = {s.duration for s in layout.segments[:-1]}
    if len(durations) > 1:
        return None
    common = durations.pop() if durations else layout.segments[-1].duration
    return common if layout.segments[-1].duration <= common else None


def _addressing(track: Track, layout: Layout) -> list[str]:
    init_range = f"0-{layout.init_size - 1}"
    if track.addressing == "template":
        head = _attrs(
            timescale=layout.timescale,
            initialization="$RepresentationID$/init.mp4",
            media="$RepresentationID$/$Number$.m4s",
            startNumber=1,
        )
        return [
            f"<SegmentTemplate {head}>",
            *("  " + x for x in _timeline(layout)),
            "</SegmentTemplate>",
        ]
    base = [f"<BaseURL>{escape(layout.format_id)}.mp4</BaseURL>"]
    if track.addressing == "base":
        head = _attrs(
            timescale=layout.timescale,
            indexRange=f"{layout.index_start}-{layout.index_end - 1}",
            indexRangeExact="true",
        )
        return [
            *base,
            f"<SegmentBase {head}>",
            f'  <Initialization range="{init_range}"/>',
            "</SegmentBase>",
        ]
    # SegmentList with byte ranges, the AM-C23 default (as Amazon's own MPDs).
    common = _uniform(layout)
    head = (
        _attrs(timescale=layout.timescale, duration=common)
        if common
        else _attrs(timescale=layout.timescale)
    )
    lines = [*base, f"<SegmentList {head}>", f'  <Initialization range="{init_range}"/>']
    if common is None:
        lines.extend("  " + x for x in _timeline(layout))
    lines.extend(
        f'  <SegmentURL mediaRange="{s.offset}-{s.offset + s.size - 1}"/>' for s in layout.segments
    )
    lines.append("</SegmentList>")
    return lines


def build_mpd(
    track: Track,
    layouts: Sequence[Layout],
    *,
    base_url: str,
    licence_url: str,
) -> str:
    """MPD text with exactly `layouts` as Representations (callers check non-emptiness)."""
    kid = str(uuid.UUID(bytes=track.kid))
    pssh = base64.b64encode(widevine_pssh([track.kid], track.scheme).raw).decode("ascii")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<MPD {_NAMESPACES} "
        + _attrs(
            type="static",
            profiles=MPD_PROFILE,
            minBufferTime="PT2S",
            mediaPresentationDuration=_duration(track.duration_s),
        )
        + ">",
        f"  <BaseURL>{escape(base_url)}</BaseURL>",
        f'  <Period id="0" start="PT0S" duration="{_duration(track.duration_s)}">',
    ]
    families: dict[str, list[Layout]] = {}
    for layout in sorted(layouts, key=lambda x: list(FORMATS).index(x.format_id)):
        families.setdefault(FORMATS[layout.format_id].family, []).append(layout)
    for set_id, (family, members) in enumerate(families.items()):
        aset = _attrs(
            id=set_id,
            contentType="audio",
            mimeType="audio/mp4",
            codecs=family,
            lang="und",
            segmentAlignment="true",
            subsegmentAlignment="true",
            subsegmentStartsWithSAP=1,
        )
        out.append(f"    <AdaptationSet {aset}>")
        out.append(
            f'      <ContentProtection schemeIdUri="{MP4PROTECTION_SCHEME}" '
            f'value="{track.scheme}" cenc:default_KID="{kid}"/>'
        )
        out.append(f'      <ContentProtection schemeIdUri="{WIDEVINE_SCHEME}" value="Widevine">')
        out.append(f"        <cenc:pssh>{pssh}</cenc:pssh>")
        out.append(f"        <dashif:Laurl>{escape(licence_url)}</dashif:Laurl>")
        out.append("      </ContentProtection>")
        ranked = sorted(members, key=lambda x: -x.bandwidth)
        for layout in members:
            fmt = FORMATS[layout.format_id]
            rep = _attrs(
                id=fmt.id,
                codecs=fmt.codecs,
                audioSamplingRate=fmt.sample_rate,
                bandwidth=layout.bandwidth,
                qualityRanking=ranked.index(layout) + 1,
            )
            out.append(f"      <Representation {rep}>")
            out.append(
                "        <AudioChannelConfiguration schemeIdUri="
                f'"urn:mpeg:mpegB:cicp:ChannelConfiguration" value="{fmt.channels}"/>'
            )
            if fmt.lossless:
                out.append(
                    f'        <SupplementalProperty schemeIdUri="{BIT_DEPTH_SCHEME}" '
                    f'value="{fmt.bit_depth}"/>'
                )
            out.extend("        " + x for x in _addressing(track, layout))
            out.append("      </Representation>")
        out.append("    </AdaptationSet>")
    out.append("  </Period>")
    out.append("</MPD>")
    return "\n".join(out) + "\n"
