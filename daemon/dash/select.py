"""Representation selection: capabilities x decoders x output formats x bandwidth -> a choice.

Each Representation is classified into a capability tier (STD_RES Opus, HI_FI FLAC 16/44.1,
HI_RES FLAC 24 bit / 88.2-192 kHz, THREE_DIMENSIONAL EC-3, REAL_AUDIO_360 MPEG-H) and judged:
a tier the device does not claim, a codec without a decoder, or a format the output cannot
take makes it unplayable, never chosen. The best playable one that fits the bandwidth estimate
wins; its AdaptationSet's playable Representations form the ladder to switch along. Every
verdict is kept as a structured reason for logs and `speakerd probe`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from daemon.core.tiers import Capability
from daemon.dash.model import AdaptationSet, Period, Representation

DEFAULT_PREFERENCE: tuple[Capability, ...] = (
    Capability.REAL_AUDIO_360,
    Capability.THREE_DIMENSIONAL,
    Capability.HI_RES,
    Capability.HI_FI,
    Capability.STD_RES,
)

# codec family -> decoder names (FFmpeg's, as PyAV lists them) that can play it
DECODERS: dict[str, tuple[str, ...]] = {
    "opus": ("opus", "libopus"),
    "flac": ("flac",),
    "eac3": ("eac3",),
    "ac3": ("ac3", "eac3"),
    "aac": ("aac", "aac_fixed", "libfdk_aac"),
    "mpegh": ("mpegh3da", "mpegh", "libmpeghdec"),
}
SUPPORTED_SCHEMES = ("cenc", "cbcs")


@dataclass(frozen=True)
class OutputFormats:
    """What the audio output accepts."""

    max_sample_rate: int = 48000
    max_bit_depth: int = 16
    max_channels: int = 2
    sample_rates: frozenset[int] | None = None  # exact rates, when the device lists them


@dataclass(frozen=True)
class Verdict:
    representation_id: str
    bandwidth: int
    codec: str | None  # family, e.g. "flac"
    tier: str | None
    playable: bool
    code: str  # "ok" or why not: capability, no_decoder, sample_rate, bit_depth, ...
    detail: str


@dataclass(frozen=True)
class Selection:
    chosen: Representation | None
    adaptation_set: AdaptationSet | None
    ladder: tuple[Representation, ...]  # switchable, ascending bandwidth
    reason: str  # best_within_bandwidth | best_without_estimate | lowest_bandwidth_fallback
    #              | nothing_playable
    detail: str
    verdicts: tuple[Verdict, ...] = field(default=())

    def explain(self) -> dict[str, Any]:
        """A JSON-ready account of the choice."""
        return {
            "chosen": self.chosen.id if self.chosen else None,
            "tier": next((v.tier for v in self.verdicts
                          if self.chosen and v.representation_id == self.chosen.id), None),
            "reason": self.reason,
            "detail": self.detail,
            "ladder": [r.id for r in self.ladder],
            "verdicts": [asdict(v) for v in self.verdicts],
        }


def codec_family(codecs: str) -> str | None:
    c = codecs.strip().split(",")[0].strip().lower()
    if c in ("opus",):
        return "opus"
    if c in ("flac",):
        return "flac"
    if c in ("ec-3", "ec+3"):
        return "eac3"
    if c in ("ac-3",):
        return "ac3"
    if c.startswith("mp4a.40"):
        return "aac"
    if c.startswith(("mhm1", "mha1", "mhm2", "mha2")):
        return "mpegh"
    return None


def tier_of(rep: Representation, family: str | None) -> tuple[Capability | None, str]:
    rate, bits = rep.audio_sampling_rate, rep.bit_depth
    if family in ("opus", "aac"):
        return Capability.STD_RES, f"{family} {rep.bandwidth // 1000} kbps"
    if family == "flac":
        hi = (bits is not None and bits > 16) or (rate is not None and rate > 48000)
        desc = f"FLAC {bits or '?'} bit / {rate or '?'} Hz"
        return (Capability.HI_RES if hi else Capability.HI_FI), desc
    if family in ("eac3", "ac3"):
        return Capability.THREE_DIMENSIONAL, f"{rep.codecs} {rep.channels or '?'} ch"
    if family == "mpegh":
        return Capability.REAL_AUDIO_360, f"MPEG-H {rep.codecs}"
    return None, f"unknown codec {rep.codecs!r}"


def judge(
    rep: Representation, capabilities: frozenset[str], decoders: frozenset[str],
    output: OutputFormats, drm_systems: frozenset[str] | None,
) -> Verdict:
    family = codec_family(rep.codecs)
    tier, desc = tier_of(rep, family)

    def no(code: str, detail: str) -> Verdict:
        return Verdict(rep.id, rep.bandwidth, family, tier.value if tier else None, False, code,
                       f"{desc}: {detail}")

    if rep.mime_type and not rep.mime_type.startswith("audio/"):
        return no("not_audio", f"mimeType {rep.mime_type}")
    if tier is None or family is None:
        return no("unknown_codec", "no capability tier for this codec")
    if tier.value not in capabilities:
        return no("capability", f"device does not claim {tier.value}")
    if not decoders.intersection(DECODERS[family]):
        return no("no_decoder", f"no {family} decoder present")
    rate = rep.audio_sampling_rate
    if rate is not None:
        if rate > output.max_sample_rate:
            return no("sample_rate", f"{rate} Hz above the output's {output.max_sample_rate} Hz")
        if output.sample_rates is not None and rate not in output.sample_rates:
            return no("sample_rate", f"output does not list {rate} Hz")
    elif tier is Capability.HI_RES and output.max_sample_rate < 88200:
        return no("sample_rate", "hi-res rate not signalled and the output stops below 88.2 kHz")
    bits = rep.bit_depth or (16 if family == "flac" and tier is Capability.HI_FI else None)
    if family == "flac" and bits is None:
        bits = 24
    if bits is not None and bits > output.max_bit_depth:
        return no("bit_depth", f"{bits} bit above the output's {output.max_bit_depth} bit")
    if rep.channels is not None and rep.channels > output.max_channels:
        return no("channels", f"{rep.channels} channels above the output's "
                  f"{output.max_channels}")
    if rep.protected:
        scheme = rep.protection_scheme
        if scheme is not None and scheme not in SUPPORTED_SCHEMES:
            return no("drm_scheme", f"protection scheme {scheme!r} not supported")
        if drm_systems is not None:
            kinds = {c.kind for c in rep.content_protection} - {"mp4protection"}
            if kinds and not kinds & drm_systems:
                return no("drm_system", f"no CDM for {sorted(kinds)}")
    return Verdict(rep.id, rep.bandwidth, family, tier.value, True, "ok", desc)


def _quality(rep: Representation, tier: str, preference: Sequence[Capability]) -> tuple[int, ...]:
    order = [p.value for p in preference]
    rank = len(order) - order.index(tier) if tier in order else 0
    return (rank, rep.audio_sampling_rate or 0, rep.bit_depth or 0, rep.bandwidth)


def select(
    period: Period,
    *,
    capabilities: Iterable[str | Capability],
    decoders: Iterable[str],
    output: OutputFormats,
    bandwidth_bps: int | None = None,
    headroom: float = 0.8,
    preference: Sequence[Capability] = DEFAULT_PREFERENCE,
    drm_systems: Iterable[str] | None = None,
) -> Selection:
    """Choose the best playable Representation of `period` (see module docstring)."""
    caps = frozenset(str(c) for c in capabilities)
    decs = frozenset(d.lower() for d in decoders)
    drm = frozenset(drm_systems) if drm_systems is not None else None
    verdicts: list[Verdict] = []
    playable: list[tuple[tuple[int, ...], Representation, AdaptationSet]] = []
    for aset in period.adaptation_sets:
        if aset.content_type not in (None, "audio"):
            continue
        for rep in aset.representations:
            v = judge(rep, caps, decs, output, drm)
            verdicts.append(v)
            if v.playable and v.tier is not None:
                playable.append((_quality(rep, v.tier, preference), rep, aset))
    if not playable:
        return Selection(None, None, (), "nothing_playable",
                         "no Representation passes the capability, decoder and output checks",
                         tuple(verdicts))
    playable.sort(key=lambda p: p[0], reverse=True)
    if bandwidth_bps is None:
        _, rep, aset = playable[0]
        reason, detail = "best_without_estimate", "no bandwidth estimate: best playable quality"
    else:
        budget = bandwidth_bps * headroom
        fitting = [p for p in playable if p[1].bandwidth <= budget]
        if fitting:
            _, rep, aset = fitting[0]
            reason = "best_within_bandwidth"
            detail = f"{rep.bandwidth} bps fits {int(budget)} bps ({headroom:.0%} of estimate)"
        else:
            _, rep, aset = min(playable, key=lambda p: p[1].bandwidth)
            reason = "lowest_bandwidth_fallback"
            detail = f"nothing fits {int(budget)} bps; lowest playable bandwidth"
    ladder = tuple(sorted((r for _, r, a in playable if a is aset), key=lambda r: r.bandwidth))
    return Selection(rep, aset, ladder, reason, detail, tuple(verdicts))
