"""ALSA output: pyalsaaudio when installed, else an `aplay` subprocess.

Contract: `device` is an ALSA PCM name from the config ("default", "hw:CARD=sndrpihifiberry",
"plughw:1,0", "file:FILE=/tmp/x.raw,FORMAT=raw"). `open()` returns once the device is open
with the format set; a missing/busy device or a refused format raises `SinkError` naming
the device and ALSA's reason, and nothing stays open. Blocking writes run in a thread
(pyalsaaudio) or go through a pipe (aplay). Underruns are counted: from the PCM state
(pyalsaaudio) or aplay's "underrun!!!" lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections import deque
from typing import Any, Literal

from daemon.core.errors import SinkError
from daemon.playback.sinks.base import OutputCaps, PcmFormat, SampleFormat, SinkBase

log = logging.getLogger("daemon.playback")

Backend = Literal["auto", "pyalsaaudio", "aplay"]


def pyalsaaudio_available() -> bool:
    try:
        import alsaaudio  # noqa: F401
    except ImportError:
        return False
    return True


class AlsaSink(SinkBase):
    """One ALSA PCM device; re-openable with another format after `close()`."""

    def __init__(self, device: str, caps: OutputCaps, *, backend: Backend = "auto",
                 buffer_ms: int = 200, aplay_path: str = "aplay",
                 open_timeout_s: float = 5.0, name: str = "alsa") -> None:
        super().__init__(name=name, caps=caps)
        self.device = device
        self._backend = backend
        self._buffer_ms = buffer_ms
        self._aplay_path = aplay_path
        self._open_timeout_s = open_timeout_s
        self._impl: _Aplay | _PyAlsa | None = None
        self._underruns_before = 0  # from implementations closed by drain()

    @property
    def backend(self) -> str:
        """The backend actually used ("pyalsaaudio" or "aplay")."""
        if self._backend == "auto":
            return "pyalsaaudio" if pyalsaaudio_available() else "aplay"
        return self._backend

    @property
    def underruns(self) -> int:
        return self._underruns_before + (self._impl.underruns if self._impl else 0)

    async def open(self, fmt: PcmFormat) -> None:
        self._check_format(fmt, "format refused by the output profile", device=self.device)
        await self.close()
        self._underruns_before = 0
        self._fmt = fmt
        await self._start()
        log.info(f"sink.open sink={self.name} device={self.device} backend={self.backend} "
                 f"format={fmt.describe()}")

    async def _start(self) -> None:
        fmt = self._fmt
        assert fmt is not None
        impl: _Aplay | _PyAlsa
        if self.backend == "pyalsaaudio":
            impl = _PyAlsa(self.device, fmt, self._buffer_ms)
        else:
            if shutil.which(self._aplay_path) is None:
                self._fmt = None
                raise SinkError("neither pyalsaaudio nor aplay is installed", sink=self.name,
                                device=self.device)
            impl = _Aplay(self._aplay_path, self.device, fmt, self._buffer_ms,
                          self._open_timeout_s)
        try:
            await impl.start()
        except SinkError:
            self._fmt = None
            raise
        self._impl = impl

    async def write(self, data: bytes) -> None:
        self._check_write(data)
        if self._impl is None:  # drained earlier: start the device again
            await self._start()
        assert self._impl is not None
        try:
            await self._impl.write(data)
        except SinkError:
            await self.close()
            raise

    async def drain(self) -> None:
        impl, self._impl = self._impl, None
        if impl is None:
            return
        try:
            await impl.drain()
        finally:
            self._underruns_before += impl.underruns
            await impl.close()

    def delay_frames(self) -> int:
        return self._impl.delay_frames() if self._impl else 0

    async def close(self) -> None:
        impl, self._impl, self._fmt = self._impl, None, None
        if impl is not None:
            await impl.close()

    async def aclose(self) -> None:
        await self.close()


# --- aplay subprocess -------------------------------------------------------------------


class _Aplay:
    """`aplay -v` reading raw PCM from its stdin; ready once it printed the PCM setup."""

    def __init__(self, aplay: str, device: str, fmt: PcmFormat, buffer_ms: int,
                 open_timeout_s: float) -> None:
        self._argv = [
            aplay, "-v", "-D", device, "-t", "raw", "-f", fmt.sample_format.value,
            "-r", str(fmt.rate), "-c", str(fmt.channels), f"--buffer-time={buffer_ms * 1000}",
            "-",
        ]
        self._device = device
        self._fmt = fmt
        self._buffer_frames = fmt.rate * buffer_ms // 1000
        self._open_timeout_s = open_timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._tail: deque[str] = deque(maxlen=8)
        self.underruns = 0
        self._written = 0

    def _reason(self) -> str:
        """aplay's own explanation: its last error-looking line."""
        for line in reversed(self._tail):
            if "error" in line.lower() or "non available" in line or "busy" in line.lower():
                return line[-200:]
        return self._tail[-1][-200:] if self._tail else "aplay exited"

    async def start(self) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise SinkError("cannot start aplay", device=self._device,
                            reason=exc.strerror) from None
        self._proc = proc
        assert proc.stderr is not None
        ready = False
        try:
            async with asyncio.timeout(self._open_timeout_s):
                while not ready:
                    raw = await proc.stderr.readline()
                    if not raw:
                        break
                    line = raw.decode("utf-8", "replace").rstrip()
                    self._tail.append(line)
                    ready = line.startswith("Its setup is:")
        except TimeoutError:
            await self.close()
            raise SinkError("device did not open in time", device=self._device,
                            timeout_s=self._open_timeout_s) from None
        if not ready:
            await proc.wait()
            reason = self._reason()
            await self.close()
            raise SinkError("cannot open ALSA device", device=self._device,
                            format=self._fmt.describe(), reason=reason)
        self._watcher = asyncio.create_task(self._watch(proc.stderr))

    async def _watch(self, stderr: asyncio.StreamReader) -> None:
        while raw := await stderr.readline():
            line = raw.decode("utf-8", "replace").rstrip()
            self._tail.append(line)
            if "underrun" in line:
                self.underruns += 1
                log.warning(f"sink.underrun device={self._device} count={self.underruns}")

    async def write(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SinkError("sink is not open", device=self._device)
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await proc.wait()
            if self._watcher is not None:
                await self._watcher
            raise SinkError("ALSA device failed during playback", device=self._device,
                            reason=self._reason(), exit_status=proc.returncode) from None
        self._written += self._fmt.frames(len(data))

    async def drain(self) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        proc.stdin.close()  # aplay plays what it holds, drains the PCM and exits
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await proc.stdin.wait_closed()
        rc = await proc.wait()
        if self._watcher is not None:
            await self._watcher
        if rc != 0:
            raise SinkError("ALSA device failed while draining", device=self._device,
                            reason=self._reason(), exit_status=rc)

    def delay_frames(self) -> int:
        # aplay does not report its delay; a full device buffer is the steady state.
        return min(self._written, self._buffer_frames)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            if proc.stdin is not None:
                proc.stdin.close()
            await proc.wait()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


# --- pyalsaaudio ------------------------------------------------------------------------


class _PyAlsa:
    """pyalsaaudio PCM in blocking mode; every call that may block runs in a thread."""

    def __init__(self, device: str, fmt: PcmFormat, buffer_ms: int) -> None:
        self._device = device
        self._fmt = fmt
        self._period = max(64, fmt.rate * buffer_ms // 4000)  # 4 periods per buffer
        self._pcm: Any = None
        self._lock = asyncio.Lock()
        self.underruns = 0

    async def start(self) -> None:
        self._pcm = await asyncio.to_thread(self._open_blocking)

    def _open_blocking(self) -> Any:
        import alsaaudio

        formats = {
            SampleFormat.S16_LE: alsaaudio.PCM_FORMAT_S16_LE,
            SampleFormat.S24_LE: alsaaudio.PCM_FORMAT_S24_LE,
            SampleFormat.S24_3LE: alsaaudio.PCM_FORMAT_S24_3LE,
            SampleFormat.S32_LE: alsaaudio.PCM_FORMAT_S32_LE,
            SampleFormat.FLOAT_LE: alsaaudio.PCM_FORMAT_FLOAT_LE,
        }
        fmt = self._fmt
        try:
            pcm = alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NORMAL,
                                device=self._device, channels=fmt.channels, rate=fmt.rate,
                                format=formats[fmt.sample_format], periodsize=self._period,
                                periods=4)
        except alsaaudio.ALSAAudioError as exc:
            raise SinkError("cannot open ALSA device", device=self._device,
                            format=fmt.describe(), reason=str(exc)[:200]) from None
        info = pcm.info()
        # hw_params picks the *nearest* rate/format; anything else than asked is a refusal.
        if (info.get("rate") != fmt.rate or info.get("channels") != fmt.channels
                or info.get("format_name") != fmt.sample_format.value):
            pcm.close()
            raise SinkError("device refused the format", device=self._device,
                            format=fmt.describe(),
                            reason=f"got {info.get('format_name')}/{info.get('rate')}Hz/"
                                   f"{info.get('channels')}ch")
        return pcm

    async def write(self, data: bytes) -> None:
        async with self._lock:
            if self._pcm is None:
                raise SinkError("sink is not open", device=self._device)
            await asyncio.to_thread(self._write_blocking, self._pcm, data)

    def _write_blocking(self, pcm: Any, data: bytes) -> None:
        import alsaaudio

        if pcm.state() == alsaaudio.PCM_STATE_XRUN:
            self.underruns += 1
            log.warning(f"sink.underrun device={self._device} count={self.underruns}")
        try:
            pcm.write(data)  # blocking mode: returns when all frames are queued
        except alsaaudio.ALSAAudioError as exc:
            raise SinkError("ALSA write failed", device=self._device,
                            reason=str(exc)[:200]) from None

    async def drain(self) -> None:
        async with self._lock:
            if self._pcm is not None:
                await asyncio.to_thread(self._pcm.drain)

    def delay_frames(self) -> int:
        pcm = self._pcm
        if pcm is None:
            return 0
        try:
            return max(0, self._period * 4 - int(pcm.avail()))
        except Exception:  # avail() fails on a stopped PCM; nothing is queued then
            return 0

    async def close(self) -> None:
        async with self._lock:
            pcm, self._pcm = self._pcm, None
            if pcm is not None:
                await asyncio.to_thread(pcm.close)
