"""`pssh` boxes (versions 0 and 1) as one value: parsed once, built back from it. Sans-IO.

Well-known system ids are exported as `WIDEVINE`, `PLAYREADY` and `COMMON` (W3C ClearKey).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from daemon.core.errors import MediaError
from daemon.mp4.box import parse_box
from daemon.mp4.fields import Cursor

WIDEVINE: Final = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
PLAYREADY: Final = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
COMMON: Final = uuid.UUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b")

MAX_PSSH_KIDS = 4096

_NAMES: Final = {WIDEVINE: "Widevine", PLAYREADY: "PlayReady", COMMON: "ClearKey/common"}


def system_name(system_id: uuid.UUID) -> str:
    """A DRM system's name for messages, or its uuid when it is not a well-known one."""
    return _NAMES.get(system_id, str(system_id))


@dataclass(frozen=True)
class Pssh:
    """One `pssh` box: its system, the key ids it names, its system-specific data.

    Version 1 boxes carry `key_ids` in the header; a version-0 box may still name key ids
    inside `data` (a DRM system's reader fills them in), and building it writes only `data`.
    `raw` is the whole box: the bytes it was parsed from (`source`), else built from the
    fields; a changed box is made with `Pssh.new`, not `dataclasses.replace`.
    """

    system_id: uuid.UUID
    key_ids: tuple[bytes, ...] = ()
    data: bytes = b""
    version: int = 0
    flags: int = 0
    source: bytes = field(default=b"", compare=False, repr=False)

    @classmethod
    def new(
        cls,
        system_id: uuid.UUID | bytes | str,
        key_ids: Iterable[bytes] = (),
        data: bytes = b"",
        version: int | None = None,
    ) -> Pssh:
        """A box to build. Version 1 (with a KID list) when KIDs are given, unless told."""
        kids = tuple(bytes(k) for k in key_ids)
        if any(len(k) != 16 for k in kids):
            raise MediaError("every KID must be 16 bytes", box="pssh")
        v = (1 if kids else 0) if version is None else version
        if v not in (0, 1):
            raise MediaError(f"pssh version {v} is not 0 or 1", box="pssh")
        return cls(_uuid(system_id), kids if v == 1 else (), bytes(data), v)

    @property
    def system_name(self) -> str:
        return system_name(self.system_id)

    @property
    def raw(self) -> bytes:
        return self.source or self.to_bytes()

    def to_bytes(self) -> bytes:
        """The box built from the fields (a version-0 box writes no KID list)."""
        body = struct.pack(">I", (self.version << 24) | self.flags) + self.system_id.bytes
        if self.version >= 1:
            body += struct.pack(">I", len(self.key_ids)) + b"".join(self.key_ids)
        body += struct.pack(">I", len(self.data)) + self.data
        return struct.pack(">I4s", 8 + len(body), b"pssh") + body


def build_pssh(
    system_id: uuid.UUID | bytes | str,
    kids: Iterable[bytes] = (),
    data: bytes = b"",
    version: int | None = None,
) -> bytes:
    """A whole `pssh` box (`Pssh.new(...).raw`)."""
    return Pssh.new(system_id, kids, data, version).raw


def parse_pssh_payload(
    payload: bytes, path: str = "pssh", base: int = 0, *, source: bytes = b""
) -> Pssh:
    """A `pssh` box's payload (after the header); `source` is the whole box, if known."""
    c = Cursor(payload, path, base)
    v, f = c.full_header()
    sid = uuid.UUID(bytes=c.take(16, "SystemID"))
    kids: tuple[bytes, ...] = ()
    if v > 0:
        n = c.u32("KID_count")
        if n > MAX_PSSH_KIDS:
            raise c.fail(f"KID_count {n} exceeds the limit of {MAX_PSSH_KIDS}")
        c.need(16 * n, f"{n} KIDs")
        kids = tuple(c.take(16) for _ in range(n))
    size = c.u32("DataSize")
    data = c.take(size, "Data")
    return Pssh(sid, kids, data, v, f, source)


def parse_pssh(box: bytes) -> Pssh:
    """Parse a whole `pssh` box (as found in an MPD's cenc:pssh, base64-decoded)."""
    b = parse_box(box, "pssh")
    if b.type != "pssh":
        raise MediaError(f"expected a pssh box, found {b.type!r}", box="pssh", offset=0)
    return parse_pssh_payload(b.payload, "pssh", 8, source=bytes(box))


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
