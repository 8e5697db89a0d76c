"""The messages the player's owner task reads from its inbox.

Commands come from callers; everything else comes from the owner's helper tasks (stream
openers, resolvers, the event sender, the ticker) and from the renderer. A helper's result
carries the generation it was started for; the owner drops results of an older one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from daemon.core.errors import DaemonError
from daemon.playback import commands as c
from daemon.playback.persist import SavedPlayer
from daemon.playback.render import RenderEnded, RenderFailed, RenderProgress, RenderStarted
from daemon.playback.source import PcmStream, QueueEntry


@dataclass
class CommandMsg:
    cmd: c.Command
    done: asyncio.Future[None]


@dataclass
class Opened:
    gen: int
    entry: QueueEntry
    stream: PcmStream
    start_ms: int


@dataclass
class OpenFailed:
    gen: int
    entry: QueueEntry
    error: DaemonError


@dataclass
class Prefetched:
    gen: int
    entry: QueueEntry
    stream: PcmStream | None
    error: DaemonError | None = None


@dataclass
class Resolved:
    """A resolver's answer for the request numbered `gen`: entries, or why not."""

    gen: int
    entries: list[QueueEntry]
    error: DaemonError | None = None


@dataclass
class VolumeApplied:
    """The output's volume control took `level` (or failed with `error`)."""

    level: int
    done: asyncio.Future[None]
    error: DaemonError | None = None


@dataclass
class ReportFailed:
    entry: QueueEntry
    error: DaemonError


class Tick:
    pass


@dataclass
class Restore:
    saved: SavedPlayer
    done: asyncio.Future[bool]


@dataclass
class Close:
    done: asyncio.Future[None]


Message = (CommandMsg | Opened | OpenFailed | Prefetched | Resolved | VolumeApplied
           | ReportFailed | Tick | Restore | Close
           | RenderStarted | RenderProgress | RenderEnded | RenderFailed)
