"""PCM formats, what an output accepts, and the `Sink` protocol every output implements.

Contract: a sink is opened with one `PcmFormat` (interleaved, little-endian), takes whole
frames through `await write(data)`, plays out what it holds on `await drain()`, and reports
the audio it still holds via `delay_frames()`. Blocking device I/O runs in a thread; a
device that is missing, busy or refuses the format raises `SinkError` with a reason and
leaves the sink closed. `underruns` counts the times the device ran dry while open.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from daemon.core.errors import SinkError
from daemon.core.resource import AsyncResource


class SampleFormat(enum.StrEnum):
    """Interleaved little-endian sample encodings; values are ALSA's names."""

    S16_LE = "S16_LE"
    S24_LE = "S24_LE"  # 24-bit value in the low 3 bytes of 4, sign-extended
    S24_3LE = "S24_3LE"  # 24-bit packed in 3 bytes (common on USB DACs)
    S32_LE = "S32_LE"
    FLOAT_LE = "FLOAT_LE"

    @property
    def width(self) -> int:
        """Bytes per sample as stored."""
        return {"S16_LE": 2, "S24_3LE": 3}.get(self.value, 4)

    @property
    def bits(self) -> int:
        """Significant bits (resolution) of the encoding."""
        return {"S16_LE": 16, "S24_LE": 24, "S24_3LE": 24}.get(self.value, 32)


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """One PCM stream shape."""

    rate: int
    channels: int
    sample_format: SampleFormat

    def __post_init__(self) -> None:
        if not 1000 <= self.rate <= 768_000:
            raise SinkError("unsupported sample rate", rate=self.rate)
        if not 1 <= self.channels <= 32:
            raise SinkError("unsupported channel count", channels=self.channels)

    @property
    def frame_bytes(self) -> int:
        return self.sample_format.width * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.frame_bytes * self.rate

    def frames(self, nbytes: int) -> int:
        return nbytes // self.frame_bytes

    def duration_s(self, nbytes: int) -> float:
        return self.frames(nbytes) / self.rate

    def describe(self) -> str:
        return f"{self.sample_format.value}/{self.rate}Hz/{self.channels}ch"


@dataclass(frozen=True, slots=True)
class OutputCaps:
    """What an output takes. Empty `rates` means any rate in 8 kHz–384 kHz."""

    rates: frozenset[int]
    sample_formats: tuple[SampleFormat, ...]  # in order of preference
    max_channels: int = 2
    min_channels: int = 1

    def accepts(self, fmt: PcmFormat) -> bool:
        rate_ok = (not self.rates and 8000 <= fmt.rate <= 384_000) or fmt.rate in self.rates
        return (
            rate_ok
            and fmt.sample_format in self.sample_formats
            and self.min_channels <= fmt.channels <= self.max_channels
        )

    @property
    def max_bits(self) -> int:
        return max((f.bits for f in self.sample_formats), default=0)

    @property
    def max_rate(self) -> int:
        return max(self.rates) if self.rates else 384_000

    def best_rate(self, source_rate: int) -> int:
        """The source rate if taken, else the rate resampling to loses least."""
        if not self.rates or source_rate in self.rates:
            return source_rate
        # Prefer an integer multiple/divisor of the source family (44.1k vs 48k), then the
        # lowest rate at or above the source, then the highest below it.
        family = [r for r in self.rates if r % source_rate == 0 or source_rate % r == 0]
        candidates = family or list(self.rates)
        above = sorted(r for r in candidates if r >= source_rate)
        return above[0] if above else max(candidates)


#: Anything goes (file, pipe and null sinks unless told otherwise).
ANY_CAPS = OutputCaps(
    rates=frozenset(),
    sample_formats=(SampleFormat.S32_LE, SampleFormat.S16_LE, SampleFormat.FLOAT_LE,
                    SampleFormat.S24_LE, SampleFormat.S24_3LE),
    max_channels=8,
)


def caps_from(rates: Iterable[int], formats: Iterable[str | SampleFormat],
              max_channels: int = 2, min_channels: int = 1) -> OutputCaps:
    return OutputCaps(frozenset(rates), tuple(SampleFormat(f) for f in formats),
                      max_channels, min_channels)


