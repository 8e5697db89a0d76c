"""PSSH boxes: parse, find (MPD or init segment), choose per DRM system, build. Sans-IO.

Only what the licence flow needs: system id, key ids and init data of each box, with hard
limits on every length field.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from daemon.core.errors import DrmError, MediaError

WIDEVINE: Final = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
PLAYREADY: Final = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
#: W3C "common" system id (ClearKey, key ids in a v1 box).
COMMON: Final = uuid.UUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b")

_MAX_KIDS: Final = 256
_MAX_BOX: Final = 1 << 20
_MAX_BOXES: Final = 4096
_CONTAINERS: Final = frozenset({b"moov", b"moof"})


@dataclass(frozen=True)
class Pssh:
    """One `pssh` box: its system, the KIDs it names (header or Widevine data), its data."""

    system_id: uuid.UUID
    version: int
    key_ids: tuple[bytes, ...]
    data: bytes
    raw: bytes

    @property
    def system_name(self) -> str:
        return _NAMES.get(self.system_id, str(self.system_id))


_NAMES: Final = {WIDEVINE: "Widevine", PLAYREADY: "PlayReady", COMMON: "ClearKey/common"}


def system_name(system_id: uuid.UUID) -> str:
    return _NAMES.get(system_id, str(system_id))


def parse_pssh(raw: bytes) -> Pssh:
    """Parse one complete `pssh` box. Raises DrmError naming what is wrong.

    The box format is daemon.mp4's; this adds what a CDM needs: the KIDs a Widevine box
    names in its data, and a refusal of anything but exactly one whole box.
    """
    from daemon.mp4 import pssh as box_format

    if len(raw) < 32 or len(raw) > _MAX_BOX:
        raise DrmError("PSSH box has an impossible size", size=len(raw))
    size, kind = struct.unpack_from(">I4s", raw, 0)
    if kind != b"pssh" or size != len(raw):
        raise DrmError("not a pssh box (wrong type or size)", box=kind.decode("latin-1"))
    if raw[8] > 1:
        raise DrmError("unsupported pssh version", version=raw[8])
    try:
        box = box_format.parse_pssh(raw)
    except MediaError as exc:
        raise DrmError(f"malformed pssh box: {exc.detail}") from None
    if len(box.kids) > _MAX_KIDS:
        raise DrmError("pssh KID count exceeds the limit", count=len(box.kids))
    kids = list(box.kids)
    if not kids and box.system_id == WIDEVINE:
        kids = widevine_key_ids(box.data)
    return Pssh(box.system_id, box.version, tuple(kids), box.data, raw)


def build_pssh(system_id: uuid.UUID, key_ids: Sequence[bytes], data: bytes = b"") -> bytes:
    """A v1 pssh box (v0 when there are no KIDs); Widevine data is generated from the KIDs."""
    from daemon.mp4 import pssh as box_format

    for kid in key_ids:
        if len(kid) != 16:
            raise DrmError("a key id is 16 bytes", length=len(kid))
    if system_id == WIDEVINE and not data:
        data = b"".join(b"\x12\x10" + kid for kid in key_ids)  # WidevinePsshData.key_ids
        return box_format.build_pssh(system_id, data=data, version=0)
    return box_format.build_pssh(system_id, key_ids, data)


def widevine_key_ids(data: bytes) -> list[bytes]:
    """key_ids (field 2) of a WidevinePsshData protobuf; [] when it names none."""
    kids: list[bytes] = []
    pos = 0
    try:
        while pos < len(data):
            tag, pos = _varint(data, pos)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 2:
                length, pos = _varint(data, pos)
                if pos + length > len(data):
                    raise ValueError("length beyond data")
                if field == 2 and length == 16 and len(kids) < _MAX_KIDS:
                    kids.append(data[pos : pos + length])
                pos += length
            elif wire == 5:
                pos += 4
            elif wire == 1:
                pos += 8
            else:
                raise ValueError("unsupported wire type")
    except (ValueError, IndexError):
        raise DrmError("Widevine PSSH data is not a valid protobuf") from None
    return kids


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def pssh_from_mpd(values: Iterable[str]) -> list[Pssh]:
    """Parse the base64 `cenc:pssh` texts of an MPD's ContentProtection elements."""
    boxes = []
    for text in values:
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise DrmError("cenc:pssh in the MPD is not base64") from None
        boxes.append(parse_pssh(raw))
    return boxes


def pssh_from_init_segment(segment: bytes) -> list[Pssh]:
    """Every `pssh` box in an init segment's `moov` (or `moof`)."""
    return [parse_pssh(raw) for raw in _walk(segment, 0, len(segment), 0)]


def _walk(buf: bytes, start: int, end: int, depth: int) -> Iterator[bytes]:
    pos = start
    seen = 0
    while pos + 8 <= end:
        seen += 1
        if seen > _MAX_BOXES:
            raise DrmError("too many boxes in init segment", offset=pos)
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise DrmError("truncated box header", offset=pos)
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise DrmError("box size runs past its parent", box=kind.decode("latin-1"), offset=pos)
        if kind == b"pssh":
            yield buf[pos : pos + size]
        elif kind in _CONTAINERS and depth == 0:
            yield from _walk(buf, pos + header, pos + size, depth + 1)
        pos += size


def keyids_init_data(data: bytes) -> list[bytes]:
    """KIDs of W3C `keyids` init data (`{"kids": [b64url...]}`)."""
    try:
        doc = json.loads(data)
        kids = [base64.urlsafe_b64decode(k + "=" * (-len(k) % 4)) for k in doc["kids"]]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise DrmError("init data is neither a pssh box nor keyids JSON") from None
    if not kids or any(len(k) != 16 for k in kids):
        raise DrmError("keyids init data must list 16-byte key ids")
    return kids


def choose_pssh(
    candidates: Sequence[Pssh], system_id: uuid.UUID, default_kids: Sequence[bytes] = ()
) -> bytes:
    """The pssh box to give a CDM of `system_id`: its own system's box first; for the
    common system also any box naming KIDs; else one built from the default KIDs."""
    for box in candidates:
        if box.system_id == system_id:
            return box.raw
    if system_id == COMMON:
        for box in candidates:
            if box.key_ids:
                return build_pssh(COMMON, box.key_ids)
    if default_kids:
        return build_pssh(system_id, default_kids)
    found = ", ".join(sorted({b.system_name for b in candidates})) or "none"
    raise DrmError(
        f"no PSSH for {system_name(system_id)} and no default KID to build one",
        found=found,
    )
