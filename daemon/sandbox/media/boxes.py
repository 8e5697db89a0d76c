"""Just enough ISO-BMFF for the generator: split a fragmented MP4, time its fragments,
write `sidx` and Widevine `pssh` boxes (encryption itself is daemon.mp4.cenc's).

Input is always our own muxer's output, so malformed input is a bug: it raises
ContentError rather than being tolerated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from daemon.sandbox.media.errors import ContentError

_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"})


@dataclass(frozen=True, slots=True)
class Box:
    type: bytes
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    """The boxes laid out in data[start:end] (one level)."""
    stop = len(data) if end is None else end
    out: list[Box] = []
    pos = start
    while pos < stop:
        if stop - pos < 8:
            raise ContentError("truncated box header", offset=pos)
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        elif size == 0:
            size = stop - pos
        if size < 8 or pos + size > stop:
            raise ContentError("bad box size", box=kind.decode("latin-1"), offset=pos)
        out.append(Box(kind, pos, size))
        pos += size
    return out


def find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> Box:
    """The first box along `path` (container types only in between)."""
    box: Box | None = None
    lo, hi = start, end
    for kind in path:
        box = next((b for b in iter_boxes(data, lo, hi) if b.type == kind), None)
        if box is None:
            raise ContentError("box not found", box=b"/".join(path).decode())
        lo, hi = box.offset + 8, box.end
    assert box is not None
    return box


@dataclass(frozen=True, slots=True)
class Fragment:
    """One moof+mdat pair: byte range in the file and media time in the track timescale."""

    offset: int
    size: int
    start: int
    duration: int


@dataclass(frozen=True, slots=True)
class FragmentedMp4:
    init: bytes
    timescale: int
    fragments: tuple[Fragment, ...]
    data: bytes

    def fragment_bytes(self, index: int) -> bytes:
        f = self.fragments[index]
        return self.data[f.offset : f.offset + f.size]


def split(data: bytes) -> FragmentedMp4:
    """Init segment (everything before the first moof) and the moof+mdat fragments."""
    top = iter_boxes(data)
    first_moof = next((i for i, b in enumerate(top) if b.type == b"moof"), None)
    if first_moof is None:
        raise ContentError("not a fragmented MP4: no moof")
    init = data[: top[first_moof].offset]
    timescale = _timescale(init)
    default_duration = _trex_default_duration(init)
    fragments: list[Fragment] = []
    i = first_moof
    while i < len(top) and top[i].type == b"moof":
        if i + 1 >= len(top) or top[i + 1].type != b"mdat":
            raise ContentError("moof without mdat", offset=top[i].offset)
        moof, mdat = top[i], top[i + 1]
        start, duration = _moof_timing(data, moof, default_duration)
        fragments.append(Fragment(moof.offset, mdat.end - moof.offset, start, duration))
        i += 2
    return FragmentedMp4(init, timescale, tuple(fragments), data)


def _timescale(init: bytes) -> int:
    mdhd = find(init, [b"moov", b"trak", b"mdia", b"mdhd"])
    version = init[mdhd.offset + 8]
    pos = mdhd.offset + 12 + (16 if version == 1 else 8)
    return int(struct.unpack_from(">I", init, pos)[0])


def _trex_default_duration(init: bytes) -> int:
    trex = find(init, [b"moov", b"mvex", b"trex"])
    return int(struct.unpack_from(">I", init, trex.offset + 20)[0])


def _moof_timing(data: bytes, moof: Box, trex_duration: int) -> tuple[int, int]:
    traf = find(data, [b"traf"], moof.offset + 8, moof.end)
    children = {b.type: b for b in iter_boxes(data, traf.offset + 8, traf.end)}
    tfhd = children[b"tfhd"]
    flags = int.from_bytes(data[tfhd.offset + 9 : tfhd.offset + 12], "big")
    pos = tfhd.offset + 16
    pos += 8 if flags & 0x1 else 0
    pos += 4 if flags & 0x2 else 0
    default_duration = struct.unpack_from(">I", data, pos)[0] if flags & 0x8 else trex_duration
    tfdt = children[b"tfdt"]
    if data[tfdt.offset + 8] == 1:
        start = struct.unpack_from(">Q", data, tfdt.offset + 12)[0]
    else:
        start = struct.unpack_from(">I", data, tfdt.offset + 12)[0]
    duration = 0
    for trun in (b for b in iter_boxes(data, traf.offset + 8, traf.end) if b.type == b"trun"):
        tflags = int.from_bytes(data[trun.offset + 9 : trun.offset + 12], "big")
        count = struct.unpack_from(">I", data, trun.offset + 12)[0]
        pos = trun.offset + 16 + (4 if tflags & 0x1 else 0) + (4 if tflags & 0x4 else 0)
        fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tflags & bit]
        if not tflags & 0x100:
            duration += count * default_duration
            continue
        for _ in range(count):
            duration += struct.unpack_from(">I", data, pos)[0]
            pos += 4 * len(fields)
    return int(start), duration


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">I4sI", 12 + len(payload), kind, (version << 24) | flags) + payload


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def widevine_pssh(kid: bytes, scheme: str) -> bytes:
    """A v0 Widevine `pssh` box whose init data (WidevinePsshData) names the KID and scheme."""
    from daemon.mp4.pssh import WIDEVINE, build_pssh

    # protobuf: field 2 (key_id, bytes), field 9 (protection_scheme, uint32 FourCC varint).
    value = int.from_bytes(scheme.encode("ascii"), "big")
    varint = bytearray()
    while value > 0x7F:
        varint.append((value & 0x7F) | 0x80)
        value >>= 7
    varint.append(value)
    init_data = b"\x12" + bytes([len(kid)]) + kid + b"\x48" + bytes(varint)
    return build_pssh(WIDEVINE, data=init_data, version=0)


def sidx(
    timescale: int, fragments: tuple[Fragment, ...], sizes: list[int], track_id: int = 1
) -> bytes:
    """A v1 `sidx` indexing `fragments` (which follow it directly), with the given sizes."""
    refs = b"".join(
        struct.pack(">III", size & 0x7FFFFFFF, f.duration, 0x90000000)  # SAP, type 1
        for f, size in zip(fragments, sizes, strict=True)
    )
    earliest = fragments[0].start if fragments else 0
    payload = struct.pack(">IIQQHH", track_id, timescale, earliest, 0, 0, len(fragments))
    return full_box(b"sidx", 1, 0, payload + refs)
