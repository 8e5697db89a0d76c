"""The box reader's budgets: a hostile segment of tiny boxes is refused early and small.

The attack input is 16 MiB of empty 8-byte boxes (2 Mi boxes): a real segment never
averages that little per box, so the reader refuses it by its count budget, in memory
proportional to the input, both at the top level (the decryptor's first step) and nested.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable

import pytest

from daemon.core.errors import MediaError
from daemon.mp4.box import box_budget, iter_headers, parse_boxes

SIXTEEN_MIB = 16 * 1024 * 1024
TINY = struct.pack(">I4s", 8, b"free")


def _peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(MediaError, match="more boxes than"):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sixteen_mib_of_tiny_top_level_boxes_is_refused_in_small_memory() -> None:
    data = TINY * (SIXTEEN_MIB // 8)
    assert _peak(lambda: parse_boxes(data)) < 2 * SIXTEEN_MIB
    assert _peak(lambda: list(iter_headers(data))) < 2 * SIXTEEN_MIB


def test_tiny_boxes_inside_a_container_count_against_the_same_budget() -> None:
    inner = TINY * (SIXTEEN_MIB // 8 - 1)
    data = struct.pack(">I4s", 8 + len(inner), b"moof") + inner
    assert _peak(lambda: parse_boxes(data)) < 2 * SIXTEEN_MIB


def test_the_budget_admits_real_segments() -> None:
    # 2 000 fragments of ~1 KiB each (moof + mdat), far denser than any real segment
    fragment = struct.pack(">I4s", 8 + 16, b"moof") + struct.pack(">I4s", 16, b"mfhd") \
        + b"\0" * 8 + struct.pack(">I4s", 1000, b"mdat") + b"\0" * 992
    data = fragment * 2000
    boxes = parse_boxes(data)
    assert len(boxes) == 4000
    assert len(list(iter_headers(data))) == 4000
    assert box_budget(len(data)) >= 6000
