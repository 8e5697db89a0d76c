"""A configured ALSA device that does not exist is noticed at start (exit 78), not at the
first track: the check reads the card list the kernel publishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.app.output import make_output
from daemon.core.clock import SystemClock
from daemon.core.config import AudioConfig
from daemon.core.errors import ConfigError
from daemon.playback.sinks.base import OutputCaps, SampleFormat

CARDS = (" 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones\n"
         "                      bcm2835 Headphones\n"
         " 1 [sndrpihifiberry ]: HifiberryDacp - snd_rpi_hifiberry_dacplus\n"
         "                      snd_rpi_hifiberry_dacplus\n")


def _caps() -> OutputCaps:
    return OutputCaps(rates=frozenset({44100, 48000}), sample_formats=(SampleFormat.S16_LE,))


@pytest.mark.parametrize("device", ["hw:CARD=nosuchcard", "plughw:7,0", "hw:5"])
def test_a_missing_alsa_device_is_a_config_error(tmp_path: Path, device: str) -> None:
    cards = tmp_path / "cards"
    cards.write_text(CARDS)
    with pytest.raises(ConfigError, match="no such ALSA card") as info:
        make_output(AudioConfig(output="alsa", device=device), state_dir=tmp_path,
                    clock=SystemClock(), caps=_caps(), cards_file=cards)
    assert info.value.exit_code == 78


def test_no_sound_card_at_all_with_output_alsa_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lists no sound card"):
        make_output(AudioConfig(output="alsa", device="hw:0"), state_dir=tmp_path,
                    clock=SystemClock(), caps=_caps(), cards_file=tmp_path / "absent")


@pytest.mark.parametrize("device", ["hw:CARD=sndrpihifiberry", "plughw:1,0", "hw:0",
                                    "default", "dmix:CARD=Headphones"])
def test_present_devices_pass(tmp_path: Path, device: str) -> None:
    from daemon.app.output import check_alsa_device

    cards = tmp_path / "cards"
    cards.write_text(CARDS)
    check_alsa_device(device, cards)


@pytest.mark.parametrize("device", ["default", "file:FILE=/tmp/x.raw,FORMAT=raw", "null"])
def test_devices_that_need_no_card_pass_without_one(tmp_path: Path, device: str) -> None:
    from daemon.app.output import check_alsa_device

    check_alsa_device(device, tmp_path / "absent")
