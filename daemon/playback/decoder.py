"""PyAV decoder for one track, fed clear fMP4 (init + media segments) as a non-seekable stream.

Contract: `start(init)` then `feed(segment)` (waits while `max_queued_segments` are queued),
`end_of_stream()`, and `read()` returns `PcmChunk`s (interleaved PCM in an output format the
output takes, with the chunk's position in frames from the track start) until None at the
end. PyAV runs on one worker thread per decoder; the event loop only hands bytes over.
The output keeps the source's rate and depth when the output takes them; otherwise
PyAV's resampler converts (logged once). Seeking: the caller restarts a decoder at the
segment holding the target and passes `skip_to_s`; the decoder drops (and trims) the
audio before the target, so the first chunk starts at the target sample. Bad data raises
`MediaError`; `aclose()` releases everything and is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from daemon.core.errors import MediaError
from daemon.core.resource import AsyncResource
from daemon.playback.decoder_worker import DecoderWorker, SegmentPipe
from daemon.playback.sinks.base import OutputCaps, PcmFormat, SampleFormat, pack_s32

log = logging.getLogger("daemon.playback")

#: PyAV sample format names for what we hand to sinks (packed/interleaved only).
_AV_FORMAT = {
    SampleFormat.S16_LE: "s16",
    SampleFormat.S32_LE: "s32",
    SampleFormat.S24_LE: "s32",  # decoded as s32, then shifted down (see pack_s32)
    SampleFormat.S24_3LE: "s32",  # decoded as s32, then packed to 3 bytes
    SampleFormat.FLOAT_LE: "flt",
}

#: Codecs this decoder accepts (FFmpeg decoder names).
SUPPORTED_CODECS = ("flac", "opus", "eac3", "ac3", "aac")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The coded stream as found in the init segment."""

    codec: str
    rate: int
    channels: int
    bit_depth: int | None  # None for lossy codecs
    av_format: str  # PyAV's decoded sample format ("s16", "s32", "fltp", ...)


@dataclass(frozen=True, slots=True)
class PcmChunk:
    """Interleaved PCM; `start_frame` counts output-rate frames from the track's start."""

    data: bytes
    format: PcmFormat
    start_frame: int

    @property
    def frames(self) -> int:
        return len(self.data) // self.format.frame_bytes

    @property
    def start_s(self) -> float:
        return self.start_frame / self.format.rate

    @property
    def end_frame(self) -> int:
        return self.start_frame + self.frames


_LOSSLESS_PREFERENCE = {
    16: (SampleFormat.S16_LE, SampleFormat.S32_LE, SampleFormat.S24_LE, SampleFormat.S24_3LE,
         SampleFormat.FLOAT_LE),
    24: (SampleFormat.S32_LE, SampleFormat.S24_LE, SampleFormat.S24_3LE, SampleFormat.FLOAT_LE,
         SampleFormat.S16_LE),
}
_LOSSY_PREFERENCE = (SampleFormat.S32_LE, SampleFormat.S24_LE, SampleFormat.S24_3LE,
                     SampleFormat.S16_LE, SampleFormat.FLOAT_LE)


def choose_output(source: SourceInfo, caps: OutputCaps) -> PcmFormat:
    """The format to send: the source's own rate/depth/channels when taken, else the nearest."""
    depth = source.bit_depth
    prefs = _LOSSLESS_PREFERENCE[16 if depth is not None and depth <= 16 else 24] \
        if depth is not None else _LOSSY_PREFERENCE
    sample_format = next((f for f in prefs if f in caps.sample_formats), None)
    if sample_format is None:
        raise MediaError("output takes no sample format the decoder can produce",
                         formats=",".join(caps.sample_formats))
    channels = min(max(source.channels, caps.min_channels), caps.max_channels)
    return PcmFormat(caps.best_rate(source.rate), channels, sample_format)


def flac_bit_depth(extradata: bytes | None) -> int | None:
    """Bits per sample from a FLAC STREAMINFO block (the `dfLa` payload PyAV exposes)."""
    if not extradata:
        return None
    data = extradata[4:] if extradata[:4] == b"fLaC" else extradata
    # dfLa may carry the metadata block header (4 bytes) before the 34-byte STREAMINFO.
    if len(data) >= 38 and len(data) != 34 and data[0] & 0x7F == 0:
        data = data[4:]
    if len(data) < 14:
        return None
    return (((data[12] & 1) << 4) | (data[13] >> 4)) + 1


