"""The sign-in form's `metadata1` field: an encrypted browser fingerprint (§3.3).

Format (a public fact; the code is ours): `ECdITeCs:` + base64 of XXTEA-encrypted
`"{CRC32 of the JSON, upper hex}#{JSON}"`, NUL-padded to whole 32-bit words, under the
fixed key in the contract. Sign-in pages that get an empty or broken value answer with
more CAPTCHAs, so the client sends a plausible one and the sandbox checks it. Pure.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import time
from typing import Any

from daemon.contracts import audible as c

_DELTA = 0x9E3779B9
_MASK = 0xFFFFFFFF


def _key() -> tuple[int, int, int, int]:
    k = struct.unpack("<4I", c.METADATA1_KEY)
    return k[0], k[1], k[2], k[3]


def _mx(z: int, y: int, total: int, ke: int) -> int:
    """The XXTEA mixing function; `ke` is the key word `k[(p & 3) ^ e]`."""
    return (((z >> 5) ^ (y << 2)) + ((y >> 3) ^ (z << 4))) ^ ((total ^ y) + (ke ^ z))


def xxtea_encrypt(words: list[int]) -> list[int]:
    """Corrected Block TEA over 32-bit words (at least two)."""
    v, n, k = list(words), len(words), _key()
    rounds, total, z = 6 + 52 // n, 0, words[-1]
    for _ in range(rounds):
        total = (total + _DELTA) & _MASK
        e = (total >> 2) & 3
        for p in range(n):
            y = v[(p + 1) % n]
            v[p] = (v[p] + _mx(z, y, total, k[(p & 3) ^ e])) & _MASK
            z = v[p]
    return v


def xxtea_decrypt(words: list[int]) -> list[int]:
    v, n, k = list(words), len(words), _key()
    rounds = 6 + 52 // n
    total = (rounds * _DELTA) & _MASK
    y = v[0]
    for _ in range(rounds):
        e = (total >> 2) & 3
        for p in range(n - 1, -1, -1):
            z = v[p - 1] if p > 0 else v[n - 1]
            v[p] = (v[p] - _mx(z, y, total, k[(p & 3) ^ e])) & _MASK
            y = v[p]
        total = (total - _DELTA) & _MASK
    return v


def encode(payload: dict[str, Any]) -> str:
    """The `metadata1` value for `payload`."""
    text = json.dumps(payload, separators=(",", ":"))
    plain = f"{binascii.crc32(text.encode()) & _MASK:08X}#{text}".encode()
    plain += b"\0" * (-len(plain) % 4 or 0)
    if len(plain) < 8:
        plain += b"\0" * (8 - len(plain))
    words = list(struct.unpack(f"<{len(plain) // 4}I", plain))
    cipher = struct.pack(f"<{len(words)}I", *xxtea_encrypt(words))
    return c.METADATA1_PREFIX + base64.b64encode(cipher).decode("ascii")


def decode(value: str) -> dict[str, Any] | None:
    """The payload of a `metadata1` value, or None when it is not a valid one."""
    if not value.startswith(c.METADATA1_PREFIX):
        return None
    try:
        raw = base64.b64decode(value[len(c.METADATA1_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 8 or len(raw) % 4:
        return None
    words = xxtea_decrypt(list(struct.unpack(f"<{len(raw) // 4}I", raw)))
    plain = struct.pack(f"<{len(words)}I", *words).rstrip(b"\0")
    crc, sep, text = plain.partition(b"#")
    try:
        if not sep or int(crc, 16) != binascii.crc32(text) & _MASK:
            return None
        payload = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def browser_metadata(user_agent: str, page_url: str, *, now_ms: int | None = None) -> str:
    """A fingerprint like the app's web view sends: timings, interaction counts, UA, URL."""
    start = now_ms if now_ms is not None else int(time.time() * 1000)
    payload = {
        "start": start,
        "interaction": {"keys": 0, "copies": 0, "cuts": 0, "pastes": 0, "clicks": 0,
                        "touches": 1},
        "version": "3.0.0",
        "timeZone": 0,
        "capabilities": {"js": {"audio": True, "geolocation": True, "localStorage": True,
                                "touch": True, "video": True, "webWorker": True},
                         "css": {"flexbox": True, "transform": True}},
        "userAgent": user_agent,
        "location": page_url,
        "webDriver": False,
        "history": {"length": 1},
        "screenInfo": "390-844-844-24-*-*-*",
        "plugins": "unknown",
        "timeToSubmit": 1800,
        "end": start + 1800,
    }
    return encode(payload)
