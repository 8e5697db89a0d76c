"""Hardware profiles: validation with file/key errors, and the capability derivation."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from daemon import capabilities as cap
from daemon.core.errors import ConfigError
from daemon.core.tiers import Capability
from daemon.playback.sinks.base import SampleFormat

ALL = [c.value for c in Capability]
PYAV = frozenset({"opus", "aac", "flac", "eac3"})  # what PyAV 18 has (no MPEG-H)

EXPECTED = {
    "rpi-headphones": {"STD_RES", "HI_FI"},
    "hdmi": {"STD_RES", "HI_FI", "HI_RES", "THREE_DIMENSIONAL"},
    "hifiberry-dacplus": {"STD_RES", "HI_FI", "HI_RES"},
    "hifiberry-dac2hd": {"STD_RES", "HI_FI", "HI_RES"},
    "iqaudio-dacpro": {"STD_RES", "HI_FI", "HI_RES"},
    "generic-usb": {"STD_RES", "HI_FI", "HI_RES"},
}


def test_every_shipped_profile_loads() -> None:
    names = cap.list_profiles()
    assert set(names["outputs"]) == set(EXPECTED)
    assert set(names["boards"]) == {"rpi-zero-2w", "rpi-3b-plus", "rpi-4b", "rpi-5",
                                    "generic-x86"}
    for board_name in names["boards"]:
        board = cap.load_board(board_name)
        for output in board.outputs:
            assert output in names["outputs"], (board_name, output)


@pytest.mark.parametrize("output", sorted(EXPECTED))
def test_derivation_for_each_output(output: str) -> None:
    profile = cap.load_output(output)
    d = cap.derive_capabilities(profile, decoders=PYAV, allow=ALL)
    assert {t.value for t in d.tokens} == EXPECTED[output]
    assert Capability.REAL_AUDIO_360 not in d.tokens
    reasons = {s.token: s.reason for s in d.steps}
    assert "MPEG-H" in reasons[Capability.REAL_AUDIO_360]
    assert d.header().split(",") == [c.value for c in Capability if c in d.tokens]


def test_headphone_jack_is_never_hi_res_and_pi5_has_none() -> None:
    jack = cap.load_output("rpi-headphones")
    d = cap.derive_capabilities(jack, decoders=PYAV, allow=ALL, board=cap.load_board("rpi-4b"))
    step = next(s for s in d.steps if s.token is Capability.HI_RES)
    assert not step.granted
    assert "24" in step.reason
    for board in ("rpi-5", "rpi-zero-2w"):
        with pytest.raises(ConfigError, match="does not fit") as info:
            cap.derive_capabilities(jack, decoders=PYAV, allow=ALL, board=cap.load_board(board))
        assert info.value.fields["file"].endswith(f"{board}.yaml")


def test_decoders_and_config_narrow_the_set() -> None:
    dac = cap.load_output("hifiberry-dacplus")
    no_flac = cap.derive_capabilities(dac, decoders={"opus"}, allow=ALL)
    assert no_flac.tokens == {Capability.STD_RES}
    aac_only = cap.derive_capabilities(dac, decoders={"aac"}, allow=ALL)
    assert aac_only.tokens == {Capability.STD_RES}
    limited = cap.derive_capabilities(dac, decoders=PYAV, allow=["std_res", "HI_FI"])
    assert limited.tokens == {Capability.STD_RES, Capability.HI_FI}
    assert "quality.allow" in next(s.reason for s in limited.steps
                                   if s.token is Capability.HI_RES)
    nothing = cap.derive_capabilities(dac, decoders=set(), allow=ALL)
    assert nothing.tokens == frozenset()
    assert nothing.header() == "STD_RES"  # the service treats a missing header the same way


def test_hi_res_needs_a_high_rate_as_well_as_24_bits() -> None:
    dac = cap.load_output("hifiberry-dacplus")
    only_48k = cap.parse_hw_params("FORMAT: S16_LE S32_LE\nCHANNELS: 2\nRATE: [44100 48000]\n")
    d = cap.derive_capabilities(dac, decoders=PYAV, allow=ALL, caps=only_48k)
    assert Capability.HI_RES not in d.tokens
    assert Capability.HI_FI in d.tokens


def test_pyav_decoders_are_probed() -> None:
    names = cap.pyav_decoder_names()
    assert {"opus", "libopus", "flac", "eac3", "aac"} <= names
    found = cap.available_decoders()
    assert {"opus", "aac", "flac", "eac3"} <= found
    assert "mpegh" not in found
    assert cap.available_decoders(frozenset({"libopus"})) == {"opus"}


def test_parse_hw_params_of_the_alsa_file_plugin_and_a_dac() -> None:
    dac_dump = """HW Params of device "hw:CARD=sndrpihifiberry":
--------------------
ACCESS:  MMAP_INTERLEAVED RW_INTERLEAVED
FORMAT:  S16_LE S24_LE S32_LE
SUBFORMAT:  STD
SAMPLE_BITS: [16 32]
CHANNELS: 2
RATE: [8000 384000]
"""
    caps = cap.parse_hw_params(dac_dump)
    assert caps.sample_formats == (SampleFormat.S16_LE, SampleFormat.S24_LE,
                                   SampleFormat.S32_LE)
    assert (caps.min_channels, caps.max_channels) == (2, 2)
    assert {44100, 96000, 192000, 384000} <= caps.rates
    usb = cap.parse_hw_params("FORMAT:  S24_3LE\nCHANNELS: [1 2]\nRATE: 44100 48000 96000\n")
    assert usb.rates == {44100, 48000, 96000}
    assert usb.sample_formats == (SampleFormat.S24_3LE,)
    with pytest.raises(ConfigError):
        cap.parse_hw_params("garbage")


@pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay not installed (alsa-utils)")
async def test_probe_reads_a_device_through_aplay(tmp_path: Path) -> None:
    caps = await cap.probe_alsa_caps(f"file:FILE={tmp_path}/x.raw,FORMAT=raw")
    assert caps is not None
    assert SampleFormat.S24_3LE in caps.sample_formats
    assert await cap.probe_alsa_caps("hw:CARD=nosuchcard") is None


def write_profile(tmp_path: Path, kind: str, name: str, data: object) -> Path:
    (tmp_path / kind).mkdir(exist_ok=True)
    path = tmp_path / kind / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def good_output() -> dict[str, object]:
    path = cap.hardware_dir() / "outputs" / "hifiberry-dacplus.yaml"
    data: dict[str, object] = yaml.safe_load(path.read_text())
    return data


@pytest.mark.parametrize(("mutate", "key"), [
    (lambda d: d.pop("formats"), "formats"),
    (lambda d: d.update(formats=["S16_LE", "DSD_U8"]), "formats[1]"),
    (lambda d: d.update(rates=[44100, 5]), "rates[1]"),
    (lambda d: d.update(rates="44100"), "rates"),
    (lambda d: d.update(channels={"min": 2, "max": 0}), "channels.max"),
    (lambda d: d.update(channels={"min": 4, "max": 2}), "channels.min"),
    (lambda d: d.update(bit_depth=20), "bit_depth"),
    (lambda d: d.update(mixer={"control": ""}), "mixer.control"),
    (lambda d: d.update(mixer={"control": "Digital", "min_db": "loud"}), "mixer.min_db"),
    (lambda d: d.update(mixer={"control": "Digital", "colour": 1}), "mixer.colour"),
    (lambda d: d.update(kind="board"), "kind"),
    (lambda d: d.update(name="other"), "name"),
    (lambda d: d.update(extra=1), "extra"),
])
def test_invalid_output_profiles_name_file_and_key(tmp_path: Path, mutate: object,
                                                   key: str) -> None:
    data = good_output()
    mutate(data)  # type: ignore[operator]
    path = write_profile(tmp_path, "outputs", "hifiberry-dacplus", data)
    with pytest.raises(ConfigError) as info:
        cap.load_output("hifiberry-dacplus", tmp_path)
    assert info.value.fields["file"] == str(path)
    assert info.value.fields["key"] == key


def test_broken_yaml_and_missing_files(tmp_path: Path) -> None:
    write_profile(tmp_path, "boards", "b", "kind: board\nname: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        cap.load_board("b", tmp_path)
    assert info.value.fields["line"] >= 1
    with pytest.raises(ConfigError, match="no such hardware profile"):
        cap.load_output("nothing-here", tmp_path)
    with pytest.raises(ConfigError, match="invalid profile name"):
        cap.load_output("../../etc/passwd", tmp_path)
    write_profile(tmp_path, "boards", "c", {"kind": "board", "name": "c", "title": "C",
                                            "ram_mb": [512], "outputs": "hdmi"})
    with pytest.raises(ConfigError) as info:
        cap.load_board("c", tmp_path)
    assert info.value.fields["key"] == "outputs"


async def test_cli_helpers_print_the_derivation() -> None:
    parser = argparse.ArgumentParser()
    cap.add_capabilities_args(parser)
    args = parser.parse_args(["--board", "rpi-4b", "--dac", "rpi-headphones",
                              "--allow", "STD_RES,HI_FI,HI_RES"])
    d = await cap.derivation_from_args(args)
    out = io.StringIO()
    cap.print_derivation(d, file=out)
    text = out.getvalue()
    assert "rpi-headphones" in text
    assert "header: STD_RES,HI_FI" in text
    assert "- HI_RES" in text
    out = io.StringIO()
    cap.print_derivation(d, as_json=True, file=out)
    assert json.loads(out.getvalue())["tokens"] == ["STD_RES", "HI_FI"]
