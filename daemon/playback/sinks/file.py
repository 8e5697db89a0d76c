"""A sink that writes a WAV file (stdlib `wave`): for captures, tests and offline renders.

Contract: integer PCM only (S16_LE, S24_3LE, S32_LE: what WAVE_FORMAT_PCM holds); the
header is completed on `drain`/`close`; file I/O runs in a thread. No pacing.
"""

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path
from typing import BinaryIO

from daemon.core.errors import SinkError
from daemon.playback.sinks.base import OutputCaps, PcmFormat, SampleFormat, SinkBase

#: Formats a plain PCM WAV can hold.
WAV_CAPS = OutputCaps(
    rates=frozenset(),
    sample_formats=(SampleFormat.S32_LE, SampleFormat.S24_3LE, SampleFormat.S16_LE),
    max_channels=8,
)


class WavFileSink(SinkBase):
    """Writes one WAV per open(); `path` is replaced atomically-ish (written in place)."""

    def __init__(self, path: str | os.PathLike[str], *, caps: OutputCaps = WAV_CAPS,
                 name: str = "file") -> None:
        wav_formats = tuple(f for f in caps.sample_formats if f in WAV_CAPS.sample_formats)
        super().__init__(name=name, caps=OutputCaps(caps.rates, wav_formats, caps.max_channels,
                                                    caps.min_channels))
        self.path = Path(path)
        self._wav: wave.Wave_write | None = None
        self._file: BinaryIO | None = None
        self._lock = asyncio.Lock()
        self.written_frames = 0

    async def open(self, fmt: PcmFormat) -> None:
        self._check_format(fmt)
        await self.close()
        async with self._lock:
            self._file, self._wav = await asyncio.to_thread(self._open_blocking, fmt)
            self._fmt = fmt
            self.written_frames = 0

    def _open_blocking(self, fmt: PcmFormat) -> tuple[BinaryIO, wave.Wave_write]:
        # Open the file ourselves: wave.open(path) leaves a half-built writer behind when
        # the open fails, whose finaliser then complains.
        try:
            # 0600 like every file the daemon leaves in its state directory.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            f = os.fdopen(fd, "wb")
        except OSError as exc:
            raise SinkError("cannot create file", sink=self.name, path=str(self.path),
                            reason=exc.strerror) from None
        wav = wave.open(f, "wb")  # noqa: SIM115 - closed in close()
        wav.setnchannels(fmt.channels)
        wav.setsampwidth(fmt.sample_format.width)
        wav.setframerate(fmt.rate)
        return f, wav

    async def write(self, data: bytes) -> None:
        fmt = self._check_write(data)
        async with self._lock:
            wav = self._wav
            if wav is None:
                raise SinkError("sink is not open", sink=self.name)
            try:
                await asyncio.to_thread(wav.writeframesraw, data)
            except OSError as exc:
                await self._close_locked()
                raise SinkError("write failed", sink=self.name, path=str(self.path),
                                reason=exc.strerror) from None
            self.written_frames += fmt.frames(len(data))

    async def drain(self) -> None:
        # The file holds everything written; finish the header so the file is valid now.
        async with self._lock:
            if self._wav is not None:
                await asyncio.to_thread(self._flush_header, self._wav)

    @staticmethod
    def _flush_header(wav: wave.Wave_write) -> None:
        wav.writeframes(b"")  # patches the RIFF/data sizes

    async def close(self) -> None:
        async with self._lock:
            await self._close_locked()

    async def _close_locked(self) -> None:
        wav, f = self._wav, self._file
        self._wav, self._file, self._fmt = None, None, None
        if wav is not None and f is not None:
            try:
                await asyncio.to_thread(_close_both, wav, f)
            except OSError as exc:
                raise SinkError("close failed", sink=self.name, path=str(self.path),
                                reason=exc.strerror) from None

    async def aclose(self) -> None:
        await self.close()


def _close_both(wav: wave.Wave_write, f: BinaryIO) -> None:
    try:
        wav.close()  # writes the final header sizes
    finally:
        f.close()
