"""A sink that plays nothing but consumes PCM at real-time pace on an injected clock.

Contract: models a device with a `buffer_s` ring buffer drained at the format's rate as
`clock` time passes; `write` waits on the clock while the buffer is full; the buffer
running dry while playing counts one underrun. For tests and headless demos.
"""

from __future__ import annotations

import logging

from daemon.core.clock import Clock
from daemon.core.errors import SinkError
from daemon.playback.sinks.base import ANY_CAPS, OutputCaps, PcmFormat, SinkBase

log = logging.getLogger("daemon.playback")


class NullSink(SinkBase):
    """Real-time paced sink without a device. `played_frames` is what was "heard"."""

    def __init__(self, clock: Clock, *, caps: OutputCaps = ANY_CAPS, buffer_s: float = 0.5,
                 name: str = "null") -> None:
        if buffer_s <= 0:
            raise SinkError("buffer must be positive", sink=name, buffer_s=buffer_s)
        super().__init__(name=name, caps=caps)
        self._clock = clock
        self._buffer_s = buffer_s
        self._buffered = 0.0  # frames queued, not yet played (float: time is continuous)
        self._last = 0.0
        self._running = False  # playing out; False before the first write and after drain
        self._underruns = 0
        self._played = 0.0
        self.written_frames = 0
        self._closed_for_good = False

    @property
    def underruns(self) -> int:
        return self._underruns

    @property
    def played_frames(self) -> float:
        """Frames played out up to the clock's now."""
        self._advance()
        return self._played

    async def open(self, fmt: PcmFormat) -> None:
        if self._closed_for_good:
            raise SinkError("sink was closed", sink=self.name)
        self._check_format(fmt)
        self._fmt = fmt
        self._buffered = 0.0
        self._running = False
        self._underruns = 0
        self._played = 0.0
        self.written_frames = 0
        self._last = self._clock.monotonic()

    def _advance(self, draining: bool = False) -> None:
        """Play out what the elapsed clock time covers; running dry while playing = underrun."""
        now = self._clock.monotonic()
        elapsed, self._last = now - self._last, now
        if self._fmt is None or not self._running or elapsed <= 0:
            return
        due = elapsed * self._fmt.rate
        if due > self._buffered + 1e-6:
            self._played += self._buffered
            self._buffered = 0.0
            self._running = False  # the device stops on xrun and restarts on the next write
            if not draining:  # running out at the end of a drain is the goal, not an xrun
                self._underruns += 1
                log.debug(f"sink.underrun sink={self.name} count={self._underruns}")
        else:
            self._played += due
            self._buffered -= due

    async def write(self, data: bytes) -> None:
        fmt = self._check_write(data)
        frames = fmt.frames(len(data))
        capacity = self._buffer_s * fmt.rate
        while frames > 0:
            self._advance()
            room = capacity - self._buffered
            if room < 1:
                # Wait for a quarter buffer (or the rest of this write) to free up.
                need = min(frames, capacity / 4) - room
                await self._clock.sleep(need / fmt.rate)
                if self._fmt is None:
                    raise SinkError("sink closed during write", sink=self.name)
                continue
            take = min(frames, int(room))
            self._buffered += take
            self.written_frames += take
            frames -= take
            self._running = True

    async def drain(self) -> None:
        if self._fmt is None:
            return
        self._advance()
        while self._fmt is not None and self._buffered > 1e-6 and self._running:
            await self._clock.sleep(self._buffered / self._fmt.rate)
            self._advance(draining=True)
        # Reaching the end on purpose is not an underrun.
        self._running = False
        self._buffered = 0.0

    def delay_frames(self) -> int:
        self._advance()
        return round(self._buffered)

    async def close(self) -> None:
        self._advance()
        self._fmt = None
        self._buffered = 0.0
        self._running = False

    async def aclose(self) -> None:
        await self.close()
        self._closed_for_good = True
