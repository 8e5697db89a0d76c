"""Segment addressing: each DASH rule against expectations worked out by hand."""

from __future__ import annotations

import struct
from fractions import Fraction
from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.core.errors import ManifestError, MediaError
from daemon.dash import expand_template, parse_mpd, plan_segments, resolve_index
from daemon.dash.model import Manifest, join_url
from daemon.dash.segments import SegmentPlan

URL = "https://cdn.example/music/track/manifest.mpd"


def mpd(body: str, *, duration: str = "PT10S", extra: str = "") -> str:
    return (f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            f'mediaPresentationDuration="{duration}" {extra}>{body}</MPD>')


def one(body: str, **kw: str) -> tuple[Manifest, SegmentPlan]:
    m = parse_mpd(mpd(body, **kw), URL)
    p = m.periods[0]
    return m, plan_segments(m, p, p.representations[0])


def rep(seg: str, rid: str = "a1", bw: int = 128000) -> str:
    return (f'<Period><AdaptationSet mimeType="audio/mp4" codecs="opus">'
            f'<Representation id="{rid}" bandwidth="{bw}">{seg}</Representation>'
            f'</AdaptationSet></Period>')


def timeline(ss: str, ts: int = 1, media: str = "$Time$.m4s", extra: str = "") -> str:
    return (f'<SegmentTemplate timescale="{ts}" media="{media}" initialization="init.mp4" {extra}>'
            f"<SegmentTimeline>{ss}</SegmentTimeline></SegmentTemplate>")


def spans(plan: SegmentPlan) -> list[tuple[float, float]]:
    return [(s.start, s.duration) for s in plan.segments]


def test_repeats_and_implicit_t() -> None:
    _, plan = one(rep(timeline('<S t="0" d="10" r="2"/><S d="5"/>')), duration="PT35S")
    assert spans(plan) == [(0, 10), (10, 10), (20, 10), (30, 5)]
    assert [s.time for s in plan.segments] == [0, 10, 20, 30]
    assert plan.segments[3].url == "https://cdn.example/music/track/30.m4s"
    assert plan.init is not None
    assert plan.init.url == "https://cdn.example/music/track/init.mp4"


def test_r_minus_one_bounded_by_next_t() -> None:
    _, plan = one(rep(timeline('<S t="0" d="4" r="-1"/><S t="10" d="5"/>')), duration="PT15S")
    assert spans(plan) == [(0, 4), (4, 4), (8, 2), (10, 5)]


def test_r_minus_one_bounded_by_period_end() -> None:
    _, plan = one(rep(timeline('<S t="0" d="4" r="-1"/>')), duration="PT9S")
    assert spans(plan) == [(0, 4), (4, 4), (8, 1)]


def test_gap_between_runs_is_kept() -> None:
    _, plan = one(rep(timeline('<S t="0" d="2"/><S t="10" d="2"/>')), duration="PT12S")
    assert spans(plan) == [(0, 2), (10, 2)]


def test_period_start_and_presentation_time_offset() -> None:
    body = ('<Period start="PT100S" duration="PT4S"><AdaptationSet><Representation id="r" '
            'bandwidth="1">'
            + timeline('<S t="1000" d="200" r="1"/>', ts=100,
                       extra='presentationTimeOffset="1000"')
            + "</Representation></AdaptationSet></Period>")
    _, plan = one(body, duration="PT104S")
    assert spans(plan) == [(100.0, 2.0), (102.0, 2.0)]
    assert [s.time for s in plan.segments] == [1000, 1200]


def test_number_with_start_number_and_width() -> None:
    seg = timeline('<S t="0" d="48000" r="2"/>', ts=48000,
                   media="$RepresentationID$/$Bandwidth$/seg-$Number%05d$-$$.m4s",
                   extra='startNumber="99"')
    _, plan = one(rep(seg, rid="flac", bw=900000), duration="PT3S")
    assert [s.url.rsplit("/", 3)[1:] for s in plan.segments] == [
        ["flac", "900000", "seg-00099-$.m4s"],
        ["flac", "900000", "seg-00100-$.m4s"],
        ["flac", "900000", "seg-00101-$.m4s"],
    ]
    assert [s.number for s in plan.segments] == [99, 100, 101]


def test_expand_template_identifiers() -> None:
    out = expand_template("$RepresentationID%03d$_$Time%012d$_$Unknown$_$Number$",
                          representation_id="x", bandwidth=5, number=7, time=123)
    assert out == "x_000000000123_$Unknown$_7"
    with pytest.raises(ManifestError, match="width"):
        expand_template("$Number%0999999999d$", representation_id="x", bandwidth=1, number=1)


def test_duration_numbering_with_short_last_segment() -> None:
    seg = ('<SegmentTemplate timescale="1000" duration="4000" startNumber="5" '
           'media="s$Number$.mp4"/>')
    _, plan = one(rep(seg), duration="PT10S")
    assert [(s.number, s.start, s.duration) for s in plan.segments] == [
        (5, 0.0, 4.0), (6, 4.0, 4.0), (7, 8.0, 2.0)
    ]
    assert plan.init is None


