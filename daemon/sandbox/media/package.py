"""One Representation, packaged: clear fMP4 from PyAV -> CENC via daemon.mp4.cenc.

The encrypted file is `init | sidx | fragments`; the first fragments (those starting
before the clear lead ends) point at the clear sample entry (spec/drm-and-media.md §5.3),
the rest are encrypted with the track's key. Fragments keep PyAV's boundaries and packets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daemon.drm.pssh import widevine_pssh
from daemon.sandbox.media.catalog import Track, derive
from daemon.sandbox.media.encode import SourceAudio, encode_clear
from daemon.sandbox.media.formats import AudioFormat
from daemon.sandbox.media.fragments import segment_index, split


@dataclass(frozen=True, slots=True)
class Segment:
    """A media segment: byte range [offset, offset + size) in the file, media time."""

    offset: int
    size: int
    start: int
    duration: int
    clear: bool


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything is inside one Representation's encrypted file."""

    format_id: str
    timescale: int
    init_size: int
    #: byte range [start, end) of the sidx box.
    index_start: int
    index_end: int
    segments: tuple[Segment, ...]
    #: peak bitrate over segments (bit/s), the MPD's @bandwidth.
    bandwidth: int
    file_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format_id": self.format_id,
            "timescale": self.timescale,
            "init_size": self.init_size,
            "index": [self.index_start, self.index_end],
            "segments": [[s.offset, s.size, s.start, s.duration, s.clear] for s in self.segments],
            "bandwidth": self.bandwidth,
            "file_size": self.file_size,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Layout:
        return cls(
            format_id=str(value["format_id"]),
            timescale=int(value["timescale"]),
            init_size=int(value["init_size"]),
            index_start=int(value["index"][0]),
            index_end=int(value["index"][1]),
            segments=tuple(
                Segment(int(o), int(s), int(t), int(d), bool(c))
                for o, s, t, d, c in value["segments"]
            ),
            bandwidth=int(value["bandwidth"]),
            file_size=int(value["file_size"]),
        )


@dataclass(frozen=True, slots=True)
class Packaged:
    layout: Layout
    encrypted: bytes


def package(
    track: Track,
    fmt: AudioFormat,
    source: SourceAudio,
    *,
    seed: int,
    segment_seconds: float,
    clear_lead_s: float,
) -> Packaged:
    """Encode `fmt` from `source` and protect it with the track's scheme, KID and key."""
    from daemon.mp4.cenc import encrypt_init, encrypt_segment

    clear = encode_clear(fmt, source, segment_seconds)
    parts = split(clear)
    extra: dict[str, Any] = {}
    if track.scheme == "cbcs":
        # Audio cbcs as packagers write it: pattern 0:0 and a constant IV (spec §5.2).
        extra["constant_iv"] = derive(seed, "constant-iv", track.id, fmt.id)
    init = encrypt_init(
        parts.init,
        scheme=track.scheme,
        kid=track.kid,
        clear_lead=True,
        pssh_boxes=[widevine_pssh([track.kid], track.scheme).raw],
        **extra,
    )
    fragments: list[bytes] = []
    clear_flags: list[bool] = []
    for i, frag in enumerate(parts.fragments):
        is_clear = frag.start < clear_lead_s * parts.timescale
        # A fresh, deterministic IV per fragment (cbcs uses the constant IV instead).
        iv = (
            None if track.scheme == "cbcs" else derive(seed, "iv", track.id, fmt.id, str(i), size=8)
        )
        fragments.append(
            encrypt_segment(init, parts.fragment_bytes(i), track.key, iv=iv, clear=is_clear)
        )
        clear_flags.append(is_clear)
    index = segment_index(parts.timescale, parts.fragments, [len(f) for f in fragments])
    offset = len(init) + len(index)
    segments: list[Segment] = []
    for frag, data, is_clear in zip(parts.fragments, fragments, clear_flags, strict=True):
        segments.append(Segment(offset, len(data), frag.start, frag.duration, is_clear))
        offset += len(data)
    bandwidth = max((s.size * 8 * parts.timescale + s.duration - 1) // s.duration for s in segments)
    layout = Layout(
        format_id=fmt.id,
        timescale=parts.timescale,
        init_size=len(init),
        index_start=len(init),
        index_end=len(init) + len(index),
        segments=tuple(segments),
        bandwidth=bandwidth,
        file_size=offset,
    )
    return Packaged(layout, init + index + b"".join(fragments))
