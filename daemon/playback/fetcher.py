"""The segment fetcher: downloads a representation's segments in order, ahead of playback.

It keeps up to `buffer_seconds` of audio (and never more than `buffer_bytes`) downloaded
and not yet consumed, fails over across a segment's alternative BaseURLs, and reports each
download's size and duration so throughput can be estimated. Retries and backoff for one
URL are the HTTP layer's; this layer only moves on to the next alternative.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from daemon.core.clock import Clock
from daemon.core.errors import DaemonError, ServiceError, TransportError

log = logging.getLogger("daemon.playback")

ByteRange = tuple[int, int]  # inclusive first and last byte, as in HTTP Range
Get = Callable[[str, ByteRange | None], Awaitable[bytes]]
OnSample = Callable[[int, float], None]  # bytes, seconds
Choose = Callable[[float], int]  # buffered seconds -> rung for the next segment (ABR)
EXPIRED_STATUSES = (403, 410)  # a signed URL that ran out (AM-C23)


@dataclass(frozen=True)
class FetchSettings:
    buffer_seconds: float = 30.0
    buffer_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class SegmentRef:
    """What to fetch for one segment: alternative URLs (in failover order) and a range."""

    urls: Sequence[str]
    byte_range: ByteRange | None
    duration_s: float


Refresh = Callable[[], Awaitable[list[list[SegmentRef]]]]  # fresh URLs for every rung


async def fetch_with_failover(get: Get, urls: Sequence[str], byte_range: ByteRange | None
                              ) -> bytes:
    """Try each alternative in order; the last failure is raised when all fail."""
    last: DaemonError | None = None
    for url in urls:
        try:
            return await get(url, byte_range)
        except (TransportError, ServiceError) as exc:
            status = exc.fields.get("status")
            if isinstance(status, int) and 400 <= status < 500 and status not in (403, 404, 410):
                raise  # our request is wrong: another host will not fix it
            last = exc
            log.warning("fetch.failover url_index=%s error=%s", urls.index(url), exc.code)
    assert last is not None
    raise last


class SegmentFetcher:
    """Background downloader feeding `next()`; `aclose()` stops it and drops what it holds.

    With `rungs` (one segment list per representation of a ladder, same timeline) and
    `choose`, each download asks which rung to take: that is where ABR acts, per segment.
    """

    def __init__(self, get: Get, segments: Sequence[SegmentRef], clock: Clock,
                 settings: FetchSettings, on_sample: OnSample | None = None, *,
                 rungs: Sequence[Sequence[SegmentRef]] = (), choose: Choose | None = None,
                 rung: int = 0, on_expired: Refresh | None = None) -> None:
        self._get = get
        self._rungs = [list(r) for r in rungs] if rungs else [list(segments)]
        self._choose = choose
        self._rung = rung
        self._on_expired = on_expired
        self._clock = clock
        self._settings = settings
        self._on_sample = on_sample
        self._ready: deque[tuple[bytes, float, int]] = deque()
        self._buffered_s = 0.0
        self._buffered_bytes = 0
        self._changed = asyncio.Event()
        self._error: DaemonError | None = None
        self._done = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="segment-fetcher")

    @property
    def buffered_seconds(self) -> float:
        return self._buffered_s

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    async def next(self) -> bytes | None:
        """The next segment's bytes in order; None after the last; raises a fetch failure."""
        got = await self.next_segment()
        return None if got is None else got[0]

    async def next_segment(self) -> tuple[bytes, int] | None:
        """The next segment and the rung it came from; None after the last."""
        while not self._ready:
            if self._error is not None:
                raise self._error
            if self._done:
                return None
            self._changed.clear()
            await self._changed.wait()
        data, duration, rung = self._ready.popleft()
        self._buffered_s -= duration
        self._buffered_bytes -= len(data)
        self._changed.set()
        return data, rung

    def _full(self) -> bool:
        return (self._buffered_s >= self._settings.buffer_seconds
                or self._buffered_bytes >= self._settings.buffer_bytes)

    async def _run(self) -> None:
        try:
            for index in range(len(self._rungs[0])):
                while self._full():
                    self._changed.clear()
                    await self._changed.wait()
                if self._choose is not None:
                    self._rung = self._choose(self._buffered_s)
                ref = self._rungs[self._rung][index]
                started = self._clock.monotonic()
                try:
                    data = await fetch_with_failover(self._get, ref.urls, ref.byte_range)
                except ServiceError as exc:
                    if exc.fields.get("status") not in EXPIRED_STATUSES \
                            or self._on_expired is None:
                        raise
                    # The URLs expired: fresh ones from a new manifest, same segment. What
                    # is buffered keeps playing meanwhile, so nothing is heard.
                    log.info("fetch.urls_expired segment=%d action=refresh_manifest", index)
                    fresh = await self._on_expired()
                    if len(fresh) != len(self._rungs) or any(
                            len(f) != len(r) for f, r in zip(fresh, self._rungs, strict=True)):
                        raise
                    self._rungs = fresh
                    ref = self._rungs[self._rung][index]
                    data = await fetch_with_failover(self._get, ref.urls, ref.byte_range)
                elapsed = self._clock.monotonic() - started
                if self._on_sample is not None:
                    self._on_sample(len(data), elapsed)
                self._ready.append((data, ref.duration_s, self._rung))
                self._buffered_s += ref.duration_s
                self._buffered_bytes += len(data)
                self._changed.set()
            self._done = True
        except DaemonError as exc:
            self._error = exc
        finally:
            self._changed.set()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ready.clear()
        self._buffered_s = 0.0
        self._buffered_bytes = 0
