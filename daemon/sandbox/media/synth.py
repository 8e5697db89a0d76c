"""Music-like test audio: a chord pad, a plucked melody and a bass line (numpy, lazy).

Channels differ on purpose (melody louder on the left, chords on the right) so a channel
swap shows. Output depends only on the track's Music parameters, the rate and the length.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daemon.sandbox.media.catalog import Music

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]
else:
    FloatArray = Any

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


_PAD = (1.0, 0.3)
_BASS = (1.0, 0.5, 0.25)
_LEAD = (1.0, 0.4, 0.2)


@dataclass(frozen=True, slots=True)
class _Event:
    start_s: float
    length_s: float
    freq: float
    harmonics: tuple[float, ...]
    decay: float
    gain_left: float
    gain_right: float


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69) / 12))


def _events(music: Music, duration_s: float) -> list[_Event]:
    """The piece as a list of notes; independent of the sample rate."""
    events: list[_Event] = []
    scale = _MINOR if music.minor else _MAJOR
    beat = 60.0 / music.bpm
    bar = 4 * beat
    rng = random.Random(music.seed)
    t = 0.0
    bar_index = 0
    while t < duration_s:
        degree = music.progression[bar_index % len(music.progression)]
        chord = [
            music.tonic + scale[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)
        ]
        for i, note in enumerate(chord):
            events.append(_Event(t, bar, _hz(note - 12), _PAD, 2.5, 0.03 if i else 0.04, 0.09))
        bass = _hz(chord[0] - 24)
        for b in range(4):
            events.append(_Event(t + b * beat, beat, bass, _BASS, 0.4, 0.12, 0.12))
        # Melody: eighth and quarter notes drawn from the chord and the scale.
        m = 0.0
        while m < bar - 1e-9:
            length = beat / 2 if rng.random() < 0.6 else beat
            step = rng.choice((0, 2, 4, 4, 7, 9, 11, 12))
            pitch = music.tonic + 12 + scale[(degree + step) % 7] + 12 * ((degree + step) // 7)
            events.append(_Event(t + m, length * 1.5, _hz(pitch), _LEAD, 0.35, 0.16, 0.05))
            m += length
        t += bar
        bar_index += 1
    return events


_TABLE_BITS = 14  # a 16384-point period: phase rounding stays below the -90 dB noise


def _wavetable(harmonics: tuple[float, ...]) -> FloatArray:
    import numpy as np

    x = np.arange(1 << _TABLE_BITS, dtype=np.float64) * (2 * math.pi / (1 << _TABLE_BITS))
    table = sum(amp * np.sin(k * x) for k, amp in enumerate(harmonics, start=1))
    result: FloatArray = np.asarray(table, dtype=np.float32)
    return result


def _render(event: _Event, rate: int, table: FloatArray) -> FloatArray:
    """One enveloped mono note, read from a one-period wavetable."""
    import numpy as np

    count = int(event.length_s * rate)
    # A 32-bit fixed-point phase accumulator: exact, cheap integer arithmetic.
    step = round(event.freq / rate * (1 << 32))
    phase = (np.arange(count, dtype=np.int64) * step) & 0xFFFFFFFF
    wave = table[phase >> (32 - _TABLE_BITS)]
    t = np.arange(count, dtype=np.float32) / np.float32(rate)
    env = np.exp(-t / np.float32(event.decay))
    attack = min(count, int(0.01 * rate))
    env[:attack] *= np.linspace(0.0, 1.0, attack, dtype=np.float32)
    release = min(count, int(0.03 * rate))
    env[count - release :] *= np.linspace(1.0, 0.0, release, dtype=np.float32)
    result: FloatArray = wave * env
    return result


def synthesize(music: Music, rate: int, duration_s: float) -> FloatArray:
    """Stereo float32 samples, shape (2, n), peak below 1.0."""
    import numpy as np

    n = round(duration_s * rate)
    stereo = np.zeros((2, n), dtype=np.float32)
    # Notes repeat (same chord every few bars, same bass note): render each shape once.
    cache: dict[tuple[float, float, tuple[float, ...], float], FloatArray] = {}
    tables: dict[tuple[float, ...], FloatArray] = {h: _wavetable(h) for h in (_PAD, _BASS, _LEAD)}
    for ev in _events(music, duration_s):
        key = (ev.length_s, ev.freq, ev.harmonics, ev.decay)
        wave = cache.get(key)
        if wave is None:
            wave = cache[key] = _render(ev, rate, tables[ev.harmonics])
        start = int(ev.start_s * rate)
        stop = min(n, start + wave.shape[0])
        if stop > start:
            stereo[0, start:stop] += ev.gain_left * wave[: stop - start]
            stereo[1, start:stop] += ev.gain_right * wave[: stop - start]
    # A short fade out so the last segment ends cleanly.
    fade = min(n, int(0.5 * rate))
    stereo[:, n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.max(np.abs(stereo))) or 1.0
    stereo *= np.float32(0.8 / peak)
    return stereo


def quantize(samples: FloatArray, bits: int, seed: int) -> Any:
    """Integer PCM of `bits` (16 -> int16; 24 -> int32 holding 24-bit values in the top
    bits, as FFmpeg's s32 wants) with a little noise so FLAC sees a realistic bitrate.

    Works on any layout (planar or interleaved); the shape is kept.
    """
    import numpy as np

    full = 2 ** (bits - 1) - 1
    noise_lsb = 1 if bits == 16 else 96  # about -90 dBFS in both cases
    flat = samples.reshape(-1)
    # A noise block of odd length, repeated: FLAC's predictor cannot see the repetition
    # and it costs a fraction of drawing noise for every sample.
    block = np.random.default_rng(seed).integers(
        -noise_lsb, noise_lsb + 1, size=131071, dtype=np.int32
    )
    ints = (flat * np.float32(full)).astype(np.int32)  # peak is 0.8: no overflow
    ints += np.resize(block, flat.shape[0])
    if bits == 16:
        return ints.astype(np.int16).reshape(samples.shape)
    ints <<= 32 - bits
    return ints.reshape(samples.shape)
