"""The audio output and its volume control, chosen from `audio:` in the configuration."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.core.clock import Clock
from daemon.core.config import AudioConfig
from daemon.core.errors import ConfigError

if TYPE_CHECKING:
    from daemon.capabilities import OutputProfile
    from daemon.playback.sinks.base import OutputCaps, Sink
    from daemon.playback.volume import VolumeControl

log = logging.getLogger("daemon.app")


def sound_card_present(cards_file: Path = Path("/proc/asound/cards")) -> bool:
    """Whether ALSA lists at least one sound card."""
    try:
        cards = cards_file.read_text()
    except OSError:
        return False
    return bool(cards.strip()) and "no soundcards" not in cards


def volume_control(audio: AudioConfig, output: OutputProfile) -> VolumeControl:
    """Software scaling, or the output's ALSA mixer control when configured."""
    from daemon.playback.volume import AlsaMixerVolume, SoftwareVolume, ctl_device_for

    if audio.mixer == "software":
        return SoftwareVolume()
    if output.mixer is None:
        raise ConfigError(f"output profile {output.name!r} has no mixer control; use"
                          " audio.mixer: software", path="audio.mixer")
    return AlsaMixerVolume(output.mixer.control, ctl_device=ctl_device_for(audio.device))


def make_output(audio: AudioConfig, *, state_dir: Path, clock: Clock,
                caps: OutputCaps) -> Sink:
    """The configured output; `auto` = ALSA when a sound card exists, else a WAV file."""
    from daemon.playback.sinks import make_sink

    kind = audio.output
    if kind == "auto":
        kind = "alsa" if sound_card_present() and shutil.which("aplay") else "file"
    path = None
    if kind == "file":
        path = str(audio.file_path or state_dir / "output.wav")
        log.info("output.file path=%s reason=%s", path,
                 "configured" if audio.output == "file" else "no sound card")
    elif kind == "pipe":
        path = str(audio.pipe_path) if audio.pipe_path else "-"
    return make_sink(kind, clock=clock, caps=caps, device=audio.device, path=path)
