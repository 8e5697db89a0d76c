"""What an init segment says about each track, and where a fragment's samples lie.

`read_init` finds every track's sample entries (clear or protected, with scheme and `tenc`),
`trex` defaults and timescale. `fragment_layout` turns one `moof` into absolute sample byte
ranges per `traf`, following the tfhd/trun base-offset rules and checking every range lies
inside the segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.core.errors import MediaError
from daemon.mp4.box import Box, parse_boxes
from daemon.mp4.fields import (
    Tenc,
    Trex,
    parse_mdhd_timescale,
    parse_schm,
    parse_tenc,
    parse_tkhd_track_id,
    parse_trex,
)
from daemon.mp4.fragment_fields import TFHD_DEFAULT_BASE_IS_MOOF, Tfhd, Trun, parse_tfhd, parse_trun


@dataclass
class SampleEntryInfo:
    index: int  # 1-based, as tfhd/trex count
    type: str  # e.g. "enca" or "fLaC"
    original_format: str  # frma for protected entries, else the type
    scheme: str | None  # "cenc", "cbcs", ... or None for a clear entry
    scheme_version: int = 0
    tenc: Tenc | None = None


@dataclass
class TrackInfo:
    track_id: int
    timescale: int
    handler: str
    entries: list[SampleEntryInfo]
    trex: Trex | None = None

    def entry(self, index: int, where: str, offset: int) -> SampleEntryInfo:
        if not 1 <= index <= len(self.entries):
            raise MediaError(
                f"sample_description_index {index} out of range 1..{len(self.entries)}",
                box=where, offset=offset,
            )
        return self.entries[index - 1]


def sample_entry_info(index: int, entry: Box, path: str) -> SampleEntryInfo:
    sinf = entry.find("sinf")
    if sinf is None:
        return SampleEntryInfo(index, entry.type, entry.type, None)
    frma = sinf.find("frma")
    schm = sinf.find("schm")
    if frma is None or len(frma.payload) != 4:
        raise MediaError("protected sample entry without a valid frma", box=f"{path}/sinf")
    if schm is None:
        raise MediaError("protected sample entry without schm", box=f"{path}/sinf")
    scheme, version = parse_schm(schm.payload, f"{path}/sinf/schm", schm.offset)
    tenc_box = sinf.find("schi", "tenc")
    tenc = parse_tenc(tenc_box.payload, f"{path}/sinf/schi/tenc") if tenc_box else None
    return SampleEntryInfo(index, entry.type, frma.payload.decode("latin-1"), scheme, version,
                           tenc)


def read_init(init: bytes) -> tuple[list[Box], dict[int, TrackInfo]]:
    """Parse an init segment; returns its boxes and the tracks by track_ID."""
    boxes = parse_boxes(init)
    moov = next((b for b in boxes if b.type == "moov"), None)
    if moov is None:
        raise MediaError("init segment has no moov", box="moov", offset=0)
    tracks: dict[int, TrackInfo] = {}
    for trak in moov.find_all("trak"):
        tkhd = trak.find("tkhd")
        mdhd = trak.find("mdia", "mdhd")
        hdlr = trak.find("mdia", "hdlr")
        stsd = trak.find("mdia", "minf", "stbl", "stsd")
        if tkhd is None or mdhd is None or stsd is None:
            raise MediaError("trak lacks tkhd, mdhd or stsd", box="moov/trak", offset=trak.offset)
        tid = parse_tkhd_track_id(tkhd.payload, "moov/trak/tkhd")
        handler = hdlr.payload[8:12].decode("latin-1") if hdlr and len(hdlr.payload) >= 12 else ""
        path = "moov/trak/mdia/minf/stbl/stsd"
        entries = [
            sample_entry_info(i + 1, e, f"{path}/{e.type}")
            for i, e in enumerate(stsd.children or [])
        ]
        tracks[tid] = TrackInfo(tid, parse_mdhd_timescale(mdhd.payload, "moov/trak/mdia/mdhd"),
                                handler, entries)
    mvex = moov.find("mvex")
    for trex_box in mvex.find_all("trex") if mvex else []:
        trex = parse_trex(trex_box.payload, "moov/mvex/trex")
        if trex.track_id in tracks:
            tracks[trex.track_id].trex = trex
    return boxes, tracks


@dataclass
class TrafLayout:
    traf: Box
    tfhd: Tfhd
    truns: list[Trun]
    track: TrackInfo
    sdi: int
    base: int  # absolute base data offset
    samples: list[tuple[int, int]]  # absolute (offset, size) of each sample


def fragment_layout(
    moof: Box, moof_offset: int, tracks: dict[int, TrackInfo], segment_len: int
) -> list[TrafLayout]:
    """Sample byte ranges of every traf in `moof` (whose header starts at `moof_offset`)."""
    out: list[TrafLayout] = []
    prev_end = moof_offset
    for traf in moof.find_all("traf"):
        where = "moof/traf"
        tfhd_box = traf.find("tfhd")
        if tfhd_box is None:
            raise MediaError("traf without tfhd", box=where, offset=moof_offset + traf.offset)
        tfhd = parse_tfhd(tfhd_box.payload, f"{where}/tfhd", moof_offset + tfhd_box.offset)
        track = tracks.get(tfhd.track_id)
        if track is None:
            raise MediaError(f"traf for unknown track_ID {tfhd.track_id}", box=f"{where}/tfhd",
                             offset=moof_offset + tfhd_box.offset)
        trex = track.trex or Trex(track_id=track.track_id)
        sdi = tfhd.sample_description_index or trex.sample_description_index
        track.entry(sdi, f"{where}/tfhd", moof_offset + tfhd_box.offset)
        if tfhd.base_data_offset is not None:
            base = tfhd.base_data_offset
        elif tfhd.flags & TFHD_DEFAULT_BASE_IS_MOOF or not out:
            base = moof_offset
        else:
            base = prev_end
        default_size = tfhd.default_size if tfhd.default_size is not None else trex.size
        samples: list[tuple[int, int]] = []
        truns: list[Trun] = []
        pos = base
        for trun_box in traf.find_all("trun"):
            trun = parse_trun(trun_box.payload, f"{where}/trun", moof_offset + trun_box.offset)
            truns.append(trun)
            if trun.data_offset is not None:
                pos = base + trun.data_offset
            for _d, size, _f, _o in trun.samples:
                n = default_size if size is None else size
                if pos < 0 or pos + n > segment_len:
                    raise MediaError(
                        f"sample bytes {pos}..{pos + n} lie outside the {segment_len}-byte segment",
                        box=f"{where}/trun", offset=moof_offset + trun_box.offset,
                    )
                samples.append((pos, n))
                pos += n
        prev_end = pos
        out.append(TrafLayout(traf, tfhd, truns, track, sdi, base, samples))
    return out
