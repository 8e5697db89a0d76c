"""PyAV work: source PCM per format and clear fragmented MP4 (encryption is daemon.mp4's).

Everything here imports av and numpy lazily and runs in the caller's thread (the
ContentStore runs it off the event loop).
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

from daemon.sandbox.media.catalog import Track
from daemon.sandbox.media.errors import ContentError
from daemon.sandbox.media.formats import AudioFormat
from daemon.sandbox.media.synth import quantize, synthesize

_SYNTH_RATE = 48000
_CHUNK = 32768  # samples per frame handed to PyAV (it re-frames for the codec)


def _interleave(planar: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(planar.T).reshape(1, -1)


def _resample(planar: Any, rate: int) -> Any:
    """float32 (2, n) at 48 kHz -> interleaved float32 (1, 2m) at `rate` (swresample)."""
    import av
    import numpy as np

    resampler = av.AudioResampler(format="flt", layout="stereo", rate=rate)
    parts: list[Any] = []
    for i in range(0, planar.shape[1], _SYNTH_RATE):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planar[:, i : i + _SYNTH_RATE]), format="fltp", layout="stereo"
        )
        frame.sample_rate = _SYNTH_RATE
        frame.pts = i
        parts.extend(f.to_ndarray() for f in resampler.resample(frame))
    parts.extend(f.to_ndarray() for f in resampler.resample(None))
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False)


class SourceAudio:
    """The track's synthesized audio (with its spoken title when `speech` and espeak-ng are
    available), rendered once and resampled per rate on demand.

    Kept interleaved (1, 2n): FLAC and Opus take packed samples, so no per-format copy.
    """

    def __init__(self, track: Track, *, speech: bool = False) -> None:
        self._track = track
        self._speech = speech
        self._planar: Any = None
        self._by_rate: dict[int, Any] = {}

    def _synth(self) -> Any:
        if self._planar is None:
            planar = synthesize(self._track.music, _SYNTH_RATE, self._track.duration_s)
            if self._speech:
                from daemon.sandbox.media.speech import mix_speech, speak

                text = f"{self._track.title}, by {self._track.artist.name}"
                voice = speak(text, _SYNTH_RATE)
                if voice is not None:
                    planar = mix_speech(planar, voice, _SYNTH_RATE)
            self._planar = planar
        return self._planar

    def interleaved_at(self, rate: int) -> Any:
        if rate not in self._by_rate:
            planar = self._synth()
            self._by_rate[rate] = (
                _interleave(planar) if rate == _SYNTH_RATE else _resample(planar, rate)
            )
        return self._by_rate[rate]

    def pcm(self, fmt: AudioFormat) -> tuple[Any, str]:
        """(samples, PyAV sample format) exactly as fed to the encoder.

        Packed formats are (1, n * channels) interleaved; planar ones (channels, n).
        """
        import numpy as np

        if fmt.encoder == "flac":
            assert fmt.bit_depth is not None
            samples = self.interleaved_at(fmt.sample_rate)
            ints = quantize(samples, fmt.bit_depth, self._track.music.seed ^ fmt.sample_rate)
            return ints, "s16" if fmt.bit_depth == 16 else "s32"
        if fmt.encoder == "libopus":
            return self.interleaved_at(fmt.sample_rate), "flt"
        if fmt.sample_rate == _SYNTH_RATE:
            return self._synth(), "fltp"
        packed = self.interleaved_at(fmt.sample_rate)
        return np.ascontiguousarray(packed.reshape(-1, 2).T), "fltp"


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
