"""Placeholder cover images at the size a request asked for (AM-C13).

PNG is written directly (zlib, no imaging library); JPEG is encoded with PyAV's MJPEG
encoder, imported lazily. Both are deterministic for (image id, size).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from fractions import Fraction
from typing import Final

#: The size the sandbox pretends its originals have (no header -> this size).
ORIGINAL_SIZE: Final = (1000, 1000)
#: Largest side the sandbox renders, whatever the request says.
MAX_SIDE: Final = 2000


def colour_for(image_id: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(image_id.encode()).digest()
    return (64 + digest[0] % 160, 64 + digest[1] % 160, 64 + digest[2] % 160)


def _rows(image_id: str, width: int, height: int) -> list[bytes]:
    """A two-colour diagonal pattern: flat enough to compress, visibly per-image."""
    r, g, b = colour_for(image_id)
    light = bytes((min(255, r + 60), min(255, g + 60), min(255, b + 60)))
    dark = bytes((r, g, b))
    band = max(1, min(width, height) // 8)
    rows = []
    for y in range(height):
        row = bytearray()
        for x0 in range(0, width, band):
            run = min(band, width - x0)
            row += (light if ((x0 // band + y // band) % 2) else dark) * run
        rows.append(bytes(row))
    return rows


def render_png(image_id: str, width: int, height: int) -> bytes:
    raw = b"".join(b"\x00" + row for row in _rows(image_id, width, height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def render_jpeg(image_id: str, width: int, height: int) -> bytes:
    """JPEG via PyAV's MJPEG encoder (full-range 4:4:4, so any size works)."""
    import av
    import numpy as np

    pixels = np.frombuffer(b"".join(_rows(image_id, width, height)), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels.reshape(height, width, 3), format="rgb24")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuvj444p"
    codec.time_base = Fraction(1, 25)
    frame = frame.reformat(format="yuvj444p")
    packets = codec.encode(frame) + codec.encode(None)
    return b"".join(bytes(p) for p in packets)


def render(image_id: str, width: int, height: int, ext: str) -> bytes:
    width = max(1, min(MAX_SIDE, width))
    height = max(1, min(MAX_SIDE, height))
    if ext == "png":
        return render_png(image_id, width, height)
    return render_jpeg(image_id, width, height)