# --- the decoder ------------------------------------------------------------------------


class Decoder(AsyncResource):
    """Decodes one track (or one seek) from fMP4 fed segment by segment."""

    def __init__(self, caps: OutputCaps, *, max_queued_segments: int = 8,
                 chunk_ms: int = 500, first_chunk_ms: int = 100,
                 name: str = "decoder") -> None:
        self._caps = caps
        self._pipe = SegmentPipe(max_queued_segments)
        # Each chunk is one hand-off between the worker and the event loop (a cross-core
        # wake-up each way): large chunks once playing, a small first one for first audio.
        self._chunk_ms = first_chunk_ms
        self._later_chunk_ms = chunk_ms
        self.name = name
        self._worker = DecoderWorker(f"speakerd-{name}")
        self._read_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._done = False
        # Worker-thread state (touched only on the worker thread).
        self._container: Any = None
        self._stream: Any = None
        self._packets: Any = None
        self._resampler: Any = None
        self._flushed = False
        self._skip_to_s: float | None = None
        self._next_frame: int | None = None
        self._inflight: asyncio.Future[PcmChunk | None] | None = None
        self.source: SourceInfo | None = None
        self.output: PcmFormat | None = None

    async def start(self, init: bytes, *, skip_to_s: float | None = None) -> None:
        """Queue the init segment; `skip_to_s` drops audio before that track time (seek)."""
        if self._started:
            raise MediaError("decoder already started")
        self._started = True
        self._skip_to_s = skip_to_s
        self._pipe.put_init(init)

    async def feed(self, segment: bytes | bytearray | memoryview) -> None:
        """Queue one clear media segment (moof+mdat); waits while the queue is full."""
        await self._pipe.put(segment)

    async def end_of_stream(self) -> None:
        self._pipe.end()

    @property
    def queued_segments(self) -> int:
        return self._pipe.queued

    async def read(self) -> PcmChunk | None:
        """The next chunk (about `first_chunk_ms`, then `chunk_ms`), or None at the end."""
        if not self._started:
            raise MediaError("decoder not started")
        async with self._read_lock:
            if self._done or self._closed:
                return None
            if self._inflight is None:
                loop = asyncio.get_running_loop()
                self._inflight = self._worker.submit(loop, self._decode_chunk)
            try:
                # A cancelled reader leaves the batch running; the next read() collects it,
                # so no audio is lost to a cancellation.
                chunk = await asyncio.shield(self._inflight)
            except asyncio.CancelledError:
                raise
            except MediaError:
                self._done = True
                raise
            finally:
                if self._inflight.done():
                    self._inflight = None
            if chunk is None:
                self._done = True
            return chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pipe.close()  # unblocks a worker waiting for bytes
        inflight = self._inflight
        if inflight is not None:  # a batch nobody will read: its failure is expected
            inflight.add_done_callback(
                lambda f: f.cancelled() or f.exception())
        loop = asyncio.get_running_loop()
        try:
            await self._worker.submit(loop, self._close_worker)
        finally:
            self._worker.stop()


    # --- worker thread ----------------------------------------------------------------

    def _close_worker(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # closing a half-read container: nothing left to save
                log.debug("decoder.close_failed")

    def _open(self) -> None:
        import av

        try:
            container = av.open(self._pipe, mode="r", format="mp4")
        except av.FFmpegError as exc:
            raise MediaError("cannot open media stream", reason=_reason(exc)) from None
        self._container = container
        if not container.streams.audio:
            raise MediaError("stream has no audio track")
        stream = container.streams.audio[0]
        cc = stream.codec_context
        if cc.name not in SUPPORTED_CODECS:
            raise MediaError("unsupported codec", codec=cc.name)
        depth = flac_bit_depth(cc.extradata) if cc.name == "flac" else None
        if cc.name == "flac" and depth is None:
            depth = 16 if cc.format.name.startswith("s16") else 24
        self.source = SourceInfo(cc.name, cc.sample_rate, cc.channels, depth, cc.format.name)
        self.output = out = choose_output(self.source, self._caps)
        self._stream = stream
        self._packets = container.demux(stream)
        direct = _AV_FORMAT[out.sample_format] == cc.format.name and out.rate == cc.sample_rate \
            and out.channels == cc.channels
        if not direct:
            # Keep the source's own layout when the channel count stays (no remix matrix).
            layout = cc.layout.name if out.channels == cc.channels else \
                {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(out.channels)
            if layout is None:
                raise MediaError("unsupported output channel count", channels=out.channels)
            self._resampler = av.AudioResampler(format=_AV_FORMAT[out.sample_format],
                                                layout=layout, rate=out.rate)
            log.info(f"decoder.resample from={cc.name}/{cc.format.name}/{cc.sample_rate}Hz/"
                     f"{cc.channels}ch to={out.describe()}")

    def _decode_chunk(self) -> PcmChunk | None:
        """Worker: decode until about `chunk_ms` of output is ready (or the end)."""
        import av

        try:
            if self._container is None:
                if self._closed:
                    return None
                self._open()
            out = self.output
            assert out is not None
            want = out.rate * self._chunk_ms // 1000
            parts: list[bytes | memoryview] = []
            have = 0
            start: int | None = None
            while have < want:
                frames = self._next_frames()
                if frames is None:
                    break
                for frame in frames:
                    data, first = self._convert(frame)
                    if not data:
                        continue
                    if start is None:
                        start = first
                    parts.append(data)
                    have += len(data) // out.frame_bytes
        except av.FFmpegError as exc:
            raise MediaError("segment failed to decode", reason=_reason(exc)) from None
        if not parts:
            return None
        assert start is not None
        self._chunk_ms = self._later_chunk_ms
        return PcmChunk(b"".join(parts), out, start)

    def _next_frames(self) -> list[Any] | None:
        """Frames from the next packet (resampler output included); None at the end."""
        if self._closed:
            return None
        packet = next(self._packets, None)
        # PyAV's demux ends with an empty packet that flushes the decoder; after it, the
        # decoder is at EOF and must not be asked again.
        frames = [] if packet is None else list(self._stream.codec_context.decode(packet))
        if frames and self._next_frame is None:
            # Place the stream on the track timeline from its first pts (tfdt-based, so a
            # decoder started mid-track knows where it is),
            first = frames[0]
            pts = 0.0 if first.pts is None else float(first.pts * first.time_base)
            assert self.output is not None
            self._next_frame = round(pts * self.output.rate)
        if self._resampler is not None:
            converted: list[Any] = []
            for f in frames:
                converted.extend(self._resampler.resample(f))
            if packet is None and not self._flushed:
                converted.extend(self._resampler.resample(None))
            frames = converted
        if packet is None:
            if self._flushed:
                return None
            self._flushed = True
        return frames

    def _convert(self, frame: Any) -> tuple[bytes | memoryview, int]:
        """Interleaved output bytes of `frame` (a view of its plane when no packing is
        needed: the chunk's join is then the only copy) and its first output frame index."""
        out = self.output
        assert out is not None
        width = 4 if out.sample_format in (SampleFormat.S24_LE, SampleFormat.S24_3LE) \
            else out.sample_format.width
        nbytes = frame.samples * out.channels * width
        data = memoryview(frame.planes[0])[:nbytes]  # planes are padded past the samples
        assert self._next_frame is not None
        first = self._next_frame
        self._next_frame += frame.samples
        if self._skip_to_s is not None:
            target = round(self._skip_to_s * out.rate)
            if first + frame.samples <= target:
                return b"", first
            if first < target:
                data = data[(target - first) * out.channels * width:]
                first = target
            self._skip_to_s = None
        if out.sample_format in (SampleFormat.S24_LE, SampleFormat.S24_3LE):
            return pack_s32(bytes(data), out.sample_format), first
        return data, first


def _reason(exc: Exception) -> str:
    # FFmpeg messages carry no secrets (clear media only reaches the decoder); keep them short.
    return str(getattr(exc, "strerror", None) or exc)[:200]
