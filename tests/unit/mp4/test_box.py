"""Box reader/writer: byte-exact round trips, hard limits, typed fields, pssh and sidx."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.core.errors import DecryptError, MediaError
from daemon.mp4 import cenc
from daemon.mp4.box import MAX_DEPTH, Box, parse_box, parse_boxes, read_header, serialise
from daemon.mp4.fields import Tenc, Trex, build_tenc, build_trex, parse_tenc, parse_trex
from daemon.mp4.fragment_fields import (
    Saio,
    Saiz,
    SampleAux,
    Sbgp,
    Senc,
    Sgpd,
    Tfhd,
    Trun,
    build_saio,
    build_saiz,
    build_sbgp,
    build_senc,
    build_sgpd,
    build_tfhd,
    build_trun,
    parse_saio,
    parse_saiz,
    parse_sbgp,
    parse_senc,
    parse_sgpd,
    parse_tfhd,
    parse_trun,
)
from daemon.mp4.pssh import COMMON, PLAYREADY, WIDEVINE, build_pssh, parse_pssh
from daemon.mp4.sidx import build_sidx, parse_sidx, parse_sidx_payload
from tests.unit.mp4.media import make_fmp4, split

KEY = b"k" * 16
KID = b"i" * 16


@pytest.fixture(scope="module")
def content() -> tuple[bytes, bytes]:
    return make_fmp4("flac", seconds=1.0), make_fmp4("flac", seconds=1.0, key=KEY, kid=KID)


def test_real_files_round_trip_byte_exactly(content: tuple[bytes, bytes]) -> None:
    for data in content:
        boxes = parse_boxes(data)
        assert serialise(boxes) == data
        assert {b.type for b in boxes} >= {"ftyp", "moov", "moof", "mdat"}


def test_large_and_to_end_headers_are_preserved() -> None:
    large = struct.pack(">I4sQ", 1, b"free", 16 + 3) + b"abc"
    to_end = struct.pack(">I4s", 0, b"mdat") + b"xyz" * 5
    data = large + to_end
    boxes = parse_boxes(data)
    assert [(b.type, b.large, b.to_end) for b in boxes] == [("free", True, False),
                                                            ("mdat", False, True)]
    assert serialise(boxes) == data


def test_uuid_box_keeps_its_usertype() -> None:
    ut = uuid.uuid4().bytes
    data = struct.pack(">I4s", 8 + 16 + 2, b"uuid") + ut + b"hi"
    box = parse_box(data)
    assert (box.usertype, box.payload) == (ut, b"hi")
    assert box.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\0\0\0", "truncated box header"),
        (struct.pack(">I4s", 7, b"free"), "smaller than its header"),
        (struct.pack(">I4s", 100, b"free") + b"x" * 10, "exceeds"),
        (struct.pack(">I4sQ", 1, b"mdat", 2**64 - 1) + b"x", "exceeds"),
        (struct.pack(">I4sQ", 1, b"mdat", 4), "smaller than its header"),
        (struct.pack(">I4s", 1, b"mdat") + b"\0\0", "truncated 64-bit"),
        (struct.pack(">I4s", 12, b"uuid") + b"x" * 4, "truncated uuid"),
        (struct.pack(">I4s", 16, b"moov") + struct.pack(">I4s", 9, b"trak"), "exceeds"),
    ],
)
def test_malformed_headers_raise_media_error(data: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message) as info:
        parse_boxes(data)
    assert "offset" in info.value.fields


def test_deep_nesting_is_capped_without_recursion_error() -> None:
    data = b""
    for _ in range(MAX_DEPTH + 5):
        data = struct.pack(">I4s", 8 + len(data), b"moov") + data
    with pytest.raises(MediaError, match="nested too deeply"):
        parse_boxes(data)


def test_error_names_the_box_path() -> None:
    inner = struct.pack(">I4s", 50, b"tkhd")
    data = struct.pack(">I4s", 16, b"moov") + struct.pack(">I4s", 8, b"trak")[:0] + inner
    with pytest.raises(MediaError) as info:
        parse_boxes(data)
    assert info.value.fields["box"] == "moov/tkhd"
    assert info.value.fields["offset"] == 8


def test_header_reader_never_allocates_from_a_size_field() -> None:
    h = read_header(struct.pack(">I4sQ", 1, b"mdat", 24) + b"\0" * 8, 0, 24, "")
    assert (h.size, h.header_size, h.large) == (24, 16, True)


# --- typed boxes: build -> parse -> build is identity ---------------------------------------

u32 = st.integers(0, 2**32 - 1)
u8 = st.integers(0, 255)
opt32 = st.none() | u32


@given(st.builds(Tfhd, flags=st.sampled_from([0, 0x20000]), track_id=u32,
                 base_data_offset=st.none() | st.integers(0, 2**64 - 1),
                 sample_description_index=opt32, default_duration=opt32, default_size=opt32,
                 default_flags=opt32))
def test_tfhd_round_trip(t: Tfhd) -> None:
    payload = build_tfhd(t)
    assert build_tfhd(parse_tfhd(payload)) == payload
    assert parse_tfhd(payload).sample_description_index == t.sample_description_index


@given(st.integers(0, 0xF05).filter(lambda f: not f & ~0xF05), st.integers(0, 1),
       st.data())
def test_trun_round_trip(flags: int, version: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 30))
    samples: list[tuple[int | None, int | None, int | None, int | None]] = [
        (data.draw(u32), data.draw(u32), data.draw(u32),
         data.draw(st.integers(-(2**31), 2**31 - 1) if version else u32))
        for _ in range(n)]
    t = Trun(version, flags, data.draw(st.integers(-(2**31), 2**31 - 1)), data.draw(u32),
             samples)
    payload = build_trun(t)
    assert build_trun(parse_trun(payload)) == payload


@given(st.sampled_from([0, 8, 16]), st.booleans(), st.data())
def test_senc_saiz_saio_round_trip(iv_size: int, subs: bool, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 20))
    samples = [
        SampleAux(data.draw(st.binary(min_size=iv_size, max_size=iv_size)),
                  data.draw(st.lists(st.tuples(st.integers(0, 0xFFFF), u32), max_size=5))
                  if subs else None)
        for _ in range(n)
    ]
    payload = build_senc(Senc(0, 2 if subs else 0, samples))
    assert build_senc(parse_senc(payload, iv_size)) == payload
    sizes = data.draw(st.lists(u8, min_size=n, max_size=n))
    saiz = build_saiz(Saiz(0, 0, None, 0, sizes, n))
    assert build_saiz(parse_saiz(saiz)) == saiz
    saio = build_saio(Saio(data.draw(st.integers(0, 1)), 0, None, [data.draw(u32)]))
    assert build_saio(parse_saio(saio)) == saio


@given(st.integers(0, 1), st.integers(0, 15), st.integers(0, 15), st.sampled_from([0, 8, 16]),
       st.binary(min_size=16, max_size=16), st.sampled_from([b"a" * 8, b"b" * 16]))
def test_tenc_round_trip(v: int, crypt: int, skip: int, ivs: int, kid: bytes,
                         const: bytes) -> None:
    t = Tenc(v, crypt if v else 0, skip if v else 0, 1, ivs, kid, const if ivs == 0 else b"")
    payload = build_tenc(t)
    assert parse_tenc(payload) == t
    assert build_tenc(parse_tenc(payload)) == payload


@given(st.builds(Trex, track_id=u32, sample_description_index=u32, duration=u32, size=u32,
                 sample_flags=u32))
def test_trex_round_trip(t: Trex) -> None:
    assert parse_trex(build_trex(t)) == t


@given(st.integers(0, 1), st.lists(st.tuples(u32, u32), max_size=10),
       st.lists(st.binary(min_size=20, max_size=20), max_size=5))
def test_sample_group_round_trip(v: int, entries: list[tuple[int, int]],
                                 groups: list[bytes]) -> None:
    sbgp = build_sbgp(Sbgp(v, "seig", 0 if v else None, entries))
    assert build_sbgp(parse_sbgp(sbgp)) == sbgp
    sgpd = build_sgpd(Sgpd(1, "seig", 20, 0, groups))
    assert build_sgpd(parse_sgpd(sgpd)) == sgpd


@given(st.sampled_from([WIDEVINE, PLAYREADY, COMMON]),
       st.lists(st.binary(min_size=16, max_size=16), max_size=4), st.binary(max_size=64),
       st.sampled_from([None, 0, 1]))
def test_pssh_round_trip(system: uuid.UUID, kids: list[bytes], data: bytes,
                         version: int | None) -> None:
    box = build_pssh(system, kids, data, version)
    p = parse_pssh(box)
    assert (p.system_id, p.data) == (system, data)
    expect_v = (1 if kids else 0) if version is None else version
    assert p.version == expect_v
    assert p.key_ids == (tuple(kids) if expect_v == 1 else ())
    assert p.raw == box == p.to_bytes()
    assert parse_box(box).to_bytes() == box


def test_pssh_refuses_bad_input() -> None:
    with pytest.raises(MediaError):
        build_pssh(WIDEVINE, [b"short"])
    with pytest.raises(MediaError):
        parse_pssh(build_pssh(WIDEVINE)[:-1] + b"")  # whole box but missing DataSize bytes
    huge = struct.pack(">I4sI16sI", 32, b"pssh", 1 << 24, WIDEVINE.bytes, 2**32 - 1)
    with pytest.raises(MediaError):
        parse_pssh(huge)


# --- random box trees ---------------------------------------------------------------------

leaf_types = st.sampled_from(["free", "mdat", "tkhd", "mfhd", "abcd", "skip"])
container_types = st.sampled_from(["moov", "trak", "mdia", "traf", "moof", "sinf"])
leaves = st.builds(Box, leaf_types, st.binary(max_size=40), st.none(),
                   large=st.booleans())
trees = st.recursive(
    leaves,
    lambda kids: st.builds(Box, container_types, st.just(b""), st.lists(kids, max_size=4),
                           large=st.booleans()),
    max_leaves=20,
)


@given(st.lists(trees, max_size=5))
def test_random_trees_build_parse_serialise_identity(boxes: list[Box]) -> None:
    data = serialise(boxes)
    parsed = parse_boxes(data)
    assert parsed == boxes
    assert serialise(parsed) == data


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_segments_raise_only_our_errors(content: tuple[bytes, bytes],
                                                data: st.DataObject) -> None:
    enc = split(content[1])
    seg = bytearray(enc.segments[0][:4000])
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(seg) - 1))
        seg[pos] = data.draw(u8)
    cut = data.draw(st.integers(0, len(seg)))
    try:
        parse_boxes(bytes(seg[:cut]))
    except MediaError:
        pass
    try:
        cenc.decrypt_segment(enc.init, bytes(seg[:cut]), {KID: KEY})
    except (MediaError, DecryptError):
        pass


# --- sidx ---------------------------------------------------------------------------------


def _sidx(version: int, first_offset: int, refs: list[tuple[int, int, int]]) -> bytes:
    times = (struct.pack(">II", 900, first_offset) if version == 0
             else struct.pack(">QQ", 900, first_offset))
    body = struct.pack(">I", version << 24) + struct.pack(">II", 7, 1000) + times
    body += struct.pack(">HH", 0, len(refs))
    for rtype, size, dur in refs:
        body += struct.pack(">III", (rtype << 31) | size, dur, 0x90000000)
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


@pytest.mark.parametrize("version", [0, 1])
def test_sidx_references_become_inclusive_byte_ranges(version: int) -> None:
    box = _sidx(version, 100, [(0, 500, 2000), (0, 300, 1500), (1, 50, 10)])
    info, subs = parse_sidx(box, sidx_offset=1000)
    start = 1000 + len(box) + 100
    assert [(s.first_byte, s.last_byte) for s in subs] == [
        (start, start + 499), (start + 500, start + 799), (start + 800, start + 849)
    ]
    assert [s.start for s in subs] == [900, 2900, 4400]
    assert [s.is_index for s in subs] == [False, False, True]
    assert (info.timescale, info.reference_id) == (1000, 7)


@pytest.mark.parametrize("version", [0, 1])
def test_sidx_builds_back_byte_exactly(version: int) -> None:
    box = _sidx(version, 100, [(0, 500, 2000), (0, 300, 1500), (1, 50, 10)])
    parsed = parse_box(box)
    assert build_sidx(parse_sidx_payload(parsed.payload)) == parsed.payload


def test_sidx_reference_count_must_fit() -> None:
    box = bytearray(_sidx(0, 0, [(0, 10, 10)]))
    struct.pack_into(">H", box, len(box) - 12 - 2, 65535)
    with pytest.raises(MediaError, match="65535 references"):
        parse_sidx(bytes(box))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_inits_raise_only_our_errors(content: tuple[bytes, bytes],
                                             data: st.DataObject) -> None:
    enc = split(content[1])
    init = bytearray(enc.init)
    for _ in range(data.draw(st.integers(1, 6))):
        init[data.draw(st.integers(0, len(init) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(0, len(init)))
    mutated = bytes(init[:cut])
    try:
        cenc.decrypt_init(mutated)
        cenc.decrypt_segment(mutated, enc.segments[0], {KID: KEY})
    except MediaError:
        pass
