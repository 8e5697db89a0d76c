"""Volume curve and software/hardware application."""

from __future__ import annotations

import array
import itertools
import math
import random
import shutil
import struct
from pathlib import Path

import pytest

from daemon.core.errors import SinkError
from daemon.playback.sinks.base import PcmFormat, SampleFormat, pack_s32, unpack_to_s32
from daemon.playback.volume import (
    AlsaMixerVolume,
    SoftwareVolume,
    ctl_device_for,
    db_to_level,
    level_to_db,
    level_to_gain,
)


def test_curve_is_monotonic_cubic_and_round_trips() -> None:
    gains = [level_to_gain(v) for v in range(101)]
    assert gains[0] == 0.0
    assert gains[100] == 1.0
    assert all(a < b for a, b in itertools.pairwise(gains))
    assert level_to_db(50) == pytest.approx(20 * math.log10(0.125))  # ≈ -18 dB
    assert level_to_db(10) == pytest.approx(-60.0)
    assert level_to_db(0) == -math.inf
    assert all(db_to_level(level_to_db(v)) == v for v in range(101))
    # Perceptual: equal level steps are roughly equal dB steps in the upper range.
    assert level_to_db(90) - level_to_db(80) == pytest.approx(3.07, abs=0.05)
    for bad in (-1, 101, True, 5.5):
        with pytest.raises(SinkError):
            level_to_gain(bad)  # type: ignore[arg-type]


def ints(data: bytes, code: str) -> list[int]:
    a = array.array(code)
    a.frombytes(data)
    return a.tolist()


@pytest.mark.parametrize("frames", [1, 1001, 4800])
async def test_software_volume_scales_s16(frames: int) -> None:
    fmt = PcmFormat(48000, 2, SampleFormat.S16_LE)
    data = random.Random(frames).randbytes(frames * fmt.frame_bytes)
    vol = SoftwareVolume()
    assert vol.apply(data, fmt) is data  # 100: untouched
    await vol.set_level(50)
    out = vol.apply(data, fmt)
    assert len(out) == len(data)
    for x, y in zip(ints(data, "h"), ints(out, "h"), strict=True):
        assert abs(y - x * 0.125) <= 1
    await vol.set_level(0)
    assert vol.apply(data, fmt) == bytes(len(data))


@pytest.mark.parametrize("sf", [SampleFormat.S32_LE, SampleFormat.S24_3LE, SampleFormat.S24_LE])
async def test_software_volume_scales_24_bit_layouts(sf: SampleFormat) -> None:
    fmt = PcmFormat(96000, 2, sf)
    rng = random.Random(7)
    values = [rng.randrange(-(2**23), 2**23) for _ in range(2 * 999)]
    s32 = array.array("i", [v << 8 for v in values]).tobytes()
    data = pack_s32(s32, sf)
    vol = SoftwareVolume(level=80)
    out = unpack_to_s32(vol.apply(data, fmt), sf)
    gain = level_to_gain(80)
    for v, y in zip(values, ints(out, "i"), strict=True):
        assert abs((y >> 8) - v * gain) <= 2  # float32 path + truncation to 24 bits


async def test_software_volume_scales_float() -> None:
    fmt = PcmFormat(48000, 1, SampleFormat.FLOAT_LE)
    data = struct.pack("<4f", 0.5, -0.5, 1.0, 0.0)
    vol = SoftwareVolume(level=50)
    got = struct.unpack("<4f", vol.apply(data, fmt))
    assert got == pytest.approx((0.0625, -0.0625, 0.125, 0.0))


def test_pack_unpack_24_bit_round_trip() -> None:
    s32 = array.array("i", [(-(2**23)) << 8, -256, 0, 256, (2**23 - 1) << 8]).tobytes()
    for sf in (SampleFormat.S24_3LE, SampleFormat.S24_LE):
        assert unpack_to_s32(pack_s32(s32, sf), sf) == s32
    assert ints(pack_s32(s32, SampleFormat.S24_LE), "i") == [-(2**23), -1, 0, 1, 2**23 - 1]
    assert len(pack_s32(s32, SampleFormat.S24_3LE)) == 15


def test_ctl_device_for_pcm_names() -> None:
    assert ctl_device_for("hw:CARD=sndrpihifiberry,DEV=0") == "hw:CARD=sndrpihifiberry"
    assert ctl_device_for("plughw:1,0") == "hw:1"
    assert ctl_device_for("default") == "default"


async def test_hardware_mixer_runs_amixer_with_the_mapped_curve(tmp_path: Path) -> None:
    log = tmp_path / "args"
    fake = tmp_path / "amixer"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    mixer = AlsaMixerVolume("Digital", ctl_device="hw:CARD=sndrpihifiberry",
                            amixer_path=str(fake))
    assert mixer.software is False
    await mixer.set_level(42)
    assert mixer.level == 42
    assert log.read_text().split() == ["-q", "-M", "-D", "hw:CARD=sndrpihifiberry", "sset",
                                       "Digital", "42%"]


async def test_hardware_mixer_failure_is_a_sink_error(tmp_path: Path) -> None:
    fake = tmp_path / "amixer"
    fake.write_text("#!/bin/sh\necho \"amixer: Unable to find simple control 'Nope',0\" >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    mixer = AlsaMixerVolume("Nope", amixer_path=str(fake), level=30)
    with pytest.raises(SinkError, match="mixer refused") as info:
        await mixer.set_level(60)
    assert "Unable to find simple control" in info.value.fields["reason"]
    assert mixer.level == 30


@pytest.mark.skipif(shutil.which("amixer") is None, reason="amixer not installed (alsa-utils)")
async def test_real_amixer_without_a_card_is_a_sink_error() -> None:
    mixer = AlsaMixerVolume("Digital", ctl_device="hw:CARD=nosuchcard")
    with pytest.raises(SinkError):
        await mixer.set_level(10)