@runtime_checkable
class Sink(Protocol):
    """An audio output. Open once per format; `aclose()` is idempotent."""

    name: str

    @property
    def caps(self) -> OutputCaps:
        """The formats this output takes (drives resampling and capability tokens)."""
        ...

    @property
    def format(self) -> PcmFormat | None:
        """The open format, None while closed."""
        ...

    @property
    def underruns(self) -> int:
        """Times the device ran dry since open (0 where the backend cannot tell)."""
        ...

    async def open(self, fmt: PcmFormat) -> None:
        """Open the device for `fmt`; returns when it is ready for `write`."""
        ...

    async def write(self, data: bytes) -> None:
        """Queue whole frames of `data`; waits (off the loop) while the device is full."""
        ...

    async def drain(self) -> None:
        """Return when everything written so far has been played."""
        ...

    def delay_frames(self) -> int:
        """Frames written but not yet heard (for position reporting)."""
        ...

    async def close(self) -> None:
        """Drop whatever is queued and release the device; the sink may be opened again."""
        ...

    async def aclose(self) -> None:
        """Close for good (idempotent)."""
        ...


class SinkBase(AsyncResource):
    """What every output holds: its name, its caps and the open format (None while
    closed); no underruns and no delay unless the backend can tell."""

    def __init__(self, *, name: str, caps: OutputCaps) -> None:
        self.name = name
        self._caps = caps
        self._fmt: PcmFormat | None = None

    @property
    def caps(self) -> OutputCaps:
        return self._caps

    @property
    def format(self) -> PcmFormat | None:
        return self._fmt

    @property
    def underruns(self) -> int:
        return 0

    def delay_frames(self) -> int:
        return 0

    def _check_format(self, fmt: PcmFormat, message: str = "format refused",
                      **where: Any) -> None:
        """Open-time check: raises SinkError unless the caps accept `fmt`."""
        if not self._caps.accepts(fmt):
            raise SinkError(message, sink=self.name, **where, format=fmt.describe())

    def _check_write(self, data: bytes) -> PcmFormat:
        return check_write(self._fmt, data, self.name)


def check_write(fmt: PcmFormat | None, data: bytes, sink: str) -> PcmFormat:
    """Common write-time checks: the sink is open and `data` holds whole frames."""
    if fmt is None:
        raise SinkError("sink is not open", sink=sink)
    if len(data) % fmt.frame_bytes:
        raise SinkError("write is not a whole number of frames", sink=sink,
                        nbytes=len(data), frame_bytes=fmt.frame_bytes)
    return fmt


# --- 24-bit layouts ---------------------------------------------------------------------
# PyAV has no packed 24-bit sample format: 24-bit audio travels as s32 (value << 8) and is
# converted at the edge with C-speed extended-slice copies (no per-sample Python loop).


def pack_s32(data: bytes, fmt: SampleFormat) -> bytes:
    """s32 (24-bit left-aligned) to S24_3LE or S24_LE; any other format is returned as is."""
    if fmt is SampleFormat.S24_3LE:
        out = bytearray(len(data) // 4 * 3)
        out[0::3], out[1::3], out[2::3] = data[1::4], data[2::4], data[3::4]
        return bytes(out)
    if fmt is SampleFormat.S24_LE:
        out = bytearray(len(data))
        out[0::4], out[1::4], out[2::4] = data[1::4], data[2::4], data[3::4]
        out[3::4] = data[3::4].translate(_SIGN_EXTEND)
        return bytes(out)
    return data


def unpack_to_s32(data: bytes, fmt: SampleFormat) -> bytes:
    """The inverse of `pack_s32`: S24_3LE/S24_LE back to left-aligned s32."""
    if fmt is SampleFormat.S24_3LE:
        out = bytearray(len(data) // 3 * 4)
        out[1::4], out[2::4], out[3::4] = data[0::3], data[1::3], data[2::3]
        return bytes(out)
    if fmt is SampleFormat.S24_LE:
        out = bytearray(len(data))
        out[1::4], out[2::4], out[3::4] = data[0::4], data[1::4], data[2::4]
        return bytes(out)
    return data


_SIGN_EXTEND = bytes(0xFF if b & 0x80 else 0 for b in range(256))
