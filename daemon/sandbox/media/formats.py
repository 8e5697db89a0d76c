"""How the generator makes each format id of the AM-C07 fixture table.

The ids, qualities, codecs, rates and bit depths are the contract's
(daemon.sandbox.choices.FORMATS); this module adds what an encoder needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.core.tiers import Quality
from daemon.sandbox.choices import FORMATS as CONTRACT_FORMATS
from daemon.sandbox.choices import FormatInfo


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One encodable Representation."""

    info: FormatInfo
    #: codec family: one AdaptationSet per family in an MPD.
    family: str
    #: the encoder name PyAV is asked for.
    encoder: str
    channels: int
    #: target bitrate of lossy formats (bit/s); None for lossless ones.
    bitrate: int | None

    @property
    def id(self) -> str:
        return self.info.format_id

    @property
    def quality(self) -> Quality:
        return self.info.quality

    @property
    def codecs(self) -> str:
        return self.info.codecs

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def bit_depth(self) -> int | None:
        return self.info.bit_depth

    @property
    def lossless(self) -> bool:
        return self.info.lossless


def _fmt(format_id: str, encoder: str, bitrate: int | None) -> AudioFormat:
    info = CONTRACT_FORMATS[format_id]
    return AudioFormat(info, info.codecs, encoder, 2, bitrate)


#: Every format id in presentation order (lowest quality first). EC-3 is channel-based:
#: object audio (JOC) cannot be produced offline (spec/amazon-music.md §3.4).
FORMATS: dict[str, AudioFormat] = {
    f.id: f
    for f in (
        _fmt("OPUS_48", "libopus", 48_000),
        _fmt("OPUS_192", "libopus", 192_000),
        _fmt("OPUS_320", "libopus", 320_000),
        _fmt("FLAC_16_44", "flac", None),
        _fmt("FLAC_24_96", "flac", None),
        _fmt("FLAC_24_192", "flac", None),
        _fmt("EC3", "eac3", 192_000),
    )
}