def test_segment_list_with_ranges() -> None:
    seg = ('<BaseURL>track.mp4</BaseURL><SegmentList timescale="10" duration="100">'
           '<Initialization sourceURL="init.mp4" range="0-799"/>'
           '<SegmentURL mediaRange="800-1999"/><SegmentURL media="b.mp4" mediaRange="2000-2999"/>'
           "</SegmentList>")
    _, plan = one(rep(seg), duration="PT20S")
    assert plan.init is not None
    assert (plan.init.url, plan.init.byte_range) == (
        "https://cdn.example/music/track/init.mp4", (0, 799))
    assert [(s.url, s.byte_range, s.start, s.duration) for s in plan.segments] == [
        ("https://cdn.example/music/track/track.mp4", (800, 1999), 0.0, 10.0),
        ("https://cdn.example/music/track/b.mp4", (2000, 2999), 10.0, 10.0),
    ]


def test_segment_list_with_timeline() -> None:
    seg = ('<SegmentList timescale="2"><SegmentTimeline><S t="0" d="3" r="1"/></SegmentTimeline>'
           '<SegmentURL media="a"/><SegmentURL media="b"/></SegmentList>')
    _, plan = one(rep(seg), duration="PT3S")
    assert spans(plan) == [(0.0, 1.5), (1.5, 1.5)]


def _sidx(first_offset: int, refs: list[tuple[int, int]], timescale: int = 1000) -> bytes:
    body = struct.pack(">IIIIIHH", 0, 1, timescale, 500, first_offset, 0, len(refs))
    for size, dur in refs:
        body += struct.pack(">III", size, dur, 0x90000000)
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


def test_segment_base_resolved_through_sidx() -> None:
    sidx = _sidx(16, [(1000, 2000), (1500, 2000), (700, 1000)])
    end = 900 + len(sidx) - 1
    seg = (f'<BaseURL>https://other.example/f.mp4</BaseURL>'
           f'<SegmentBase indexRange="900-{end}" timescale="1000" presentationTimeOffset="500">'
           f'<Initialization range="0-899"/></SegmentBase>')
    _, plan = one(rep(seg), duration="PT5S")
    assert plan.needs_index
    assert plan.index is not None
    assert (plan.index.url, plan.index.byte_range) == ("https://other.example/f.mp4", (900, end))
    assert plan.init is not None
    assert plan.init.byte_range == (0, 899)
    done = resolve_index(plan, sidx)
    first = end + 1 + 16
    assert [s.byte_range for s in done.segments] == [
        (first, first + 999), (first + 1000, first + 2499), (first + 2500, first + 3199)
    ]
    assert spans(done) == [(0.0, 2.0), (2.0, 2.0), (4.0, 1.0)]


def test_hierarchical_or_truncated_sidx_is_refused() -> None:
    seg = '<SegmentBase indexRange="0-99"/>'
    _, plan = one(rep(seg))
    nested = bytearray(_sidx(0, [(100, 10)]))
    struct.pack_into(">I", nested, len(nested) - 12, 0x80000000 | 100)
    with pytest.raises(ManifestError, match="hierarchical"):
        resolve_index(plan, bytes(nested))
    with pytest.raises(MediaError):
        resolve_index(plan, _sidx(0, [(100, 10)])[:-3])


def test_base_url_cross_product_in_document_order() -> None:
    body = ('<BaseURL serviceLocation="a">https://a.example/x/</BaseURL>'
            '<BaseURL serviceLocation="b">https://b.example/y/</BaseURL>'
            '<Period><BaseURL>p/</BaseURL><AdaptationSet><Representation id="r" bandwidth="1">'
            '<BaseURL>r1/</BaseURL><BaseURL>https://abs.example/z/</BaseURL>'
            '<SegmentTemplate media="s$Number$" duration="10"/></Representation>'
            "</AdaptationSet></Period>")
    m, plan = one(body, duration="PT10S")
    r = m.periods[0].representations[0]
    # child-major, an absolute child once (see test_other_players for the source)
    assert [(b.url, b.service_location) for b in r.base_urls] == [
        ("https://a.example/x/p/r1/", "a"),
        ("https://b.example/y/p/r1/", "b"),
        ("https://abs.example/z/", None),
    ]
    assert plan.segments[0].urls == (
        "https://a.example/x/p/r1/s1", "https://b.example/y/p/r1/s1",
        "https://abs.example/z/s1",
    )


