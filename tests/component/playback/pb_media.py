"""Test media made in memory with PyAV: tone + noise, fragmented MP4 split into init/segments."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import numpy as np


@dataclass(frozen=True)
class Media:
    codec: str
    rate: int
    bits: int | None
    data: bytes  # the whole fMP4
    init: bytes
    segments: list[bytes]


def tone(rate: int, seconds: float, seed: int = 1) -> tuple[Any, Any]:
    """440 Hz left, 660 Hz right (catches channel swaps) plus a little noise."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    left = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(n)
    right = 0.5 * np.sin(2 * np.pi * 660 * t) + 0.01 * rng.standard_normal(n)
    return left, right


def make_fmp4(codec: str, rate: int, bits: int | None, seconds: float = 3.0,
              frag_s: float = 1.0, channels: int = 2) -> Media:
    buf = io.BytesIO()
    # E-AC-3 cannot be muxed with empty_moov (drm-and-media.md §6.2); delay_moov works
    # for clear content.
    moov = "delay_moov" if codec == "eac3" else "empty_moov"
    out = av.open(buf, "w", format="mp4", options={
        "movflags": f"+frag_keyframe+{moov}+default_base_moof",
        "frag_duration": str(int(frag_s * 1_000_000)),
    })
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    stream: Any = out.add_stream(codec, rate=rate, layout=layout)
    if codec == "flac":
        stream.codec_context.format = "s32" if bits == 24 else "s16"
        if bits == 24:
            stream.codec_context.options = {"bits_per_raw_sample": "24"}
    elif codec == "libopus":
        stream.bit_rate = 128_000
    elif codec == "eac3":
        stream.bit_rate = 384_000
    left, right = tone(rate, seconds)
    fmt = stream.codec_context.format.name
    n = len(left)
    step = 4096
    for i in range(0, n, step):
        sl = slice(i, min(n, i + step))
        inter = np.stack([left[sl], right[sl]] * 3, 1)[:, :channels]
        arr: Any
        if fmt == "fltp":
            arr = np.ascontiguousarray(inter.T.astype(np.float32))
        elif fmt == "s16":
            arr = (inter * 32767).astype(np.int16).reshape(1, -1)
        elif fmt == "s32":
            arr = ((inter * (2**23 - 1)).astype(np.int32) << 8).reshape(1, -1)
        else:
            raise AssertionError(fmt)
        frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout=layout)
        frame.sample_rate = rate
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    data = buf.getvalue()
    init, segments = split_fmp4(data)
    return Media(codec, rate, bits, data, init, segments)


def split_fmp4(data: bytes) -> tuple[bytes, list[bytes]]:
    """(ftyp+moov, [moof+mdat, ...]) from top-level boxes."""
    off = 0
    init = b""
    segments: list[bytes] = []
    current = b""
    while off < len(data):
        size = int.from_bytes(data[off:off + 4], "big")
        kind = data[off + 4:off + 8]
        box = data[off:off + size]
        off += size
        if kind in (b"ftyp", b"moov"):
            init += box
        elif kind == b"moof":
            if current:
                segments.append(current)
            current = box
        elif kind == b"mfra":
            continue
        else:
            current += box
    if current:
        segments.append(current)
    return init, segments


def reference_pcm(data: bytes, av_format: str | None = None, rate: int | None = None,
                  layout: str | None = None) -> tuple[bytes, list[float]]:
    """PyAV's own decoding of the same bytes (seekable BytesIO): interleaved PCM + frame pts."""
    container: Any = av.open(io.BytesIO(data))
    stream = container.streams.audio[0]
    resampler = av.AudioResampler(format=av_format, layout=layout, rate=rate) \
        if av_format else None
    parts: list[bytes] = []
    pts: list[float] = []
    frames: list[Any] = []
    for frame in container.decode(stream):
        pts.append(float(frame.pts * frame.time_base))
        frames.extend(resampler.resample(frame) if resampler else [frame])
    if resampler:
        frames.extend(resampler.resample(None))
    for frame in frames:
        width = frame.format.bytes * len(frame.layout.channels)
        parts.append(bytes(frame.planes[0])[: frame.samples * width])
    container.close()
    return b"".join(parts), pts


def segment_starts(media: Media) -> list[float]:
    """Start time (s) of each media segment, as an MPD SegmentTimeline would give it."""
    starts: list[float] = []
    for k in range(len(media.segments)):
        container: Any = av.open(io.BytesIO(media.init + media.segments[k]), format="mp4")
        packet = next(container.demux(container.streams.audio[0]))
        starts.append(float(packet.pts * packet.time_base))
        container.close()
    return starts


def segment_for(media: Media, target_s: float) -> int:
    """Index of the segment holding `target_s` (the engine's segment lookup)."""
    starts = segment_starts(media)
    return max(k for k, s in enumerate(starts) if s <= target_s)
