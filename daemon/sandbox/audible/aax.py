"""The AAX variant of a title and the account's activation blob (spec §7.8, §8.2, §8.3).

AAX is AAXC's older sibling: the same `aavd` per-sample AES-128-CBC, but the file key/IV
are not in a voucher. They sit encrypted in a 56-byte DRM blob inside an `adrm` box of the
sample entry, and FFmpeg derives them from the account's 4 activation bytes and a fixed
key (facts of FFmpeg's `mov_read_adrm`, produced here in reverse):

    ik  = SHA1(fixed ‖ ab);  iiv = SHA1(fixed ‖ ik ‖ ab);  checksum = SHA1(ik[:16] ‖ iiv[:16])
    blob = AES-128-CBC(ik[:16], iiv[:16]) over the first 48 bytes of
           ab reversed (4) ‖ 0 (4) ‖ file_key (16) ‖ 0 (2) ‖ seed (16) ‖ 0 (14)
    file_iv = SHA1(seed ‖ file_key ‖ fixed)[:16]
    adrm payload = 8 bytes ‖ blob (56) ‖ 4 bytes ‖ checksum (20)

The activation blob `/license/token` answers ends in 8 records of 70 bytes, each followed
by a newline; its first 4 bytes are the activation bytes as a little-endian integer.
Activation bytes are derived from the customer id, so every device of the account (and a
restarted sandbox) gets the same ones, as with the real service. CPU work: use a thread.
"""

from __future__ import annotations

import hashlib
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .content import _CONTAINERS, _boxes, aavd_encrypt

# FFmpeg's default `audible_fixed_key`.
FIXED_KEY = bytes.fromhex("77214d4b196a87cd520045fd20a51d67")
_BLOB = 56


def activation_bytes_for(customer_id: str) -> bytes:
    """The account's 4 activation bytes (stable per customer)."""
    return hashlib.sha256(b"sandbox-activation:" + customer_id.encode()).digest()[:4]


def activation_blob(activation: bytes) -> bytes:
    """A `/license/token` answer that carries `activation` (mkb79's extraction reads it)."""
    records = bytearray(secrets.token_bytes(70 * 8))
    records[0:4] = struct.pack("<I", int.from_bytes(activation, "big"))
    tail = b"".join(bytes(records[i * 70 : (i + 1) * 70]) + b"\n" for i in range(8))
    header = b"group_id=sandbox-player\nplayer_type=software\n"
    return header + tail


def _drm_box(activation: bytes) -> tuple[bytes, bytes, bytes]:
    """(adrm box, file key, file IV)."""
    ik = hashlib.sha1(FIXED_KEY + activation).digest()  # noqa: S324 - the format's hash
    iiv = hashlib.sha1(FIXED_KEY + ik + activation).digest()  # noqa: S324
    checksum = hashlib.sha1(ik[:16] + iiv[:16]).digest()  # noqa: S324
    file_key = secrets.token_bytes(16)
    seed = secrets.token_bytes(16)
    plain = activation[::-1] + bytes(4) + file_key + bytes(2) + seed
    plain += bytes(_BLOB - len(plain))
    enc = Cipher(algorithms.AES(ik[:16]), modes.CBC(iiv[:16])).encryptor()
    blob = enc.update(plain[:48]) + enc.finalize() + plain[48:]
    file_iv = hashlib.sha1(seed + file_key + FIXED_KEY).digest()[:16]  # noqa: S324
    payload = bytes(8) + blob + bytes(4) + checksum
    return struct.pack(">I4s", 8 + len(payload), b"adrm") + payload, file_key, file_iv


def _grow(data: bytearray, pos: int, by: int) -> None:
    size = struct.unpack_from(">I", data, pos)[0]
    struct.pack_into(">I", data, pos, size + by)


def make_aax(clear_mp4: bytes, activation: bytes) -> bytes:
    """The AAX form of a clear AAC/MP4: `adrm` added to the sample entry, samples
    encrypted with the key/IV that `activation` unlocks, major brand `aax `."""
    box, file_key, file_iv = _drm_box(activation)
    data = bytearray(clear_mp4)
    top = _boxes(data, 0, len(data))
    moov = next(b for b in top if b[0] == b"moov")
    mdat = next(b for b in top if b[0] == b"mdat")
    if moov[1] < mdat[1]:
        raise ValueError("moov before mdat: chunk offsets would move")
    path = [moov]
    level = _boxes(data, moov[1], moov[2])
    for name in (b"trak", b"mdia", b"minf", b"stbl", b"stsd"):
        found = next(b for b in level if b[0] == name)
        path.append(found)
        start = found[1] + 8 if name == b"stsd" else found[1]
        level = _boxes(data, start, found[2]) if name in _CONTAINERS | {b"stsd"} else []
    entry = level[0]  # the mp4a sample entry; its end is where child boxes go
    if entry[0] != b"mp4a":
        raise ValueError("first sample entry is not mp4a")
    insert_at = entry[2]
    for _kind, payload_start, _end in [*path, entry]:
        _grow(data, payload_start - 8, len(box))
    data[insert_at:insert_at] = box
    out = bytearray(aavd_encrypt(bytes(data), file_key, file_iv))
    out[8:12] = b"aax "
    return bytes(out)
