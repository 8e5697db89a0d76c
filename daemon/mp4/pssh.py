"""`pssh` boxes (versions 0 and 1): build for a system id, KIDs and data; parse back.

Well-known system ids are exported as `WIDEVINE`, `PLAYREADY` and `COMMON` (W3C ClearKey).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from daemon.core.errors import MediaError
from daemon.mp4.box import parse_box
from daemon.mp4.fields import Cursor

WIDEVINE = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
PLAYREADY = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
COMMON = uuid.UUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b")

MAX_PSSH_KIDS = 4096


@dataclass
class Pssh:
    system_id: uuid.UUID
    kids: list[bytes] = field(default_factory=list)
    data: bytes = b""
    version: int = 0
    flags: int = 0


def build_pssh(
    system_id: uuid.UUID | bytes | str,
    kids: Iterable[bytes] = (),
    data: bytes = b"",
    version: int | None = None,
) -> bytes:
    """A whole `pssh` box. Version 1 (with a KID list) when KIDs are given, unless told."""
    sid = _uuid(system_id)
    kid_list = [bytes(k) for k in kids]
    if any(len(k) != 16 for k in kid_list):
        raise MediaError("every KID must be 16 bytes", box="pssh")
    v = (1 if kid_list else 0) if version is None else version
    if v not in (0, 1):
        raise MediaError(f"pssh version {v} is not 0 or 1", box="pssh")
    body = struct.pack(">I", v << 24) + sid.bytes
    if v == 1:
        body += struct.pack(">I", len(kid_list)) + b"".join(kid_list)
    body += struct.pack(">I", len(data)) + data
    return struct.pack(">I4s", 8 + len(body), b"pssh") + body


def parse_pssh_payload(payload: bytes, path: str = "pssh", base: int = 0) -> Pssh:
    c = Cursor(payload, path, base)
    v, f = c.full_header()
    sid = uuid.UUID(bytes=c.take(16, "SystemID"))
    kids: list[bytes] = []
    if v > 0:
        n = c.u32("KID_count")
        if n > MAX_PSSH_KIDS:
            raise c.fail(f"KID_count {n} exceeds the limit of {MAX_PSSH_KIDS}")
        c.need(16 * n, f"{n} KIDs")
        kids = [c.take(16) for _ in range(n)]
    size = c.u32("DataSize")
    data = c.take(size, "Data")
    return Pssh(sid, kids, data, v, f)


def parse_pssh(box: bytes) -> Pssh:
    """Parse a whole `pssh` box (as found in an MPD's cenc:pssh, base64-decoded)."""
    b = parse_box(box, "pssh")
    if b.type != "pssh":
        raise MediaError(f"expected a pssh box, found {b.type!r}", box="pssh", offset=0)
    return parse_pssh_payload(b.payload, "pssh", 8)


def _uuid(value: uuid.UUID | bytes | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, bytes):
        if len(value) != 16:
            raise MediaError("system id must be 16 bytes", box="pssh")
        return uuid.UUID(bytes=value)
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise MediaError(f"bad system id {value!r}", box="pssh") from exc
