"""The player and the source it plays from: the one place that wires them together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from daemon.app.output import make_output, volume_control
from daemon.core.clock import Clock
from daemon.core.config import Config
from daemon.core.tiers import Capability

if TYPE_CHECKING:
    from pathlib import Path

    from daemon.capabilities import OutputProfile
    from daemon.drm.cdm import Cdm
    from daemon.playback.engine import Player
    from daemon.services.http import HttpClient
    from daemon.services.music import MusicClient

_MIB = 1024 * 1024


def build_player(cfg: Config, *, state_dir: Path, clock: Clock,
                 music: Callable[[], MusicClient], http: HttpClient, cdm: Cdm,
                 capabilities: Callable[[], Sequence[Capability]], decoders: frozenset[str],
                 output: OutputProfile) -> Player:
    """The Amazon Music source, the output and the player that plays the one through the
    other; `music` is late-bound (the client exists once the account component started)."""
    from daemon.drm.flow import LicenceFlow
    from daemon.playback.engine import Player, PlayerSettings
    from daemon.playback.fetcher import FetchSettings
    from daemon.playback.persist import PlayerStore
    from daemon.sources.amazon import AmazonPlayback

    playback = AmazonPlayback(
        music=music, http=http, clock=clock,
        licence_flow=LicenceFlow(cdm, clock=clock), capabilities=capabilities,
        decoders=decoders,
        fetch=FetchSettings(buffer_seconds=cfg.audio.buffer_seconds,
                            buffer_bytes=int(cfg.audio.buffer_max_mb * _MIB)))
    sink = make_output(cfg.audio, state_dir=state_dir, clock=clock, caps=output.caps)
    return Player(source=playback, sink=sink, clock=clock, store=PlayerStore(state_dir),
                  settings=PlayerSettings(initial_volume=cfg.playback.initial_volume),
                  volume=volume_control(cfg.audio, output))
