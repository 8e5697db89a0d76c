"""Manifest limits are checked while parsing, and timelines are expanded lazily.

Each hostile input is small on the wire and was expensive before refusal; here each is
refused (or planned) in memory that stays a small multiple of its size.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import pytest

from daemon.core.errors import ManifestError
from daemon.dash import parse_mpd, plan_segments
from daemon.dash.xmlsafe import DEFAULT_MAX_BYTES

URL = "https://cdn.example/music/manifest.mpd"
MIB = 1024 * 1024
T = TypeVar("T")


def peak(fn: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        value = fn()
        return value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused_peak(fn: Callable[[], object], match: str) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(ManifestError, match=match):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def wrap(body: str) -> str:
    return ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            f'mediaPresentationDuration="PT100000S">{body}</MPD>')


def test_the_manifest_cap_is_one_mib_as_the_spec_says() -> None:
    assert DEFAULT_MAX_BYTES == MIB
    text = wrap("<!--" + "x" * (MIB + 10) + "-->")
    with pytest.raises(ManifestError, match="exceeds the 1048576-byte limit"):
        parse_mpd(text, URL)


def test_a_huge_repeat_count_is_planned_lazily() -> None:
    text = wrap('<Period><AdaptationSet mimeType="audio/mp4" codecs="opus">'
                '<Representation id="a" bandwidth="1"><SegmentTemplate media="$Number$.m4s" '
                'initialization="i.mp4"><SegmentTimeline><S t="0" d="1" r="199999"/>'
                "</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>"
                "</Period>")
    assert len(text) < 1300

    def plan() -> object:
        m = parse_mpd(text, URL)
        return plan_segments(m, m.periods[0], m.periods[0].representations[0])

    result, used = peak(plan)
    segments = result.segments  # type: ignore[attr-defined]
    assert used < 2 * MIB
    assert len(segments) == 200_000
    last = segments[-1]
    assert last.number == 200_000
    assert last.start == 199_999.0
    assert last.url.endswith("/200000.m4s")
    assert segments[5].url.endswith("/6.m4s")
    assert [s.number for s in segments[199_998:]] == [199_999, 200_000]


def test_too_many_elements_are_refused_while_parsing() -> None:
    text = wrap("<a/>" * 200_000)
    assert len(text) < MIB
    used = refused_peak(lambda: parse_mpd(text, URL), "more than .* elements")
    assert used < 12 * MIB


def test_deep_nesting_is_refused_while_parsing() -> None:
    text = wrap("<a>" * 100_000 + "</a>" * 100_000)
    assert len(text) < MIB
    used = refused_peak(lambda: parse_mpd(text, URL), "nested deeper than")
    assert used < 6 * MIB


def test_a_flood_of_undeclared_prefixes_is_refused_before_parsing() -> None:
    text = wrap("".join(f"<p{i}:a/>" for i in range(90_000)))
    assert len(text) < MIB
    used = refused_peak(lambda: parse_mpd(text, URL), "undeclared namespace prefixes")
    assert used < 6 * MIB
