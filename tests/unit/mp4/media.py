"""Test content made in process with PyAV (drm-and-media.md §6.2): clear and cenc fMP4."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import cast

import numpy as np

from daemon.mp4.box import iter_headers


@dataclass
class Fmp4:
    init: bytes
    segments: list[bytes]

    @property
    def whole(self) -> bytes:
        return self.init + b"".join(self.segments)


def tone(rate: int, seconds: float, seed: int = 1) -> np.ndarray:
    """Stereo int32 tone (440 Hz left, 660 Hz right) with a little noise, 24-bit left-aligned."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    left = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(n)
    right = 0.4 * np.sin(2 * np.pi * 660 * t) + 0.01 * rng.standard_normal(n)
    pcm = (np.stack([left, right]) * (2**23 - 1)).astype(np.int32) << 8
    return pcm


def make_fmp4(
    codec: str = "flac",
    rate: int = 48000,
    seconds: float = 2.0,
    frag_us: int = 500_000,
    key: bytes | None = None,
    kid: bytes | None = None,
    seed: int = 1,
    streams: int = 1,
    sample_fmt: str | None = None,
) -> bytes:
    """A fragmented MP4 with one audio track; encrypted (cenc) by FFmpeg's muxer if key given."""
    import av

    opts = {"movflags": "+frag_keyframe+empty_moov+default_base_moof",
            "frag_duration": str(frag_us)}
    if key is not None and kid is not None:
        opts.update(encryption_scheme="cenc-aes-ctr", encryption_key=key.hex(),
                    encryption_kid=kid.hex())
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options=opts) as out:
        fmt = sample_fmt or ("s32" if codec == "flac" else "s16")
        sts = [cast("av.AudioStream", out.add_stream(codec, rate=rate, layout="stereo"))
               for _ in range(streams)]
        for st in sts:
            if codec == "flac":
                st.codec_context.options = {"strict": "-2"}
            st.codec_context.format = fmt
        pcm = tone(rate, seconds, seed)
        if fmt == "s16":
            pcm = (pcm >> 16).astype(np.int16)
        frame_len = 4096 if codec == "flac" else 960
        pts = 0
        for start in range(0, pcm.shape[1], frame_len):
            chunk = np.ascontiguousarray(pcm[:, start : start + frame_len].T.reshape(1, -1))
            for st in sts:
                frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="stereo")
                frame.sample_rate = rate
                frame.pts = pts
                for packet in st.encode(frame):
                    out.mux(packet)
            pts += chunk.shape[1] // 2
        for st in sts:
            for packet in st.encode(None):
                out.mux(packet)
    return buf.getvalue()


def split(data: bytes) -> Fmp4:
    """Init (ftyp+moov) and one segment per moof (+ its mdat)."""
    init_end = 0
    segments: list[bytes] = []
    cur: int | None = None
    for h in iter_headers(data):
        if h.type == "moof":
            if cur is not None:
                segments.append(data[cur : h.offset])
            cur = h.offset
        elif cur is None:
            init_end = h.end
    if cur is not None:
        tail = [h for h in iter_headers(data) if h.type == "mfra"]
        end = tail[0].offset if tail else len(data)
        segments.append(data[cur:end])
    return Fmp4(data[:init_end], segments)


def packets(
    data: bytes, key: bytes | None = None, keys: dict[bytes, bytes] | None = None
) -> list[bytes]:
    """Packet payloads of every stream as PyAV demuxes them (FFmpeg decrypts when given keys)."""
    import av

    options = {"decryption_key": key.hex()} if key is not None else {}
    if keys:
        options = {"decryption_keys": ":".join(f"{k.hex()}={v.hex()}" for k, v in keys.items())}
    with av.open(io.BytesIO(data), "r", options=options) as c:
        return [bytes(p) for p in c.demux() if p.size]


def pcm(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data), "r") as c:
        frames = [f.to_ndarray() for f in c.decode(c.streams.audio[0])]
    return np.concatenate(frames, axis=1) if frames else np.zeros((1, 0))
