"""Typed views of the boxes CENC and DASH need: parse a payload, build it back byte-exactly.

Each `parse_*` takes a box payload (bytes after the header) plus the box path and the absolute
offset of the payload for error messages; each `build_*` returns the payload bytes. Fields
that a count says exist are read only after checking that the bytes are there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from daemon.core.errors import MediaError

#: Most samples one trun or senc may declare: bounds memory when entries carry no bytes.
MAX_SAMPLES = 100_000


class Cursor:
    """Bounds-checked big-endian reader over one box payload."""

    __slots__ = ("base", "data", "path", "pos")

    def __init__(self, data: bytes | memoryview, path: str, base: int = 0) -> None:
        self.data = data
        self.path = path
        self.base = base
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.remaining:
            raise MediaError(
                f"truncated {what}: need {n} bytes, {self.remaining} left",
                box=self.path, offset=self.base + self.pos,
            )

    def take(self, n: int, what: str = "field") -> bytes:
        self.need(n, what)
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def _unpack(self, fmt: str, n: int, what: str) -> int:
        self.need(n, what)
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += n
        return int(v)

    def u8(self, what: str = "u8") -> int:
        return self._unpack(">B", 1, what)

    def u16(self, what: str = "u16") -> int:
        return self._unpack(">H", 2, what)

    def u24(self, what: str = "u24") -> int:
        hi = self.u8(what)
        return (hi << 16) | self.u16(what)

    def u32(self, what: str = "u32") -> int:
        return self._unpack(">I", 4, what)

    def s32(self, what: str = "s32") -> int:
        return self._unpack(">i", 4, what)

    def u64(self, what: str = "u64") -> int:
        return self._unpack(">Q", 8, what)

    def full_header(self) -> tuple[int, int]:
        v = self.u8("version")
        return v, self.u24("flags")

    def fail(self, message: str) -> MediaError:
        return MediaError(message, box=self.path, offset=self.base + self.pos)

    def end(self) -> None:
        if self.remaining:
            raise self.fail(f"{self.remaining} unexpected trailing bytes")


def _full(version: int, flags: int) -> bytes:
    return struct.pack(">I", (version << 24) | (flags & 0xFFFFFF))


# --- init segment ---------------------------------------------------------------------------


@dataclass
class Tenc:
    version: int = 0
    crypt_byte_block: int = 0
    skip_byte_block: int = 0
    is_protected: int = 1
    per_sample_iv_size: int = 8
    kid: bytes = b"\0" * 16
    constant_iv: bytes = b""


def parse_tenc(data: bytes, path: str = "tenc", base: int = 0) -> Tenc:
    c = Cursor(data, path, base)
    version, _flags = c.full_header()
    c.u8("reserved")
    pattern = c.u8("pattern")
    crypt, skip = (pattern >> 4, pattern & 15) if version >= 1 else (0, 0)
    protected = c.u8("default_isProtected")
    iv_size = c.u8("default_Per_Sample_IV_Size")
    kid = c.take(16, "default_KID")
    const = b""
    if protected == 1 and iv_size == 0:
        n = c.u8("default_constant_IV_size")
        const = c.take(n, "default_constant_IV")
    if iv_size not in (0, 8, 16):
        raise MediaError(f"per-sample IV size {iv_size} is not 0, 8 or 16", box=path, offset=base)
    return Tenc(version, crypt, skip, protected, iv_size, kid, const)


def build_tenc(t: Tenc) -> bytes:
    pattern = ((t.crypt_byte_block & 15) << 4 | (t.skip_byte_block & 15)) if t.version else 0
    out = _full(t.version, 0) + bytes([0, pattern, t.is_protected, t.per_sample_iv_size]) + t.kid
    if t.is_protected == 1 and t.per_sample_iv_size == 0:
        out += bytes([len(t.constant_iv)]) + t.constant_iv
    return out


def parse_schm(data: bytes, path: str = "schm", base: int = 0) -> tuple[str, int]:
    c = Cursor(data, path, base)
    c.full_header()
    scheme = c.take(4, "scheme_type").decode("latin-1")
    return scheme, c.u32("scheme_version")


def build_schm(scheme: str, version: int = 0x10000) -> bytes:
    return _full(0, 0) + scheme.encode("latin-1") + struct.pack(">I", version)


@dataclass
class Trex:
    version: int = 0
    flags: int = 0
    track_id: int = 1
    sample_description_index: int = 1
    duration: int = 0
    size: int = 0
    sample_flags: int = 0


def parse_trex(data: bytes, path: str = "trex", base: int = 0) -> Trex:
    c = Cursor(data, path, base)
    v, f = c.full_header()
    return Trex(v, f, c.u32(), c.u32(), c.u32(), c.u32(), c.u32())


def build_trex(t: Trex) -> bytes:
    return _full(t.version, t.flags) + struct.pack(
        ">5I", t.track_id, t.sample_description_index, t.duration, t.size, t.sample_flags
    )


def parse_tkhd_track_id(data: bytes, path: str = "tkhd", base: int = 0) -> int:
    c = Cursor(data, path, base)
    v, _ = c.full_header()
    c.take(16 if v == 1 else 8, "times")
    return c.u32("track_ID")


def parse_mdhd_timescale(data: bytes, path: str = "mdhd", base: int = 0) -> int:
    c = Cursor(data, path, base)
    v, _ = c.full_header()
    c.take(16 if v == 1 else 8, "times")
    return c.u32("timescale")


# --- media segment --------------------------------------------------------------------------

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
    return _full(t.version, f) + struct.pack(">I", t.track_id) + b"".join(parts)


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
    out = [_full(t.version, f), struct.pack(">I", len(t.samples))]
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
    out = [_full(s.version, s.flags)]
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
    out = _full(s.version, s.flags) + (s.aux_info_type or b"")[:8] * bool(s.flags & 1)
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
    out = _full(s.version, s.flags) + (s.aux_info_type or b"")[:8] * bool(s.flags & 1)
    out += struct.pack(">I", len(s.offsets))
    fmt = ">Q" if s.version else ">I"
    return out + b"".join(struct.pack(fmt, o) for o in s.offsets)


def parse_tfdt(data: bytes, path: str = "tfdt", base: int = 0) -> tuple[int, int]:
    """(version, baseMediaDecodeTime)."""
    c = Cursor(data, path, base)
    v, _ = c.full_header()
    return v, (c.u64() if v == 1 else c.u32())


def build_tfdt(version: int, decode_time: int) -> bytes:
    return _full(version, 0) + struct.pack(">Q" if version == 1 else ">I", decode_time)


def parse_mfhd(data: bytes, path: str = "mfhd", base: int = 0) -> int:
    c = Cursor(data, path, base)
    c.full_header()
    return c.u32("sequence_number")


def build_mfhd(seq: int) -> bytes:
    return _full(0, 0) + struct.pack(">I", seq)


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
    out = _full(s.version, 0) + s.grouping_type.encode("latin-1")
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
    out = _full(s.version, 0) + s.grouping_type.encode("latin-1")
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
