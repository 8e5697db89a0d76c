"""Reading the real audio format from init segments, checked against PyAV's own view."""

from __future__ import annotations

import io
import struct

import pytest

from daemon.core.errors import MediaError
from daemon.mp4 import cenc
from daemon.mp4.audio import _dec3, audio_formats
from tests.unit.mp4.media import make_fmp4, split


@pytest.mark.parametrize(
    ("codec", "rate", "fmt", "bits"),
    [("flac", 96000, "s32", 32), ("flac", 192000, "s32", 32), ("flac", 44100, "s16", 16),
     ("libopus", 48000, "s16", None)],
)
def test_formats_match_pyav(codec: str, rate: int, fmt: str, bits: int | None) -> None:
    import av

    data = make_fmp4(codec, rate=rate, seconds=0.2, sample_fmt=fmt)
    init = split(data).init
    with av.open(io.BytesIO(data)) as c:
        st = c.streams.audio[0]
        expect = (st.sample_rate, st.channels)
    (info,) = audio_formats(init)
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (*expect, bits)
    assert rate == info.sample_rate  # above 65535 Hz, which the 16.16 entry field cannot hold
    (enc,) = audio_formats(cenc.encrypt_init(init, scheme="cenc", kid=b"k" * 16))
    assert (enc.codec, enc.sample_rate, enc.protected) == (info.codec, rate, True)


def test_dec3_channel_layout() -> None:
    # data_rate 768, one substream; fscod 0 (48 kHz), acmod 7 (3/2), lfeon 1 -> 5.1
    payload = struct.pack(">H", 768 << 3) + bytes([0b00_10000_0, (7 << 1) | 1, 0])
    assert _dec3(payload, "dec3") == (48000, 6)


def test_missing_codec_box_is_a_media_error() -> None:
    init = split(make_fmp4("flac", seconds=0.2)).init
    broken = init.replace(b"dfLa", b"xxxx")
    with pytest.raises(MediaError, match="without dfLa"):
        audio_formats(broken)
