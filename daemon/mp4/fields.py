"""Typed views of the init-segment boxes CENC and DASH need, and the bounded reader that
every box view uses: parse a payload, build it back byte-exactly.

Each `parse_*` takes a box payload (bytes after the header) plus the box path and the absolute
offset of the payload for error messages; each `build_*` returns the payload bytes. Fields
that a count says exist are read only after checking that the bytes are there. The boxes of
a media segment's `moof` are daemon.mp4.fragment_fields'.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from daemon.core.errors import MediaError


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


def full_box_header(version: int, flags: int) -> bytes:
    """The version and flags word that opens a full box's payload."""
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
    out = full_box_header(t.version, 0) + bytes([0, pattern, t.is_protected, t.per_sample_iv_size])
    out += t.kid
    if t.is_protected == 1 and t.per_sample_iv_size == 0:
        out += bytes([len(t.constant_iv)]) + t.constant_iv
    return out


def parse_schm(data: bytes, path: str = "schm", base: int = 0) -> tuple[str, int]:
    c = Cursor(data, path, base)
    c.full_header()
    scheme = c.take(4, "scheme_type").decode("latin-1")
    return scheme, c.u32("scheme_version")


def build_schm(scheme: str, version: int = 0x10000) -> bytes:
    return full_box_header(0, 0) + scheme.encode("latin-1") + struct.pack(">I", version)


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
    return full_box_header(t.version, t.flags) + struct.pack(
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