def test_inheritance_across_levels() -> None:
    body = ('<Period duration="PT4S">'
            '<SegmentTemplate timescale="1000" media="period-$Number$" startNumber="10">'
            '<SegmentTimeline><S d="2000" r="1"/></SegmentTimeline></SegmentTemplate>'
            '<AdaptationSet><SegmentTemplate media="set-$Number$" initialization="i-$Bandwidth$"/>'
            '<Representation id="a" bandwidth="7"/>'
            '<Representation id="b" bandwidth="8"><SegmentTemplate startNumber="1"/>'
            "</Representation></AdaptationSet></Period>")
    m = parse_mpd(mpd(body, duration="PT4S"), URL)
    p = m.periods[0]
    a, b = (plan_segments(m, p, r) for r in p.representations)
    assert [s.url.rsplit("/", 1)[1] for s in a.segments] == ["set-10", "set-11"]
    assert [s.url.rsplit("/", 1)[1] for s in b.segments] == ["set-1", "set-2"]
    assert a.init is not None
    assert a.init.url.endswith("/i-7")
    assert spans(a) == [(0, 2), (2, 2)]


def test_single_base_url_without_segment_info() -> None:
    _, plan = one(rep("<BaseURL>whole.mp4</BaseURL>"), duration="PT7S")
    assert spans(plan) == [(0.0, 7.0)]
    assert plan.segments[0].url.endswith("/whole.mp4")


def test_multi_period_timing() -> None:
    body = ('<Period id="1" duration="PT3S"><AdaptationSet><Representation id="r" bandwidth="1">'
            '<SegmentTemplate media="a$Number$" duration="1"/></Representation></AdaptationSet>'
            '</Period><Period id="2"><AdaptationSet><Representation id="r" bandwidth="1">'
            '<SegmentTemplate media="b$Number$" duration="2"/></Representation></AdaptationSet>'
            "</Period>")
    m = parse_mpd(mpd(body, duration="PT7S"), URL)
    assert [(p.start, p.duration) for p in m.periods] == [(Fraction(0), Fraction(3)),
                                                         (Fraction(3), Fraction(4))]
    second = plan_segments(m, m.periods[1], m.periods[1].representations[0])
    assert spans(second) == [(3.0, 2.0), (5.0, 2.0)]


# --- hostile timing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ss", "duration", "message"),
    [
        ('<S t="0" d="1" r="2147483647"/>', "PT10S", "more than"),
        ('<S t="0" d="1" r="-1"/>', "P59D", "more than"),
        ('<S t="9223372036854775000" d="1000" r="5"/>', "PT1S", "overflows"),
        ('<S t="10" d="5"/><S t="2" d="5"/>', "PT20S", "goes back"),
        ('<S t="0" d="5" r="-1"/><S t="0" d="5"/>', "PT20S", "before"),
    ],
)
def test_hostile_timelines_are_refused_when_expanded(ss: str, duration: str,
                                                     message: str) -> None:
    m = parse_mpd(mpd(rep(timeline(ss)), duration=duration), URL)
    p = m.periods[0]
    with pytest.raises(ManifestError, match=message) as info:
        plan_segments(m, p, p.representations[0])
    assert "SegmentTimeline" in info.value.fields["element"]


@pytest.mark.parametrize(
    ("ss", "message"),
    [
        ('<S t="0" d="0"/>', "out of range"),
        ('<S t="0" d="-5"/>', "out of range"),
        ('<S t="0"/>', "without @d"),
        ('<S t="0" d="1e3"/>', "not an integer"),
        ('<S t="0" d="99999999999999999999999"/>', "out of range"),
        ('<S t="0" d="1" r="-2"/>', "out of range"),
    ],
)
def test_bad_timeline_values_are_refused_when_parsed(ss: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as info:
        parse_mpd(mpd(rep(timeline(ss))), URL)
    assert info.value.fields["element"].endswith("/S[0]")


def test_live_duration_template_without_period_end_is_refused() -> None:
    body = rep('<SegmentTemplate media="s$Number$" duration="2"/>')
    m = parse_mpd(f'<MPD type="dynamic">{body}</MPD>', URL)
    assert m.dynamic
    with pytest.raises(ManifestError, match="period duration"):
        plan_segments(m, m.periods[0], m.periods[0].representations[0])


def test_unparseable_media_url_is_a_manifest_error() -> None:
    m, _ = one(rep('<SegmentTemplate media="s$Number$" duration="5"/>'))
    bad = mpd(rep('<SegmentTemplate media="http://[::1/$Number$" duration="5"/>'))
    m = parse_mpd(bad, URL)
    with pytest.raises(ManifestError, match="bad URL"):
        plan_segments(m, m.periods[0], m.periods[0].representations[0])


@given(
    st.sampled_from(["https://a.example", "https://a.example/", "https://a.example/x/y",
                     "https://a.example/x/y/", "https://a.example/x?q=1", "http://h:81/p/q.mpd",
                     "https://u@h/a/b", "file:///tmp/x.mpd", "https://h/a#f",
                     "https://a.example/x//y/", "https://a.example/./y/", "https://h/a;p/b"]),
    st.text(alphabet="ab./?#:;%$-_~@+=!&()*,", max_size=12),
)
def test_join_url_fast_path_matches_urljoin(base: str, ref: str) -> None:
    assert join_url(base, ref, "x") == urljoin(base, ref)
