"""The decoder's two threads' worth of plumbing: the blocking byte pipe PyAV reads from
(fed segment by segment from the event loop, bounded) and the one worker thread that runs
every PyAV call of a decoder in order."""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from daemon.core.errors import MediaError

T = TypeVar("T")


# --- the blocking byte pipe PyAV reads ------------------------------------------------


class SegmentPipe:
    """File-like with only `read(n)` (so PyAV treats it as non-seekable)."""

    def __init__(self, max_segments: int) -> None:
        self._segments: collections.deque[memoryview] = collections.deque()
        self._head = memoryview(b"")  # the init segment: read first, not counted as queued
        self._cond = threading.Condition()
        self._max = max_segments
        self._eof = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._space = asyncio.Event()
        self.bytes_read = 0

    def read(self, n: int) -> bytes:
        with self._cond:
            if self._head and not self._closed:
                out, self._head = self._head[:n], self._head[n:]
                self.bytes_read += len(out)
                return bytes(out)
            while not self._segments and not self._eof and not self._closed:
                self._cond.wait()
            if self._closed or not self._segments:
                return b""
            head = self._segments[0]
            out, rest = head[:n], head[n:]
            if rest:
                self._segments[0] = rest
            else:
                self._segments.popleft()
                if self._loop is not None:  # wake a feeder waiting for room
                    try:
                        self._loop.call_soon_threadsafe(self._space.set)
                    except RuntimeError:  # loop closed: no feeder left to wake
                        pass
            self.bytes_read += len(out)
            return bytes(out)

    def _try_put(self, data: bytes | bytearray | memoryview) -> bool:
        with self._cond:
            if self._closed:
                raise MediaError("decoder is closed")
            if self._eof:
                raise MediaError("segment fed after end of stream")
            if len(self._segments) >= self._max:
                return False
            self._segments.append(memoryview(data))
            self._cond.notify_all()
            return True

    async def put(self, data: bytes | bytearray | memoryview) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            self._space.clear()
            if self._try_put(data):
                return
            await self._space.wait()

    def put_init(self, data: bytes) -> None:
        with self._cond:
            self._head = memoryview(data)
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._segments.clear()
            self._cond.notify_all()
        self._space.set()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._segments)


# --- the worker thread ------------------------------------------------------------------


class DecoderWorker:
    """One daemon thread running jobs in order, so PyAV objects stay on one thread and a
    decoder that was never closed cannot hold up interpreter exit (as pool threads would)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
        if not self._started:
            self._started = True
            self._thread.start()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, fut))
        return fut

    def stop(self) -> None:
        if self._started:
            self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, fut = job
            try:
                outcome: tuple[Any, BaseException | None] = (fn(), None)
            except BaseException as exc:  # delivered to the awaiting coroutine
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, fut, *outcome)
            except RuntimeError:  # the loop is gone: nobody is waiting any more
                return


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the loop side gave up on it
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
