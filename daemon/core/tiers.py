"""Audio tiers: the capability tokens a device may claim and the qualities they unlock.

One definition for the whole daemon; strings appear only at the wire (the
X-Amzn-Audio-Device-Capability header, event bodies, the control API, the config file).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class Capability(enum.StrEnum):
    """X-Amzn-Audio-Device-Capability tokens (first four DOCUMENTED example; 360 is AM-C07)."""

    STD_RES = "STD_RES"
    HI_FI = "HI_FI"
    HI_RES = "HI_RES"
    THREE_DIMENSIONAL = "THREE_DIMENSIONAL"
    REAL_AUDIO_360 = "REAL_AUDIO_360"


#: AM-C07: canonical order in which the client lists its tokens.
CAPABILITY_ORDER: Final[tuple[Capability, ...]] = tuple(Capability)


class Quality(enum.StrEnum):
    """DOCUMENTED display qualities (audio-formats page)."""

    SD = "SD"
    HD = "HD"
    UHD = "UHD"
    ATMOS = "ATMOS"
    RA360 = "360RA"


#: AM-C07: token -> quality it unlocks.
CAPABILITY_QUALITY: Final[Mapping[Capability, Quality]] = {
    Capability.STD_RES: Quality.SD,
    Capability.HI_FI: Quality.HD,
    Capability.HI_RES: Quality.UHD,
    Capability.THREE_DIMENSIONAL: Quality.ATMOS,
    Capability.REAL_AUDIO_360: Quality.RA360,
}

#: DOCUMENTED: badge text per quality (SD has none).
QUALITY_BADGE: Final[Mapping[Quality, str | None]] = {
    Quality.SD: None,
    Quality.HD: "HD",
    Quality.UHD: "Ultra HD",
    Quality.ATMOS: "Atmos",
    Quality.RA360: "360",
}
