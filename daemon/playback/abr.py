"""Adaptive bitrate: a throughput estimator and the rung-switching decision. Pure (no I/O).

Contract: the fetcher calls `ThroughputEstimator.add(nbytes, seconds)` after each segment
download and `AbrController.decide(now=, estimate_bps=, buffer_s=)` before choosing the next
segment's representation. Lossy rungs (the STD_RES Opus ladder, 48/192/320 kb/s) follow the
network with hysteresis; lossless rungs are left only when the buffer is about to run dry,
one step at a time, and are climbed back once the buffer and the network allow. Never above
the `preferred` rung (what selection chose for the capabilities).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rung:
    """One representation of the track: its id, its declared bandwidth, and whether lossless."""

    rep_id: str
    bandwidth_bps: int
    lossless: bool = False


#: The STD_RES Opus ladder (kb/s) the sandbox serves (OPUS_48/192/320).
OPUS_LADDER = (Rung("OPUS_48", 48_000), Rung("OPUS_192", 192_000), Rung("OPUS_320", 320_000))


class ThroughputEstimator:
    """Two exponentially weighted averages (fast and slow, weighted by download time); the
    estimate is the lower one, so a drop is believed at once and a rise only when it lasts."""

    def __init__(self, *, fast_half_life_s: float = 2.0, slow_half_life_s: float = 8.0,
                 min_bytes: int = 16_000, min_samples: int = 2) -> None:
        self._fast = _Ewma(fast_half_life_s)
        self._slow = _Ewma(slow_half_life_s)
        self._min_bytes = min_bytes
        self._min_samples = min_samples
        self.samples = 0

    def add(self, nbytes: int, seconds: float) -> None:
        """One completed download. Tiny ones measure latency, not bandwidth: ignored."""
        if nbytes < self._min_bytes or seconds <= 0:
            return
        bps = nbytes * 8 / seconds
        self._fast.add(bps, seconds)
        self._slow.add(bps, seconds)
        self.samples += 1

    def estimate_bps(self) -> float | None:
        if self.samples < self._min_samples:
            return None
        return min(self._fast.value(), self._slow.value())


class _Ewma:
    def __init__(self, half_life_s: float) -> None:
        self._alpha = math.exp(math.log(0.5) / half_life_s)
        self._estimate = 0.0
        self._total_weight = 0.0

    def add(self, value: float, weight_s: float) -> None:
        adj = self._alpha**weight_s
        self._estimate = value * (1 - adj) + adj * self._estimate
        self._total_weight += weight_s

    def value(self) -> float:
        # Correct the zero start (bias) as the weights accumulate.
        zero_factor = 1 - self._alpha**self._total_weight
        return self._estimate / zero_factor if zero_factor > 0 else 0.0


@dataclass(frozen=True, slots=True)
class AbrConfig:
    safety: float = 0.8  # use this share of the estimate
    up_margin: float = 1.25  # a higher rung must fit with this much room to climb
    up_hold_s: float = 10.0  # time since the last switch before climbing
    up_buffer_s: float = 10.0  # buffer needed before climbing
    panic_buffer_s: float = 4.0  # lossless rungs step down only below this buffer
    recover_buffer_s: float = 15.0  # ...and climb back only above this one


@dataclass(frozen=True, slots=True)
class AbrDecision:
    index: int
    rung: Rung
    changed: bool
    reason: str


class AbrController:
    """Holds the current rung of one track's ladder; `decide` moves it (or not)."""

    def __init__(self, ladder: Sequence[Rung], *, preferred: int | None = None,
                 start: int | None = None, config: AbrConfig | None = None) -> None:
        if not ladder:
            raise ValueError("empty ladder")
        self.ladder = tuple(sorted(ladder, key=lambda r: r.bandwidth_bps))
        top = len(self.ladder) - 1
        self.preferred = top if preferred is None else preferred
        if not 0 <= self.preferred <= top:
            raise ValueError("preferred rung out of range")
        self.current = self.preferred if start is None else start
        if not 0 <= self.current <= self.preferred:
            raise ValueError("start rung out of range")
        self.config = config or AbrConfig()
        self._last_switch: float | None = None
        self.switches = 0

    @classmethod
    def for_rep(cls, ladder: Sequence[Rung], rep_id: str,
                config: AbrConfig | None = None) -> AbrController:
        """A controller whose preferred (and starting) rung is `rep_id`."""
        ordered = sorted(ladder, key=lambda r: r.bandwidth_bps)
        index = next((i for i, r in enumerate(ordered) if r.rep_id == rep_id), None)
        if index is None:
            raise ValueError("rep_id not in the ladder")
        return cls(ordered, preferred=index, config=config)

    @property
    def rung(self) -> Rung:
        return self.ladder[self.current]

    def _switch(self, index: int, now: float, reason: str) -> AbrDecision:
        self.current = index
        self._last_switch = now
        self.switches += 1
        return AbrDecision(index, self.ladder[index], True, reason)

    def _stay(self, reason: str) -> AbrDecision:
        return AbrDecision(self.current, self.rung, False, reason)

    def decide(self, *, now: float, estimate_bps: float | None, buffer_s: float) -> AbrDecision:
        cfg = self.config
        if estimate_bps is None:
            return self._stay("no throughput estimate yet")
        usable = estimate_bps * cfg.safety
        cur = self.rung
        # --- down ---
        if cur.lossless:
            if buffer_s < cfg.panic_buffer_s and usable < cur.bandwidth_bps and self.current > 0:
                return self._switch(self.current - 1, now,
                                    f"buffer {buffer_s:.1f}s about to run dry; "
                                    f"{usable / 1000:.0f} kb/s < {cur.bandwidth_bps / 1000:.0f}")
        elif usable < cur.bandwidth_bps and self.current > 0:
            target = max((i for i in range(self.current)
                          if self.ladder[i].bandwidth_bps <= usable), default=0)
            if self.ladder[target].lossless:  # never jump *into* lossless on the way down
                target = 0
            reason = f"network {usable / 1000:.0f} kb/s < {cur.bandwidth_bps / 1000:.0f}"
            return self._switch(target, now, reason)
        # --- up (one step at a time, never beyond the preferred rung) ---
        if self.current >= self.preferred:
            return self._stay("at the preferred rung")
        nxt = self.ladder[self.current + 1]
        need_buffer = cfg.recover_buffer_s if nxt.lossless or cur.lossless else cfg.up_buffer_s
        if self._last_switch is not None and now - self._last_switch < cfg.up_hold_s:
            return self._stay("holding after the last switch")
        if buffer_s < need_buffer:
            return self._stay(f"buffer {buffer_s:.1f}s below {need_buffer:.0f}s for climbing")
        if usable < nxt.bandwidth_bps * cfg.up_margin:
            return self._stay("network cannot sustain the next rung with margin")
        return self._switch(self.current + 1, now,
                            f"network {usable / 1000:.0f} kb/s sustains {nxt.rep_id}")
