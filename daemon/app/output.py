"""The audio output and its volume control, chosen from `audio:` in the configuration."""

from __future__ import annotations

import logging
import re
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


_CARD_LINE = re.compile(r"^\s*(\d+)\s+\[([^\]\s]+)\s*\]")


_CARD_PCMS = frozenset({"hw", "plughw", "dmix", "dsnoop", "sysdefault", "front", "iec958",
                        "hdmi", "surround40", "surround51", "surround71"})


def check_alsa_device(device: str, cards_file: Path = Path("/proc/asound/cards")) -> None:
    """Refuse at start an `audio.device` whose card ALSA does not list (ConfigError, 78).

    Only devices that address a card are checked: `hw:1`, `plughw:1,0`, `hw:CARD=name`,
    `dmix:CARD=name,DEV=0`, or any `CARD=` argument. Other PCMs (`default`, `file:...`, a
    PCM from asound.conf) may need no card at all and are left to the open."""
    pcm, _, args = device.partition(":")
    parts = [p for p in args.split(",") if p] if args else []
    fields = dict(p.split("=", 1) for p in parts if "=" in p)
    card = fields.get("CARD")
    if card is None and pcm in _CARD_PCMS and parts and "=" not in parts[0]:
        card = parts[0]
    if card is None:
        return
    try:
        listing = cards_file.read_text()
    except OSError:
        listing = ""
    cards = [m.groups() for line in listing.splitlines() if (m := _CARD_LINE.match(line))]
    if not cards:
        raise ConfigError(f"audio.device {device!r} names a card but ALSA lists no sound"
                          " card", path="audio.device")
    if card not in {index for index, _ in cards} | {name for _, name in cards}:
        names = ", ".join(f"{i} [{n}]" for i, n in cards)
        raise ConfigError(f"no such ALSA card {card!r} in audio.device {device!r};"
                          f" cards: {names}", path="audio.device")


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
                caps: OutputCaps, cards_file: Path = Path("/proc/asound/cards")) -> Sink:
    """The configured output; `auto` = ALSA when a sound card exists, else a WAV file.
    An ALSA device whose card does not exist is a ConfigError here, at start."""
    from daemon.playback.sinks import make_sink

    kind = audio.output
    if kind == "auto":
        kind = "alsa" if sound_card_present(cards_file) and shutil.which("aplay") else "file"
    if kind == "alsa":
        check_alsa_device(audio.device, cards_file)
    path = None
    if kind == "file":
        path = str(audio.file_path or state_dir / "output.wav")
        log.info("output.file path=%s reason=%s", path,
                 "configured" if audio.output == "file" else "no sound card")
    elif kind == "pipe":
        path = str(audio.pipe_path) if audio.pipe_path else "-"
    return make_sink(kind, clock=clock, caps=caps, device=audio.device, path=path)
