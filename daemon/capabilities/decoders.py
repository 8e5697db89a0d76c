"""Which media types this machine can decode: PyAV's decoders, probed lazily."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

log = logging.getLogger("daemon.capabilities")

#: FFmpeg decoder names that can decode each media type the service sends.
DECODERS: Final[Mapping[str, tuple[str, ...]]] = {
    "opus": ("opus", "libopus"),
    "aac": ("aac", "aac_fixed", "libfdk_aac"),
    "flac": ("flac",),
    "eac3": ("eac3",),
    "mpegh": ("mpegh3da", "libmpeghdec", "mpegh"),
}


def pyav_decoder_names() -> frozenset[str]:
    """FFmpeg decoder names PyAV has among those `DECODERS` lists (for `dash.select`)."""
    try:
        import av
    except ImportError:
        return frozenset()
    have = set(av.codecs_available)
    found = set()
    for names in DECODERS.values():
        for n in names:
            if n not in have:
                continue
            try:
                av.Codec(n, "r")
            except Exception:  # listed but not a decoder (encoder-only name)
                log.debug(f"capabilities.not_a_decoder codec={n}")
                continue
            found.add(n)
    return frozenset(found)


def available_decoders(names: frozenset[str] | None = None) -> frozenset[str]:
    """Media types decodable here ("opus", "aac", "flac", "eac3", "mpegh"); probes lazily."""
    have = pyav_decoder_names() if names is None else names
    return frozenset(media for media, options in DECODERS.items() if have.intersection(options))
