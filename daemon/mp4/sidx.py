"""The `sidx` segment index (ISO/IEC 14496-12 §8.16.3): parsed into byte ranges and times,
and built from references."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from daemon.core.errors import MediaError
from daemon.mp4.box import read_header
from daemon.mp4.fields import Cursor

MAX_REFERENCES = 65535  # reference_count is a u16


@dataclass(frozen=True)
class SidxReference:
    reference_type: int  # 0 media, 1 another sidx
    size: int
    duration: int
    starts_with_sap: bool
    sap_type: int
    sap_delta_time: int


@dataclass(frozen=True)
class Sidx:
    version: int
    reference_id: int
    timescale: int
    earliest_presentation_time: int
    first_offset: int
    references: tuple[SidxReference, ...]


@dataclass(frozen=True)
class SubSegment:
    first_byte: int  # inclusive
    last_byte: int  # inclusive, as in an HTTP Range header
    start: int  # in timescale units
    duration: int
    is_index: bool


def parse_sidx_payload(payload: bytes, path: str = "sidx", base: int = 0) -> Sidx:
    c = Cursor(payload, path, base)
    v, _ = c.full_header()
    ref_id = c.u32("reference_ID")
    timescale = c.u32("timescale")
    if v == 0:
        ept, first = c.u32(), c.u32()
    else:
        ept, first = c.u64(), c.u64()
    c.u16("reserved")
    count = c.u16("reference_count")
    c.need(12 * count, f"{count} references")
    refs = []
    for _ in range(count):
        a, dur, sap = c.u32(), c.u32(), c.u32()
        refs.append(SidxReference(a >> 31, a & 0x7FFFFFFF, dur, bool(sap >> 31),
                                  (sap >> 28) & 7, sap & 0x0FFFFFFF))
    if timescale == 0:
        raise MediaError("sidx timescale is 0", box=path, offset=base)
    return Sidx(v, ref_id, timescale, ept, first, tuple(refs))


def build_sidx(s: Sidx) -> bytes:
    """The payload of `s` (after the box header); parse_sidx_payload reads it back."""
    wide = s.version == 1
    head = struct.pack(">BBHII", s.version, 0, 0, s.reference_id, s.timescale)
    times = struct.pack(">QQ" if wide else ">II", s.earliest_presentation_time, s.first_offset)
    refs = b"".join(
        struct.pack(
            ">III",
            (r.reference_type << 31) | (r.size & 0x7FFFFFFF),
            r.duration,
            (int(r.starts_with_sap) << 31) | (r.sap_type << 28) | (r.sap_delta_time & 0x0FFFFFFF),
        )
        for r in s.references
    )
    return head + times + struct.pack(">HH", 0, len(s.references)) + refs


def parse_sidx(data: bytes, sidx_offset: int = 0) -> tuple[Sidx, list[SubSegment]]:
    """Parse the `sidx` box at the start of `data`, which was read from file offset
    `sidx_offset` (the start of an indexRange). Returns the box and its subsegments with
    absolute, inclusive byte ranges."""
    h = read_header(data, 0, len(data), "")
    if h.type != "sidx":
        raise MediaError(f"expected sidx, found {h.type!r}", box=h.type, offset=sidx_offset)
    sidx = parse_sidx_payload(bytes(data[h.body_start : h.end]), "sidx", h.body_start)
    pos = sidx_offset + h.size + sidx.first_offset
    t = sidx.earliest_presentation_time
    subs = []
    for r in sidx.references:
        if r.size == 0:
            raise MediaError("sidx reference of size 0", box="sidx", offset=sidx_offset)
        subs.append(SubSegment(pos, pos + r.size - 1, t, r.duration, r.reference_type == 1))
        pos += r.size
        t += r.duration
    return sidx, subs
