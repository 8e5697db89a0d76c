"""A fake clock for component tests: time moves only when the test (or a sleeper) says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    """Implements `daemon.core.clock.Clock`; `sleep` parks until `advance` passes its deadline.

    `auto_advance=True` jumps straight to the earliest sleeper whenever every task is
    waiting on the clock, which lets retry/backoff code run at full speed while the
    test still reads exact delays from `sleeps`.
    """

    def __init__(self, start: float = 1_000.0, wall: float = 1_700_000_000.0,
                 auto_advance: bool = False) -> None:
        self._now = start
        self._wall_offset = wall - start
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []
        self.auto_advance = auto_advance

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    def set_wall(self, wall: float) -> None:
        self._wall_offset = wall - self._now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self._now + seconds, next(self._seq), fut))
        if self.auto_advance:
            asyncio.get_running_loop().call_soon(self._auto_step)
        await fut

    def _auto_step(self) -> None:
        live = [w for w in self._waiters if not w[2].done()]
        if live:
            self._advance_to(min(w[0] for w in live))

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._advance_to(self._now + seconds)

    def _advance_to(self, target: float) -> None:
        self._now = max(self._now, target)
        while self._waiters and self._waiters[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def run_for(self, seconds: float, step: float = 0.01) -> None:
        """Advance in small steps, yielding to the loop between them."""
        end = self._now + seconds
        while self._now < end:
            self.advance(min(step, end - self._now))
            for _ in range(5):
                await asyncio.sleep(0)
