"""The one retry policy: how many sends, which failures, and how long to wait between them.

Sans-IO: a policy only computes; the caller owns the clock, the random source and the
sending. Retry `n` (0-based) waits the nominal delay `min(max_delay, steps[n])` when a step
schedule is given, else `min(max_delay, base_delay * factor**n)`, drawn with full jitter
(uniform in [0, d]) or, with `full_jitter=False`, within ±`jitter` of d.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: Statuses worth another send by default: every 5xx and 429 (the latter only when the
#: server says when, which the HTTP layer checks).
ANY_SERVER_ERROR: Final = frozenset({429, *range(500, 600)})


def jittered(seconds: float, unit_random: float, jitter: float) -> float:
    """`seconds` moved by up to ±`jitter` (a fraction); `unit_random` is a draw in [0, 1)."""
    return max(0.0, seconds * (1.0 + jitter * (2.0 * unit_random - 1.0)))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded backoff for transient failures.

    `max_attempts` counts every send; `total` bounds the seconds from the first send;
    `retry_statuses` are the HTTP statuses a retry can help (a network failure always can).
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    total: float = 120.0
    full_jitter: bool = True
    jitter: float = 0.5
    #: explicit nominal delays per retry (the last repeats); empty means exponential
    steps: tuple[float, ...] = ()
    retry_statuses: frozenset[int] = field(default=ANY_SERVER_ERROR)

    def nominal(self, retry_index: int) -> float:
        """The un-jittered wait before retry `retry_index` (0-based)."""
        index = max(0, retry_index)
        if self.steps:
            return min(self.max_delay, self.steps[min(index, len(self.steps) - 1)])
        return min(self.max_delay, self.base_delay * self.factor**index)

    def backoff(self, retry_index: int, unit_random: float) -> float:
        """The wait before retry `retry_index` (0-based), jittered with `unit_random` in [0,1)."""
        nominal = self.nominal(retry_index)
        if self.full_jitter:
            return nominal * unit_random
        return min(self.max_delay, jittered(nominal, unit_random, self.jitter))

    def should_retry(self, status: int | None) -> bool:
        """True for a network failure (`None`) and for the retryable statuses."""
        return status is None or status in self.retry_statuses


#: One attempt, no retries: event POSTs and anything the caller retries itself.
NO_RETRY: Final = RetryPolicy(max_attempts=1)
