"""ISO-BMFF box tree: a bounded reader and a byte-exact writer.

`parse_boxes(data)` turns bytes into `Box` trees; `Box.to_bytes()` serialises them back so that
parse -> serialise is byte-identical (64-bit headers, size-0 "to end" boxes and trailing padding
inside containers are preserved). No size or count field can make the reader allocate more than
the bytes present: every length is checked against the remaining bytes first, nesting depth
is capped, and one call reads at most `box_budget(len(input))` boxes, so memory stays
proportional to the input with a small constant. Every malformed input raises `MediaError`
naming the box path and byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from daemon.core.errors import MediaError

MAX_DEPTH = 24
#: boxes one call may read: a floor for init segments (tens of small boxes) plus one box
#: per 256 bytes; real media fragments carry kilobytes of samples per handful of boxes,
#: while 8-byte empty boxes would otherwise cost ~100 bytes of Python objects each
BOX_FLOOR = 4096
BYTES_PER_BOX = 256


def box_budget(n_bytes: int) -> int:
    """How many boxes a parse of `n_bytes` may produce before it is refused."""
    return BOX_FLOOR + n_bytes // BYTES_PER_BOX


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, n_bytes: int) -> None:
        self.limit = box_budget(n_bytes)
        self.left = self.limit

    def take(self, where: str, offset: int) -> None:
        self.left -= 1
        if self.left < 0:
            raise MediaError(f"more boxes than the {self.limit} a buffer of this size may"
                             " hold", box=where or "(top)", offset=offset)

# Containers whose payload is only child boxes, or a fixed prefix then child boxes.
_PLAIN_CONTAINERS = frozenset(
    {"moov", "trak", "mdia", "minf", "stbl", "mvex", "moof", "traf", "dinf", "edts", "sinf",
     "schi", "mfra", "rinf"}
)
_FULLBOX_LIST_CONTAINERS = frozenset({"stsd", "dref"})  # version/flags + entry_count, then boxes
AUDIO_SAMPLE_ENTRIES = frozenset(
    {"mp4a", "enca", "fLaC", "Opus", "ec-3", "ac-3", "ac-4", "mha1", "mhm1", "alac", "ipcm",
     "fpcm", "lpcm"}
)
VISUAL_SAMPLE_ENTRIES = frozenset(
    {"avc1", "avc3", "hvc1", "hev1", "encv", "vp08", "vp09", "av01", "dvh1", "dvhe"}
)


@dataclass(eq=True, slots=True)
class Box:
    """One box. For containers `payload` is the fixed prefix before `children`."""

    type: str
    payload: bytes = b""
    children: list[Box] | None = None
    usertype: bytes | None = None
    trailer: bytes = b""  # < 8 bytes after the last child that are not a box (seen in mp4a)
    large: bool = False  # header used a 64-bit largesize
    to_end: bool = False  # header size was 0 ("extends to end of file")
    offset: int = field(default=-1, compare=False)

    def body(self) -> bytes:
        """The box payload without its header (prefix + children + trailer)."""
        if self.children is None:
            return self.payload
        return b"".join([self.payload, *(c.to_bytes() for c in self.children), self.trailer])

    def to_bytes(self) -> bytes:
        body = self.body()
        tcode = self.type.encode("latin-1")
        extra = self.usertype or b""
        if self.large:
            size = 16 + len(extra) + len(body)
            return struct.pack(">I4sQ", 1, tcode, size) + extra + body
        size = 0 if self.to_end else 8 + len(extra) + len(body)
        if size > 0xFFFFFFFF:
            return struct.pack(">I4sQ", 1, tcode, size + 8) + extra + body
        return struct.pack(">I4s", size, tcode) + extra + body

    @property
    def size(self) -> int:
        return len(self.to_bytes())

    def find(self, *path: str) -> Box | None:
        """First descendant along `path` (child types), or None."""
        node: Box | None = self
        for name in path:
            if node is None or node.children is None:
                return None
            node = next((c for c in node.children if c.type == name), None)
        return node

    def find_all(self, name: str) -> list[Box]:
        return [c for c in (self.children or []) if c.type == name]


@dataclass(frozen=True, slots=True)
class Header:
    type: str
    offset: int
    header_size: int
    size: int
    usertype: bytes | None
    large: bool
    to_end: bool

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def body_start(self) -> int:
        return self.offset + self.header_size


def read_header(data: bytes | bytearray | memoryview, pos: int, end: int, path: str) -> Header:
    """Read one box header at `pos`; the box must fit inside [pos, end)."""
    if end - pos < 8:
        raise MediaError("truncated box header", box=path or "(top)", offset=pos)
    size, tcode = struct.unpack_from(">I4s", data, pos)
    btype = tcode.decode("latin-1")
    where = f"{path}/{btype}" if path else btype
    hdr = 8
    large = to_end = False
    if size == 1:
        if end - pos < 16:
            raise MediaError("truncated 64-bit box header", box=where, offset=pos)
        (size,) = struct.unpack_from(">Q", data, pos + 8)
        hdr = 16
        large = True
    elif size == 0:
        size = end - pos
        to_end = True
    usertype = None
    if btype == "uuid":
        if end - pos < hdr + 16:
            raise MediaError("truncated uuid box header", box=where, offset=pos)
        usertype = bytes(data[pos + hdr : pos + hdr + 16])
        hdr += 16
    if size < hdr:
        raise MediaError(f"box size {size} smaller than its header", box=where, offset=pos)
    if size > end - pos:
        raise MediaError(
            f"box size {size} exceeds the {end - pos} bytes present", box=where, offset=pos
        )
    return Header(btype, pos, hdr, size, usertype, large, to_end)


def iter_headers(
    data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None, path: str = ""
) -> Iterator[Header]:
    """Headers of consecutive boxes in [start, end) without copying payloads (lazily;
    at most `box_budget(end - start)` of them)."""
    stop = len(data) if end is None else end
    budget = _Budget(stop - start)
    pos = start
    while pos < stop:
        budget.take(path, pos)
        h = read_header(data, pos, stop, path)
        yield h
        pos = h.end


def _prefix_len(btype: str, data: bytes | memoryview, start: int, end: int, where: str) -> int:
    """Length of the fixed fields before child boxes, or -1 for a leaf box."""
    if btype in _PLAIN_CONTAINERS:
        return 0
    if btype in _FULLBOX_LIST_CONTAINERS:
        return 8
    if btype in AUDIO_SAMPLE_ENTRIES:
        if end - start < 28:
            raise MediaError("truncated audio sample entry", box=where, offset=start)
        (version,) = struct.unpack_from(">H", data, start + 8)
        extra = {0: 0, 1: 16, 2: 36}.get(version)
        if extra is None:
            raise MediaError(f"unknown audio sample entry version {version}", box=where,
                             offset=start)
        return 28 + extra
    if btype in VISUAL_SAMPLE_ENTRIES:
        return 78
    return -1


def _parse_range(
    data: bytes, start: int, end: int, path: str, depth: int, *, lenient_tail: bool,
    budget: _Budget,
) -> tuple[list[Box], bytes]:
    if depth > MAX_DEPTH:
        raise MediaError("boxes nested too deeply", box=path, offset=start)
    boxes: list[Box] = []
    pos = start
    while pos < end:
        if lenient_tail and end - pos < 8:
            return boxes, data[pos:end]
        budget.take(path, pos)
        h = read_header(data, pos, end, path)
        where = f"{path}/{h.type}" if path else h.type
        bstart = h.body_start
        prefix = _prefix_len(h.type, data, bstart, h.end, where)
        if prefix < 0:
            box = Box(h.type, data[bstart : h.end], None, h.usertype, b"", h.large, h.to_end,
                      h.offset)
        else:
            if h.end - bstart < prefix:
                raise MediaError("truncated container prefix", box=where, offset=bstart)
            kids, trailer = _parse_range(
                data, bstart + prefix, h.end, where, depth + 1, lenient_tail=True,
                budget=budget)
            box = Box(h.type, data[bstart : bstart + prefix], kids, h.usertype, trailer,
                      h.large, h.to_end, h.offset)
        boxes.append(box)
        pos = h.end
    return boxes, b""


def parse_boxes(data: bytes | bytearray | memoryview, path: str = "") -> list[Box]:
    """Parse a whole buffer into box trees. Raises MediaError on anything malformed."""
    raw = bytes(data)
    boxes, _ = _parse_range(raw, 0, len(raw), path, 0, lenient_tail=False,
                            budget=_Budget(len(raw)))
    return boxes


def parse_box(data: bytes | bytearray | memoryview, path: str = "") -> Box:
    """Parse exactly one box spanning the whole buffer."""
    boxes = parse_boxes(data, path)
    if len(boxes) != 1:
        raise MediaError(f"expected one box, found {len(boxes)}", box=path or "(top)", offset=0)
    return boxes[0]


def serialise(boxes: list[Box]) -> bytes:
    return b"".join(b.to_bytes() for b in boxes)


def find_first(boxes: list[Box], name: str) -> Box | None:
    return next((b for b in boxes if b.type == name), None)


def walk(boxes: list[Box], path: str = "") -> Iterator[tuple[str, Box]]:
    """Every box depth-first, with its slash path."""
    for b in boxes:
        where = f"{path}/{b.type}" if path else b.type
        yield where, b
        if b.children:
            yield from walk(b.children, where)
