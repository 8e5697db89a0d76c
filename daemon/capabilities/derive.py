"""Output profile + decoders present + configuration -> the capability tokens, each with
the reason it was granted or refused."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from daemon.capabilities.profiles import BoardProfile, OutputProfile
from daemon.contracts.amazon_music import capability_header
from daemon.core.errors import ConfigError
from daemon.core.tiers import CAPABILITY_ORDER, Capability
from daemon.playback.sinks.base import OutputCaps

#: Rates (Hz) tried when a driver reports a continuous range.
STANDARD_RATES: Final = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000,
                         176400, 192000, 352800, 384000)


@dataclass(frozen=True, slots=True)
class Step:
    token: Capability
    granted: bool
    reason: str


@dataclass(frozen=True)
class Derivation:
    steps: tuple[Step, ...]
    output: str
    decoders: frozenset[str] = field(default_factory=frozenset)

    @property
    def tokens(self) -> frozenset[Capability]:
        return frozenset(s.token for s in self.steps if s.granted)

    def header(self) -> str:
        """The X-Amzn-Audio-Device-Capability value (STD_RES when nothing else is granted)."""
        return capability_header(self.tokens or {Capability.STD_RES})

    def lines(self) -> list[str]:
        out = [f"output: {self.output}",
               f"decoders: {', '.join(sorted(self.decoders)) or 'none'}"]
        out += [f"  {'+' if s.granted else '-'} {s.token.value}: {s.reason}" for s in self.steps]
        out.append(f"header: {self.header()}")
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "output": self.output,
            "decoders": sorted(self.decoders),
            "tokens": [t.value for t in CAPABILITY_ORDER if t in self.tokens],
            "header": self.header(),
            "steps": [{"token": s.token.value, "granted": s.granted, "reason": s.reason}
                      for s in self.steps],
        }


def _output_can(caps: OutputCaps, bits: int, min_rate: int) -> bool:
    rates = caps.rates or frozenset(STANDARD_RATES)
    return caps.max_bits >= bits and any(r >= min_rate for r in rates)


def derive_capabilities(output: OutputProfile, *, decoders: Iterable[str],
                        allow: Iterable[str], board: BoardProfile | None = None,
                        caps: OutputCaps | None = None) -> Derivation:
    """Tokens = what the output can play ∩ what PyAV decodes ∩ what the config allows.

    `caps` overrides the profile's formats with a probed card's. A board that cannot take
    the output is a `ConfigError`.
    """
    if board is not None and output.name not in board.outputs:
        raise ConfigError("output does not fit this board", file=str(board.path),
                          key="outputs", output=output.name)
    caps = caps or output.caps
    have = frozenset(decoders)
    allowed = {a.upper() for a in allow}
    rates = caps.rates or frozenset(STANDARD_RATES)
    depth = min(output.bit_depth, caps.max_bits)

    def check(token: Capability) -> tuple[bool, str]:
        if token is Capability.STD_RES:
            lossy = sorted(have & {"opus", "aac"})
            if not lossy:
                return False, "no Opus or AAC decoder in PyAV"
            return True, (f"{'/'.join(lossy)} decoder present; any PCM output plays 48 kHz "
                          "(resampled if needed)")
        if token is Capability.HI_FI:
            if "flac" not in have:
                return False, "no FLAC decoder in PyAV"
            if depth < 16 or 44100 not in rates:
                return False, "output does not take 16-bit at 44.1 kHz"
            return True, "FLAC decoder; output takes 16-bit/44.1 kHz natively"
        if token is Capability.HI_RES:
            if "flac" not in have:
                return False, "no FLAC decoder in PyAV"
            if depth < 24:
                return False, f"output resolves {depth} bits; HI_RES needs 24"
            if not _output_can(caps, 24, 88200):
                return False, "output takes nothing at or above 88.2 kHz; HI_RES needs it"
            top = max(r for r in rates)
            return True, f"FLAC decoder; output takes 24-bit up to {top} Hz"
        if token is Capability.THREE_DIMENSIONAL:
            if "eac3" not in have:
                return False, "no E-AC-3 decoder in PyAV"
            if caps.max_channels < 6:
                return False, (f"output has {caps.max_channels} channels; "
                               "needs a multichannel (>= 6) output")
            return True, (f"E-AC-3 decoder; output takes {caps.max_channels} channels "
                          "(channel bed only: Atmos objects are not rendered)")
        # REAL_AUDIO_360
        if "mpegh" not in have:
            return False, "no MPEG-H 3D Audio decoder in PyAV"
        return False, "no MPEG-H renderer for this output"

    steps: list[Step] = []
    for token in CAPABILITY_ORDER:
        ok, reason = check(token)
        if ok and token.value not in allowed:
            ok, reason = False, "not allowed by the configuration (quality.allow)"
        steps.append(Step(token, ok, reason))
    fmt = ",".join(caps.sample_formats)
    desc = f"{output.name} ({fmt}; {min(rates)}-{max(rates)} Hz; {caps.max_channels} ch)"
    return Derivation(tuple(steps), desc, have)
