"""A fragmented MP4 from our muxer, split into its init segment and timed fragments, and
the `sidx` that indexes them. The boxes are read and written with daemon.mp4.

Input is always our own muxer's output, so malformed input is a bug: it raises
ContentError rather than being tolerated.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.core.errors import MediaError
from daemon.mp4.box import Box, Header, iter_headers, parse_box
from daemon.mp4.fields import parse_mdhd_timescale, parse_trex
from daemon.mp4.fragment_fields import parse_tfdt, parse_tfhd, parse_trun
from daemon.mp4.sidx import Sidx, SidxReference, build_sidx
from daemon.sandbox.media.errors import ContentError


@dataclass(frozen=True, slots=True)
class Fragment:
    """One moof+mdat pair: byte range in the file and media time in the track timescale."""

    offset: int
    size: int
    start: int
    duration: int


@dataclass(frozen=True, slots=True)
class FragmentedMp4:
    init: bytes
    timescale: int
    fragments: tuple[Fragment, ...]
    data: bytes

    def fragment_bytes(self, index: int) -> bytes:
        f = self.fragments[index]
        return self.data[f.offset : f.offset + f.size]


def split(data: bytes) -> FragmentedMp4:
    """Init segment (everything before the first moof) and the moof+mdat fragments."""
    try:
        return _split(data)
    except MediaError as exc:
        raise ContentError(f"malformed fragmented MP4: {exc.detail}", **exc.fields) from None


def _split(data: bytes) -> FragmentedMp4:
    top = list(iter_headers(data))
    first_moof = next((i for i, h in enumerate(top) if h.type == "moof"), None)
    if first_moof is None:
        raise ContentError("not a fragmented MP4: no moof")
    init = data[: top[first_moof].offset]
    moov = _required(next((_box_at(data, h) for h in top if h.type == "moov"), None), "moov")
    timescale = parse_mdhd_timescale(_required(moov.find("trak", "mdia", "mdhd"), "mdhd").payload)
    trex = parse_trex(_required(moov.find("mvex", "trex"), "trex").payload)
    fragments: list[Fragment] = []
    i = first_moof
    while i < len(top) and top[i].type == "moof":
        if i + 1 >= len(top) or top[i + 1].type != "mdat":
            raise ContentError("moof without mdat", offset=top[i].offset)
        moof, mdat = top[i], top[i + 1]
        start, duration = _moof_timing(_box_at(data, moof), trex.duration)
        fragments.append(Fragment(moof.offset, mdat.end - moof.offset, start, duration))
        i += 2
    return FragmentedMp4(init, timescale, tuple(fragments), data)


def _box_at(data: bytes, header: Header) -> Box:
    return parse_box(data[header.offset : header.end], header.type)


def _required(box: Box | None, name: str) -> Box:
    if box is None:
        raise ContentError("box not found", box=name)
    return box


def _moof_timing(moof: Box, trex_duration: int) -> tuple[int, int]:
    """(baseMediaDecodeTime, summed sample durations) of a moof's first traf."""
    traf = _required(moof.find("traf"), "traf")
    tfhd = parse_tfhd(_required(traf.find("tfhd"), "tfhd").payload)
    default_duration = trex_duration if tfhd.default_duration is None else tfhd.default_duration
    _, start = parse_tfdt(_required(traf.find("tfdt"), "tfdt").payload)
    duration = 0
    for trun in traf.find_all("trun"):
        samples = parse_trun(trun.payload).samples
        duration += sum(default_duration if d is None else d for d, _s, _f, _o in samples)
    return start, duration


def segment_index(
    timescale: int, fragments: tuple[Fragment, ...], sizes: list[int], track_id: int = 1
) -> bytes:
    """A v1 `sidx` box indexing `fragments` (which follow it directly), with the given sizes."""
    references = tuple(
        SidxReference(0, size, f.duration, True, 1, 0)  # media, starts with a type-1 SAP
        for f, size in zip(fragments, sizes, strict=True)
    )
    earliest = fragments[0].start if fragments else 0
    index = Sidx(1, track_id, timescale, earliest, 0, references)
    return Box("sidx", build_sidx(index)).to_bytes()
