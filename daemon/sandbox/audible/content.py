"""Generated audiobook content (AU-C16): AAC-in-MP4 made `aavd` (AAXC), MP3, HLS segments.

Audio is a tone per chapter, synthesised with numpy and encoded by PyAV (lazily imported)
entirely in memory. AAXC encryption follows spec §8.3: each sample is AES-128-CBC encrypted
on its own with the file key/IV, trailing `len % 16` bytes left clear, `mp4a` renamed `aavd`.
Call these from a thread: they are CPU work.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SAMPLE_RATE = 22050


@dataclass(frozen=True, slots=True)
class Rendition:
    """One title's audio in the forms the sandbox serves."""

    clear_mp4: bytes
    aaxc: bytes
    key: bytes
    iv: bytes
    chapter_ms: tuple[int, ...]


def chapter_length_ms(seconds: float) -> int:
    """Exact length of one generated chapter (whole samples)."""
    return int(SAMPLE_RATE * seconds) * 1000 // SAMPLE_RATE


def _pcm(frequencies: list[float], seconds: float) -> tuple[object, list[int]]:
    import numpy as np

    per = int(SAMPLE_RATE * seconds)
    t = np.arange(per, dtype=np.float32) / SAMPLE_RATE
    parts = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in frequencies]
    return np.concatenate(parts), [per * 1000 // SAMPLE_RATE] * len(frequencies)


def _encode(samples: object, fmt: str, codec: str) -> bytes:
    import av
    import numpy as np

    data = np.asarray(samples, dtype=np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream: Any = out.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = 48000
        frame_len = 1024
        for start in range(0, len(data), frame_len):
            chunk = data[start : start + frame_len].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def encode_mp3(frequencies: list[float], seconds: float) -> bytes:
    """A plain MP3 of the chapters (the `Mpeg` licence type)."""
    pcm, _ = _pcm(frequencies, seconds)
    return _encode(pcm, "mp3", "libmp3lame")


def encode_adts(frequencies: list[float], seconds: float) -> bytes:
    """Clear ADTS AAC, served as the single segment of the `Hls` streaming variant."""
    pcm, _ = _pcm(frequencies, seconds)
    return _encode(pcm, "adts", "aac")


def render(frequencies: list[float], seconds: float, key: bytes, iv: bytes) -> Rendition:
    """Encode the chapters to AAC/MP4 and build the AAXC form encrypted with key/IV."""
    pcm, chapter_ms = _pcm(frequencies, seconds)
    clear = _encode(pcm, "mp4", "aac")
    return Rendition(clear, aavd_encrypt(clear, key, iv), key, iv, tuple(chapter_ms))


# --- minimal ISO-BMFF walking for the aavd conversion -----------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(data: bytes | bytearray, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload_start, box_end) for each box in [start, end)."""
    found = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"bad box {kind!r} at {pos}")
        found.append((kind, pos + header, pos + size))
        pos += size
    return found


def _find(data: bytearray, path: list[bytes]) -> dict[bytes, tuple[int, int]]:
    """Collect the stbl children of the first audio track."""
    level = _boxes(data, 0, len(data))
    for name in path:
        match = next((b for b in level if b[0] == name), None)
        if match is None:
            raise ValueError(f"missing box {name!r}")
        level = _boxes(data, match[1], match[2])
    return {kind: (start, end) for kind, start, end in level}


def aavd_encrypt(mp4: bytes, key: bytes, iv: bytes) -> bytes:
    """Encrypt every sample in place (per-sample CBC, IV restarts) and rename mp4a->aavd."""
    data = bytearray(mp4)
    if data[4:8] != b"ftyp":
        raise ValueError("file does not start with ftyp")
    # FFmpeg's mov demuxer switches to AAXC decryption on this major brand.
    data[8:12] = b"aaxc"
    stbl = _find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl"])
    stsd_start, _ = stbl[b"stsd"]
    entry = stsd_start + 8  # version/flags + entry_count
    if data[entry + 4 : entry + 8] != b"mp4a":
        raise ValueError("first sample entry is not mp4a")
    data[entry + 4 : entry + 8] = b"aavd"

    sz_start, _ = stbl[b"stsz"]
    fixed, count = struct.unpack_from(">II", data, sz_start + 4)
    sizes = (
        [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", data, sz_start + 12))
    )
    if b"stco" in stbl:
        co_start, _ = stbl[b"stco"]
        n = struct.unpack_from(">I", data, co_start + 4)[0]
        offsets = list(struct.unpack_from(f">{n}I", data, co_start + 8))
    else:
        co_start, _ = stbl[b"co64"]
        n = struct.unpack_from(">I", data, co_start + 4)[0]
        offsets = list(struct.unpack_from(f">{n}Q", data, co_start + 8))
    sc_start, _ = stbl[b"stsc"]
    runs_n = struct.unpack_from(">I", data, sc_start + 4)[0]
    runs = [struct.unpack_from(">III", data, sc_start + 8 + 12 * i) for i in range(runs_n)]

    sample = 0
    for chunk_index, chunk_offset in enumerate(offsets, 1):
        per_chunk = next(r[1] for r in reversed(runs) if r[0] <= chunk_index)
        pos = chunk_offset
        for _ in range(per_chunk):
            if sample >= len(sizes):
                break
            size = sizes[sample]
            whole = size - size % 16
            if whole:
                enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
                data[pos : pos + whole] = enc.update(bytes(data[pos : pos + whole]))
                enc.finalize()
            pos += size
            sample += 1
    return bytes(data)


def hls_playlist(segment_url: str, seconds: float) -> str:
    """A clear single-segment HLS media playlist (the `Hls` streaming variant)."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        f"#EXT-X-TARGETDURATION:{int(seconds) + 1}\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:{seconds:.3f},\n{segment_url}\n#EXT-X-ENDLIST\n"
    )
