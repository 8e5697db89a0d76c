"""Per-token token buckets (AM-C31): `take(key)` is None when allowed, else seconds to wait."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from daemon.core.clock import Clock

#: Buckets kept; the least recently used are forgotten first.
MAX_BUCKETS: Final = 10_000


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float | None:
        if self.rate <= 0:
            return None
        now = self._clock.monotonic()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait: float | None = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait
