"""The streaming decryptor works in the caller's buffer: no copy of a segment is made, and
the result is the same as the copying path (and FFmpeg's) for every scheme and pattern."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from daemon.mp4 import cenc
from daemon.mp4.crypto import SLACK
from tests.unit.mp4.media import make_fmp4, pcm, split

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
KID = bytes.fromhex("0f0e0d0c0b0a09080706050403020100")

Subs = Callable[[int, int], list[tuple[int, int]]] | None
CASES: list[tuple[str, dict[str, object], Subs]] = [
    ("cenc", {}, None),
    ("cenc", {}, lambda i, n: [(5, n - 5)]),
    ("cbcs", {"constant_iv": b"\1" * 16}, None),
    ("cbcs", {"pattern": (1, 9)}, lambda i, n: [(3, n - 3)]),
    ("cbcs", {"pattern": (2, 3)}, lambda i, n: [(0, n)]),
]


@pytest.fixture(scope="module")
def clear() -> bytes:
    return make_fmp4("flac", rate=48000, seconds=2.0, frag_us=500_000)


@pytest.mark.parametrize(("scheme", "kw", "subs"), CASES)
def test_decrypt_into_returns_the_same_buffer_and_the_clear_stream(
        clear: bytes, scheme: str, kw: dict[str, object], subs: Subs) -> None:
    src = split(clear)
    init = cenc.encrypt_init(src.init, scheme=scheme, kid=KID, **kw)  # type: ignore[arg-type]
    segments = [cenc.encrypt_segment(init, s, KEY, subsamples=subs) for s in src.segments]
    dec = cenc.Decryptor(init, {KID: KEY})
    out = [dec.init()]
    for seg in segments:
        buf = bytearray(len(seg) + SLACK)
        buf[: len(seg)] = seg
        got = dec.decrypt_into(buf, len(seg))
        assert got is buf  # the caller's buffer, not a copy
        assert bytes(buf[: len(seg)]) == dec.segment(seg)  # same as the copying path
        assert bytes(buf[: len(seg)]) != seg  # and really decrypted
        out.append(bytes(buf[: len(seg)]))
    assert np.array_equal(pcm(b"".join(out)), pcm(clear))  # bit-identical audio


def test_decrypt_into_without_slack_still_works_in_that_buffer(clear: bytes) -> None:
    src = split(clear)
    init = cenc.encrypt_init(src.init, scheme="cbcs", kid=KID)
    seg = cenc.encrypt_segment(init, src.segments[0], KEY)
    dec = cenc.Decryptor(init, {KID: KEY})
    buf = bytearray(seg)
    assert dec.decrypt_into(buf) is buf
    assert bytes(buf) == dec.segment(seg)


def test_decrypt_into_keeps_the_buffer_memory(clear: bytes) -> None:
    """The buffer's storage is written where it is: its address does not move."""
    src = split(clear)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    seg = cenc.encrypt_segment(init, src.segments[1], KEY)
    buf = bytearray(len(seg) + SLACK)
    buf[: len(seg)] = seg
    address = np.frombuffer(buf, dtype=np.uint8).ctypes.data
    cenc.Decryptor(init, {KID: KEY}).decrypt_into(buf, len(seg))
    assert np.frombuffer(buf, dtype=np.uint8).ctypes.data == address
    assert bytes(buf[: len(seg)]) == cenc.decrypt_segment(init, seg, {KID: KEY})
