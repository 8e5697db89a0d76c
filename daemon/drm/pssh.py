"""PSSH boxes for DRM: parse with limits, read Widevine key ids, find (MPD or init
segment), choose per DRM system, build. Sans-IO.

The box value is daemon.mp4.pssh's `Pssh`; this adds the DRM semantics a CDM needs (the
KIDs a Widevine box names in its data) and hard limits on every length field.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Final

from daemon.core.errors import DrmError, MediaError
from daemon.mp4 import pssh as box_format
from daemon.mp4.box import read_header
from daemon.mp4.pssh import COMMON, PLAYREADY, WIDEVINE, Pssh, system_name

_MAX_KIDS: Final = 256
_MAX_BOX: Final = 1 << 20
_MAX_BOXES: Final = 4096
_CONTAINERS: Final = frozenset({"moov", "moof"})


def parse_pssh(raw: bytes) -> Pssh:
    """Parse one complete `pssh` box. Raises DrmError naming what is wrong.

    The box format is daemon.mp4's; this adds what a CDM needs: the KIDs a Widevine box
    names in its data, and a refusal of anything but exactly one whole box.
    """
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
    if len(box.key_ids) > _MAX_KIDS:
        raise DrmError("pssh KID count exceeds the limit", count=len(box.key_ids))
    if not box.key_ids and box.system_id == WIDEVINE:
        return replace(box, key_ids=tuple(widevine_key_ids(box.data)))
    return box


def new_pssh(system_id: uuid.UUID, key_ids: Sequence[bytes], data: bytes = b"") -> Pssh:
    """A box naming `key_ids`: v1 (v0 without KIDs); Widevine data is made from the KIDs."""
    _check_key_ids(key_ids)
    if system_id == WIDEVINE and not data:
        return widevine_pssh(key_ids)
    return Pssh.new(system_id, key_ids, data)


def build_pssh(system_id: uuid.UUID, key_ids: Sequence[bytes], data: bytes = b"") -> bytes:
    """The bytes of `new_pssh(...)`."""
    return new_pssh(system_id, key_ids, data).raw


def widevine_pssh(key_ids: Sequence[bytes], protection_scheme: str | None = None) -> Pssh:
    """A v0 Widevine box whose WidevinePsshData names the KIDs (and the scheme FourCC)."""
    _check_key_ids(key_ids)
    data = b"".join(b"\x12" + bytes([len(kid)]) + kid for kid in key_ids)  # key_id, field 2
    if protection_scheme is not None:  # protection_scheme, field 9: the FourCC as a uint32
        data += b"\x48" + _varint_bytes(int.from_bytes(protection_scheme.encode("ascii"), "big"))
    return Pssh(WIDEVINE, tuple(key_ids), data, 0)


def _check_key_ids(key_ids: Sequence[bytes]) -> None:
    for kid in key_ids:
        if len(kid) != 16:
            raise DrmError("a key id is 16 bytes", length=len(kid))


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


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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


def pssh_from_mpd(values: Iterable[str | bytes]) -> list[Pssh]:
    """Parse an MPD's `cenc:pssh` values: base64 texts, or boxes already decoded (bytes,
    as daemon.dash's ContentProtection.pssh holds them)."""
    boxes = []
    for value in values:
        boxes.append(parse_pssh(_decoded(value) if isinstance(value, str) else value))
    return boxes


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DrmError("cenc:pssh in the MPD is not base64") from None


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
        try:
            header = read_header(buf, pos, end, "")
        except MediaError:
            raise DrmError("box size runs past its parent", offset=pos) from None
        if header.type == "pssh":
            yield buf[pos : header.end]
        elif header.type in _CONTAINERS and depth == 0:
            yield from _walk(buf, header.body_start, header.end, depth + 1)
        pos = header.end


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
) -> Pssh:
    """The pssh box to give a CDM of `system_id`: its own system's box first; for the
    common system also any box naming KIDs; else one built from the default KIDs."""
    for box in candidates:
        if box.system_id == system_id:
            return box
    if system_id == COMMON:
        for box in candidates:
            if box.key_ids:
                return new_pssh(COMMON, box.key_ids)
    if default_kids:
        return new_pssh(system_id, default_kids)
    found = ", ".join(sorted({b.system_name for b in candidates})) or "none"
    raise DrmError(
        f"no PSSH for {system_name(system_id)} and no default KID to build one",
        found=found,
    )


__all__ = [
    "COMMON",
    "PLAYREADY",
    "WIDEVINE",
    "Pssh",
    "build_pssh",
    "choose_pssh",
    "keyids_init_data",
    "new_pssh",
    "parse_pssh",
    "pssh_from_init_segment",
    "pssh_from_mpd",
    "system_name",
    "widevine_key_ids",
    "widevine_pssh",
]
