"""PyAV work: source PCM per format, clear fragmented MP4, and PyAV's own `cenc` muxing.

Everything here imports av and numpy lazily and runs in the caller's thread (the
ContentStore runs it off the event loop).
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

from daemon.sandbox.media.boxes import split
from daemon.sandbox.media.catalog import Track
from daemon.sandbox.media.errors import ContentError
from daemon.sandbox.media.formats import AudioFormat
from daemon.sandbox.media.synth import quantize, synthesize

_SYNTH_RATE = 48000
_CHUNK = 8192


def _resample(stereo: Any, rate: int) -> Any:
    """float32 (2, n) at 48 kHz -> float32 (2, m) at `rate` (FFmpeg's swresample)."""
    import av
    import numpy as np

    if rate == _SYNTH_RATE:
        return stereo
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    parts: list[Any] = []
    for i in range(0, stereo.shape[1], _SYNTH_RATE):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(stereo[:, i : i + _SYNTH_RATE]), format="fltp", layout="stereo"
        )
        frame.sample_rate = _SYNTH_RATE
        frame.pts = i
        parts.extend(f.to_ndarray() for f in resampler.resample(frame))
    parts.extend(f.to_ndarray() for f in resampler.resample(None))
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


class SourceAudio:
    """The track's synthesized audio, rendered once and resampled per rate on demand."""

    def __init__(self, track: Track) -> None:
        self._track = track
        self._by_rate: dict[int, Any] = {}

    def float_at(self, rate: int) -> Any:
        if _SYNTH_RATE not in self._by_rate:
            self._by_rate[_SYNTH_RATE] = synthesize(
                self._track.music, _SYNTH_RATE, self._track.duration_s
            )
        if rate not in self._by_rate:
            self._by_rate[rate] = _resample(self._by_rate[_SYNTH_RATE], rate)
        return self._by_rate[rate]

    def pcm(self, fmt: AudioFormat) -> tuple[Any, str]:
        """(samples, PyAV sample format) exactly as fed to the encoder.

        Packed formats are (1, n * channels) interleaved; planar ones (channels, n).
        """
        import numpy as np

        stereo = self.float_at(fmt.sample_rate)
        if fmt.encoder == "flac":
            assert fmt.bit_depth is not None
            ints = quantize(stereo, fmt.bit_depth, self._track.music.seed ^ fmt.sample_rate)
            layout = "s16" if fmt.bit_depth == 16 else "s32"
            return np.ascontiguousarray(ints.T).reshape(1, -1), layout
        if fmt.encoder == "libopus":
            return np.ascontiguousarray(stereo.T).reshape(1, -1), "flt"
        return np.ascontiguousarray(stereo), "fltp"


def _frames(samples: Any, layout: str, rate: int) -> Any:
    import av

    channels = 2
    planar = layout.endswith("p")
    total = samples.shape[1] if planar else samples.shape[1] // channels
    for start in range(0, total, _CHUNK):
        stop = min(total, start + _CHUNK)
        chunk = samples[:, start:stop] if planar else samples[:, start * 2 : stop * 2]
        frame = av.AudioFrame.from_ndarray(chunk, format=layout, layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        yield frame


def mux_options(segment_seconds: float, ec3: bool = False) -> dict[str, str]:
    # EC-3 needs its first packet parsed before moov can be written (spec §6.2).
    moov = "delay_moov" if ec3 else "empty_moov"
    return {
        "movflags": f"+frag_keyframe+{moov}+default_base_moof",
        "frag_duration": str(int(segment_seconds * 1_000_000)),
    }


def encode_clear(fmt: AudioFormat, source: SourceAudio, segment_seconds: float) -> bytes:
    """A clear fragmented MP4 of one format (fragments of about `segment_seconds`)."""
    import av

    samples, layout = source.pcm(fmt)
    buf = io.BytesIO()
    options = mux_options(segment_seconds, ec3=fmt.encoder == "eac3")
    try:
        with av.open(buf, "w", format="mp4", options=options) as out:
            stream: Any = out.add_stream(fmt.encoder, rate=fmt.sample_rate, layout="stereo")
            codec_options: dict[str, str] = {}
            if fmt.encoder == "flac":
                stream.codec_context.format = layout
                assert fmt.bit_depth is not None
                codec_options["bits_per_raw_sample"] = str(fmt.bit_depth)
                # Level 2 is several times faster than the default and stays lossless.
                codec_options["compression_level"] = "2"
            else:
                stream.codec_context.format = layout
                assert fmt.bitrate is not None
                stream.codec_context.bit_rate = fmt.bitrate
                if fmt.encoder == "libopus":
                    # Constrained VBR keeps segments near the advertised bandwidth; the
                    # lowest complexity more than halves the encoding time (Opus is most of
                    # the catalog's generation time) at a quality cost nobody hears here.
                    codec_options["vbr"] = "constrained"
                    codec_options["compression_level"] = "0"
            stream.codec_context.options = codec_options
            for frame in _frames(samples, layout, fmt.sample_rate):
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except av.FFmpegError as exc:
        raise ContentError(f"encoding failed: {exc}", format=fmt.id) from None
    return buf.getvalue()


def remux(data: bytes, options: dict[str, str]) -> bytes:
    """The same packets in a new fragmented MP4 with extra muxer options (e.g. cenc)."""
    import av

    out_buf = io.BytesIO()
    try:
        with (
            av.open(io.BytesIO(data)) as container,
            av.open(out_buf, "w", format="mp4", options=options) as out,
        ):
            inp: Any = container
            src = inp.streams.audio[0]
            dst = out.add_stream_from_template(src)
            for packet in inp.demux(src):
                if packet.dts is None:
                    continue
                packet.stream = dst
                out.mux(packet)
    except av.FFmpegError as exc:
        raise ContentError(f"remuxing failed: {exc}") from None
    return out_buf.getvalue()


def pyav_cenc(clear: bytes, kid: bytes, key: bytes, segment_seconds: float) -> bytes:
    """`clear` encrypted by FFmpeg's mov muxer (cenc-aes-ctr, every fragment, no pssh)."""
    options = mux_options(segment_seconds)
    options.update(
        encryption_scheme="cenc-aes-ctr", encryption_key=key.hex(), encryption_kid=kid.hex()
    )
    encrypted = remux(clear, options)
    a, b = split(clear), split(encrypted)
    if [(f.start, f.duration) for f in a.fragments] != [(f.start, f.duration) for f in b.fragments]:
        raise ContentError("encrypted fragments do not line up with the clear ones")
    return encrypted
