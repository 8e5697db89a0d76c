"""Typed views of the boxes inside a media segment's `moof` (track fragment header, runs,
decode time, sequence number, CENC auxiliary information and sample groups): parse a
payload, build it back byte-exactly, with the conventions of daemon.mp4.fields.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from daemon.mp4.fields import Cursor, full_box_header

#: Most samples one trun or senc may declare: bounds memory when entries carry no bytes.
MAX_SAMPLES = 100_000


TFHD_BASE_DATA_OFFSET = 0x1
TFHD_SDI = 0x2
TFHD_DEFAULT_DURATION = 0x8
TFHD_DEFAULT_SIZE = 0x10
TFHD_DEFAULT_FLAGS = 0x20
TFHD_DEFAULT_BASE_IS_MOOF = 0x20000


@dataclass
class Tfhd:
    flags: int = TFHD_DEFAULT_BASE_IS_MOOF
    track_id: int = 1
    base_data_offset: int | None = None
    sample_description_index: int | None = None
    default_duration: int | None = None
    default_size: int | None = None
    default_flags: int | None = None
    version: int = 0


def parse_tfhd(data: bytes, path: str = "tfhd", base: int = 0) -> Tfhd:
    c = Cursor(data, path, base)
    v, f = c.full_header()
    t = Tfhd(flags=f, track_id=c.u32("track_ID"), version=v)
    if f & TFHD_BASE_DATA_OFFSET:
        t.base_data_offset = c.u64("base_data_offset")
    if f & TFHD_SDI:
        t.sample_description_index = c.u32("sample_description_index")
    if f & TFHD_DEFAULT_DURATION:
        t.default_duration = c.u32()
    if f & TFHD_DEFAULT_SIZE:
        t.default_size = c.u32()
    if f & TFHD_DEFAULT_FLAGS:
        t.default_flags = c.u32()
    return t


def build_tfhd(t: Tfhd) -> bytes:
    f = t.flags & ~(TFHD_BASE_DATA_OFFSET | TFHD_SDI | TFHD_DEFAULT_DURATION | TFHD_DEFAULT_SIZE
                    | TFHD_DEFAULT_FLAGS)
    parts = [b""]
    for bit, val, fmt in (
        (TFHD_BASE_DATA_OFFSET, t.base_data_offset, ">Q"),
        (TFHD_SDI, t.sample_description_index, ">I"),
        (TFHD_DEFAULT_DURATION, t.default_duration, ">I"),
        (TFHD_DEFAULT_SIZE, t.default_size, ">I"),
        (TFHD_DEFAULT_FLAGS, t.default_flags, ">I"),
    ):
        if val is not None:
            f |= bit
            parts.append(struct.pack(fmt, val))
    return full_box_header(t.version, f) + struct.pack(">I", t.track_id) + b"".join(parts)


TRUN_DATA_OFFSET = 0x1
TRUN_FIRST_FLAGS = 0x4
TRUN_DURATION = 0x100
TRUN_SIZE = 0x200
TRUN_FLAGS = 0x400
TRUN_CTO = 0x800
_TRUN_ORDER = (TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO)


@dataclass
class Trun:
    version: int = 0
    flags: int = 0
    data_offset: int | None = None
    first_sample_flags: int | None = None
    # one tuple per sample: (duration, size, flags, composition offset); None where absent
    samples: list[tuple[int | None, int | None, int | None, int | None]] = field(
        default_factory=list
    )


def parse_trun(data: bytes, path: str = "trun", base: int = 0) -> Trun:
    c = Cursor(data, path, base)
    v, f = c.full_header()
    count = c.u32("sample_count")
    t = Trun(v, f)
    if f & TRUN_DATA_OFFSET:
        t.data_offset = c.s32("data_offset")
    if f & TRUN_FIRST_FLAGS:
        t.first_sample_flags = c.u32("first_sample_flags")
    present = [b for b in _TRUN_ORDER if f & b]
    per = 4 * len(present)
    if count > MAX_SAMPLES:
        raise c.fail(f"sample_count {count} exceeds the limit of {MAX_SAMPLES}")
    c.need(count * per, f"{count} trun sample records")
    if not per:
        t.samples = [(None, None, None, None)] * count
        return t
    fmt = ">" + "".join("i" if b == TRUN_CTO and v else "I" for b in present)
    # one struct pass over the table; absent fields read the trailing None
    ix = [present.index(b) if b in present else len(present) for b in _TRUN_ORDER]
    a, b2, c2, d = ix
    t.samples = [(r[a], r[b2], r[c2], r[d]) for r in (
        (*rec, None) for rec in struct.iter_unpack(fmt, c.take(count * per)))]
    return t


def build_trun(t: Trun) -> bytes:
    f = t.flags
    out = [full_box_header(t.version, f), struct.pack(">I", len(t.samples))]
    if f & TRUN_DATA_OFFSET:
        out.append(struct.pack(">i", t.data_offset or 0))
    if f & TRUN_FIRST_FLAGS:
        out.append(struct.pack(">I", t.first_sample_flags or 0))
    cto_fmt = ">i" if t.version else ">I"
    for d, s, fl, o in t.samples:
        if f & TRUN_DURATION:
            out.append(struct.pack(">I", d or 0))
        if f & TRUN_SIZE:
            out.append(struct.pack(">I", s or 0))
        if f & TRUN_FLAGS:
            out.append(struct.pack(">I", fl or 0))
        if f & TRUN_CTO:
            out.append(struct.pack(cto_fmt, o or 0))
    return b"".join(out)


SENC_SUBSAMPLES = 0x2
Subsamples = list[tuple[int, int]]  # (clear bytes, protected bytes)


@dataclass
class SampleAux:
    """CENC auxiliary information of one sample: its IV and optional subsample map."""

    iv: bytes
    subsamples: Subsamples | None = None


def parse_aux(c: Cursor, iv_size: int, with_subsamples: bool) -> SampleAux:
    iv = c.take(iv_size, "sample IV")
    subs: Subsamples | None = None
    if with_subsamples:
        n = c.u16("subsample_count")
        c.need(6 * n, f"{n} subsample entries")
        subs = [(c.u16(), c.u32()) for _ in range(n)]
    return SampleAux(iv, subs)


def build_aux(a: SampleAux) -> bytes:
    out = a.iv
    if a.subsamples is not None:
        out += struct.pack(">H", len(a.subsamples))
        out += b"".join(struct.pack(">HI", cl, pr) for cl, pr in a.subsamples)
    return out


@dataclass
class Senc:
    version: int = 0
    flags: int = 0
    samples: list[SampleAux] = field(default_factory=list)
    # PIFF override (flags & 1): algorithm id, IV size, KID
    override: tuple[int, int, bytes] | None = None


def parse_senc(data: bytes, iv_size: int, path: str = "senc", base: int = 0,
               piff: bool = False) -> Senc:
    c = Cursor(data, path, base)
    v, f = c.full_header()
    override = None
    if piff and f & 1:
        alg = c.u24("AlgorithmID")
        iv_size = c.u8("IV_size")
        override = (alg, iv_size, c.take(16, "KID"))
    count = c.u32("sample_count")
    if count > MAX_SAMPLES:
        raise c.fail(f"sample_count {count} exceeds the limit of {MAX_SAMPLES}")
    c.need(count * iv_size + (2 * count if f & SENC_SUBSAMPLES else 0), f"{count} senc entries")
    if f & SENC_SUBSAMPLES:
        samples = [parse_aux(c, iv_size, True) for _ in range(count)]
    elif iv_size:  # fixed-size records: slice the IVs out in one pass
        table = c.take(count * iv_size, "senc IVs")
        samples = [SampleAux(table[i : i + iv_size]) for i in range(0, count * iv_size, iv_size)]
    else:
        samples = [SampleAux(b"") for _ in range(count)]
    c.end()
    return Senc(v, f, samples, override)


def build_senc(s: Senc) -> bytes:
    out = [full_box_header(s.version, s.flags)]
    if s.override is not None:
        alg, ivs, kid = s.override
        out.append(struct.pack(">I", alg)[1:] + bytes([ivs]) + kid)
    out.append(struct.pack(">I", len(s.samples)))
    out.extend(build_aux(a) for a in s.samples)
    return b"".join(out)


@dataclass
class Saiz:
    version: int = 0
    flags: int = 0
    aux_info_type: bytes | None = None  # (type, parameter) as 8 bytes when flags & 1
    default_size: int = 0
    sizes: list[int] = field(default_factory=list)
    sample_count: int = 0


def parse_saiz(data: bytes, path: str = "saiz", base: int = 0) -> Saiz:
    c = Cursor(data, path, base)
    v, f = c.full_header()
    aux = c.take(8, "aux_info_type") if f & 1 else None
    default = c.u8("default_sample_info_size")
    count = c.u32("sample_count")
    sizes: list[int] = []
    if default == 0:
        sizes = list(c.take(count, "sample_info_size table"))
    return Saiz(v, f, aux, default, sizes, count)


def build_saiz(s: Saiz) -> bytes:
    out = full_box_header(s.version, s.flags) + (s.aux_info_type or b"")[:8] * bool(s.flags & 1)
    out += bytes([s.default_size]) + struct.pack(">I", s.sample_count)
    if s.default_size == 0:
        out += bytes(s.sizes)
    return out


@dataclass
class Saio:
    version: int = 0
    flags: int = 0
    aux_info_type: bytes | None = None
    offsets: list[int] = field(default_factory=list)


def parse_saio(data: bytes, path: str = "saio", base: int = 0) -> Saio:
    c = Cursor(data, path, base)
    v, f = c.full_header()
    aux = c.take(8, "aux_info_type") if f & 1 else None
    count = c.u32("entry_count")
    width = 8 if v else 4
    c.need(count * width, f"{count} saio offsets")
    offs = [c.u64() if v else c.u32() for _ in range(count)]
    return Saio(v, f, aux, offs)


def build_saio(s: Saio) -> bytes:
    out = full_box_header(s.version, s.flags) + (s.aux_info_type or b"")[:8] * bool(s.flags & 1)
    out += struct.pack(">I", len(s.offsets))
    fmt = ">Q" if s.version else ">I"
    return out + b"".join(struct.pack(fmt, o) for o in s.offsets)


def parse_tfdt(data: bytes, path: str = "tfdt", base: int = 0) -> tuple[int, int]:
    """(version, baseMediaDecodeTime)."""
    c = Cursor(data, path, base)
    v, _ = c.full_header()
    return v, (c.u64() if v == 1 else c.u32())


def build_tfdt(version: int, decode_time: int) -> bytes:
    return full_box_header(version, 0) + struct.pack(">Q" if version == 1 else ">I", decode_time)


def parse_mfhd(data: bytes, path: str = "mfhd", base: int = 0) -> int:
    c = Cursor(data, path, base)
    c.full_header()
    return c.u32("sequence_number")


def build_mfhd(seq: int) -> bytes:
    return full_box_header(0, 0) + struct.pack(">I", seq)


@dataclass
class Sbgp:
    version: int = 0
    grouping_type: str = "seig"
    grouping_type_parameter: int | None = None
    entries: list[tuple[int, int]] = field(default_factory=list)  # (sample_count, group index)


def parse_sbgp(data: bytes, path: str = "sbgp", base: int = 0) -> Sbgp:
    c = Cursor(data, path, base)
    v, _ = c.full_header()
    gt = c.take(4, "grouping_type").decode("latin-1")
    param = c.u32() if v == 1 else None
    n = c.u32("entry_count")
    c.need(8 * n, f"{n} sbgp entries")
    return Sbgp(v, gt, param, [(c.u32(), c.u32()) for _ in range(n)])


def build_sbgp(s: Sbgp) -> bytes:
    out = full_box_header(s.version, 0) + s.grouping_type.encode("latin-1")
    if s.version == 1:
        out += struct.pack(">I", s.grouping_type_parameter or 0)
    out += struct.pack(">I", len(s.entries))
    return out + b"".join(struct.pack(">II", a, b) for a, b in s.entries)


@dataclass
class Sgpd:
    version: int = 1
    grouping_type: str = "seig"
    default_length: int = 0
    default_description_index: int = 0
    entries: list[bytes] = field(default_factory=list)


def parse_sgpd(data: bytes, path: str = "sgpd", base: int = 0) -> Sgpd:
    c = Cursor(data, path, base)
    v, _ = c.full_header()
    gt = c.take(4, "grouping_type").decode("latin-1")
    default_length = c.u32() if v == 1 else 0
    ddi = c.u32() if v >= 2 else 0
    n = c.u32("entry_count")
    entries: list[bytes] = []
    for _ in range(n):
        length = default_length
        if v == 1 and default_length == 0:
            length = c.u32("description_length")
        if v == 0 or length == 0:
            # without a length the entry layout is type specific: only seig is known here
            length = 20 if gt == "seig" else -1
            if length < 0:
                raise c.fail(f"sgpd {gt} entries without a length are not supported")
        entries.append(c.take(length, "sample group entry"))
    return Sgpd(v, gt, default_length, ddi, entries)


def build_sgpd(s: Sgpd) -> bytes:
    out = full_box_header(s.version, 0) + s.grouping_type.encode("latin-1")
    if s.version == 1:
        out += struct.pack(">I", s.default_length)
    if s.version >= 2:
        out += struct.pack(">I", s.default_description_index)
    out += struct.pack(">I", len(s.entries))
    for e in s.entries:
        if s.version == 1 and s.default_length == 0:
            out += struct.pack(">I", len(e))
        out += e
    return out
