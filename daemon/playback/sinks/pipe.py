"""A sink that writes raw interleaved PCM to stdout or a FIFO (snapcast's pipe source).

Contract: `target` is "-" (a duplicate of stdout) or a path; a missing path is created as a
FIFO (0600). Opening waits, on the injected clock, up to `open_timeout_s` for a reader;
a reader that goes away raises `SinkError`. Pacing comes from the reader. Writes run in
a thread.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import stat
import struct
import sys
import termios

from daemon.core.clock import Clock
from daemon.core.errors import SinkError
from daemon.playback.sinks.base import ANY_CAPS, OutputCaps, PcmFormat, SinkBase


class PipeSink(SinkBase):
    """Raw PCM to a pipe; the reader must know the format (it is logged at open)."""

    def __init__(self, target: str, clock: Clock, *, caps: OutputCaps = ANY_CAPS,
                 open_timeout_s: float = 5.0, name: str = "pipe") -> None:
        super().__init__(name=name, caps=caps)
        self.target = target
        self._clock = clock
        self._open_timeout_s = open_timeout_s
        self._fd: int | None = None
        self._lock = asyncio.Lock()

    async def open(self, fmt: PcmFormat) -> None:
        self._check_format(fmt)
        await self.close()
        fd = await self._open_fd()
        self._fd, self._fmt = fd, fmt

    async def _open_fd(self) -> int:
        if self.target == "-":
            return os.dup(sys.stdout.fileno())
        path = self.target
        is_fifo = await asyncio.to_thread(self._prepare_path, path)
        if not is_fifo:
            try:
                return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            except OSError as exc:
                raise SinkError("cannot open output", sink=self.name, path=path,
                                reason=exc.strerror) from None
        # A FIFO opened for writing without O_NONBLOCK blocks until a reader arrives, in a
        # thread we could not cancel; poll with O_NONBLOCK (ENXIO = no reader yet) instead.
        deadline = self._clock.monotonic() + self._open_timeout_s
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise SinkError("cannot open FIFO", sink=self.name, path=path,
                                    reason=exc.strerror) from None
                if self._clock.monotonic() >= deadline:
                    raise SinkError("no reader on the FIFO", sink=self.name, path=path,
                                    timeout_s=self._open_timeout_s) from None
                await self._clock.sleep(0.05)
                continue
            os.set_blocking(fd, True)  # writes block in the writer thread: reader paces us
            return fd

    def _prepare_path(self, path: str) -> bool:
        """Create a missing FIFO; True when `path` is a FIFO (else a plain file/device)."""
        try:
            if not os.path.exists(path):
                os.mkfifo(path, 0o600)
            return stat.S_ISFIFO(os.stat(path).st_mode)
        except OSError as exc:
            raise SinkError("cannot create FIFO", sink=self.name, path=path,
                            reason=exc.strerror) from None

    async def write(self, data: bytes) -> None:
        self._check_write(data)
        async with self._lock:
            fd = self._fd
            if fd is None:
                raise SinkError("sink is not open", sink=self.name)
            try:
                await asyncio.to_thread(_write_all, fd, data)
            except OSError as exc:
                await self._close_locked()
                reason = "reader went away" if exc.errno == errno.EPIPE else exc.strerror
                raise SinkError("write failed", sink=self.name, target=self.target,
                                reason=reason) from None

    async def drain(self) -> None:
        # The reader owns playback; everything is handed over once write() returned.
        async with self._lock:
            pass

    def delay_frames(self) -> int:
        """Bytes still in the pipe, as frames (FIONREAD works on either end of a pipe)."""
        if self._fd is None or self._fmt is None:
            return 0
        try:
            raw = fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        return self._fmt.frames(struct.unpack("i", raw)[0])

    async def close(self) -> None:
        async with self._lock:
            await self._close_locked()

    async def _close_locked(self) -> None:
        fd, self._fd, self._fmt = self._fd, None, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass  # already gone; nothing left to release

    async def aclose(self) -> None:
        await self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
