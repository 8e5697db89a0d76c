"""The audio format an init segment really carries (manifests can lie: packagers write
audioSamplingRate="0" for FLAC, and the 16.16 sample-entry rate cannot hold 96 or 192 kHz).

`audio_formats(init)` reads, per track, the sample entry (through `enca` to its `frma`
format) and the codec box: dfLa STREAMINFO, dOps, dec3; mp4a/esds falls back to the entry.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from daemon.core.errors import MediaError
from daemon.mp4.box import Box, parse_boxes
from daemon.mp4.fields import Cursor, parse_tkhd_track_id

_EAC3_RATES = {0: 48000, 1: 44100, 2: 32000}
_ACMOD_CHANNELS = (2, 1, 2, 3, 3, 4, 4, 5)


@dataclass(frozen=True)
class AudioInfo:
    track_id: int
    codec: str  # the clear sample entry type: fLaC, Opus, ec-3, mp4a, ...
    sample_rate: int
    channels: int
    bits_per_sample: int | None  # only where the codec defines it (FLAC, PCM)
    protected: bool


def audio_formats(init: bytes) -> list[AudioInfo]:
    """Audio format of every audio track in an init segment, in track order."""
    moov = next((b for b in parse_boxes(init) if b.type == "moov"), None)
    if moov is None:
        raise MediaError("init segment has no moov", box="moov", offset=0)
    out = []
    for trak in moov.find_all("trak"):
        tkhd = trak.find("tkhd")
        stsd = trak.find("mdia", "minf", "stbl", "stsd")
        if tkhd is None or stsd is None or not stsd.children:
            continue
        entry = stsd.children[0]
        if entry.children is None:
            continue  # not an audio sample entry we know
        info = _entry(parse_tkhd_track_id(tkhd.payload, "moov/trak/tkhd"), entry)
        if info is not None:
            out.append(info)
    return out


def _entry(track_id: int, entry: Box) -> AudioInfo | None:
    where = f"moov/trak/mdia/minf/stbl/stsd/{entry.type}"
    if len(entry.payload) < 28:
        return None  # a visual entry or something else
    codec = entry.type
    frma = entry.find("sinf", "frma")
    if frma is not None:
        codec = frma.payload.decode("latin-1")
    channels, bits = struct.unpack_from(">HH", entry.payload, 16)
    rate = struct.unpack_from(">I", entry.payload, 24)[0] >> 16
    bits_out: int | None = None
    if codec == "fLaC":
        box = entry.find("dfLa")
        if box is None:
            raise MediaError("fLaC sample entry without dfLa", box=where)
        rate, channels, bits_out = _streaminfo(box.payload, f"{where}/dfLa")
    elif codec == "Opus":
        box = entry.find("dOps")
        if box is None:
            raise MediaError("Opus sample entry without dOps", box=where)
        c = Cursor(box.payload, f"{where}/dOps")
        c.u8("Version")
        channels = c.u8("OutputChannelCount")
        c.u16("PreSkip")
        rate = 48000  # Opus always decodes at 48 kHz; InputSampleRate is informational
        c.u32("InputSampleRate")
    elif codec == "ec-3":
        box = entry.find("dec3")
        if box is not None:
            rate, channels = _dec3(box.payload, f"{where}/dec3")
    elif codec in ("ipcm", "lpcm", "twos", "sowt"):
        bits_out = bits
    return AudioInfo(track_id, codec, rate, channels, bits_out, frma is not None)


def _streaminfo(payload: bytes, where: str) -> tuple[int, int, int]:
    c = Cursor(payload, where)
    c.full_header()
    block_type = c.u8("metadata block type") & 0x7F
    length = c.u24("metadata block length")
    if block_type != 0 or length < 34:
        raise c.fail("dfLa does not start with a STREAMINFO block")
    c.take(10, "block and frame sizes")
    packed = int.from_bytes(c.take(8, "STREAMINFO rate/channels/bits"), "big")
    rate = packed >> 44
    channels = ((packed >> 41) & 7) + 1
    bits = ((packed >> 36) & 31) + 1
    if rate == 0:
        raise MediaError("STREAMINFO sample rate is 0", box=where)
    return rate, channels, bits


def _dec3(payload: bytes, where: str) -> tuple[int, int]:
    c = Cursor(payload, where)
    c.u16("data_rate/num_ind_sub")
    b = c.take(3, "independent substream")
    fscod = b[0] >> 6
    acmod = (b[1] >> 1) & 7
    lfeon = b[1] & 1
    return _EAC3_RATES.get(fscod, 48000), _ACMOD_CHANNELS[acmod] + lfeon
