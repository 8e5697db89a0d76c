"""What the player needs from the rest of the daemon, as three small protocols.

The engine knows nothing of HTTP, DASH or DRM: a `QueueSource` turns a service id into
track instances (the service decides the order), a `MediaSource` turns one instance into
a stream of PCM, and an `EventReporter` delivers playback events to the instance's
collector (a failure there stops playback, AM-C27). `daemon.playback.media` implements
the media source over the real stack; tests implement all three with fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.contracts import amazon_music as am
from daemon.playback.commands import PlayKind
from daemon.playback.events import AudioQuality, QueueItem, TrackInfo
from daemon.playback.sinks.base import OutputCaps, PcmFormat


@dataclass(frozen=True)
class QueueEntry:
    """One track instance in the queue. `handle` is the source's own reference to it
    (e.g. the TrackInstance document with its collector URL); the engine never reads it."""

    item_id: str
    info: TrackInfo
    handle: Any = field(default=None, compare=False, repr=False)

    def as_item(self) -> QueueItem:
        return QueueItem(self.item_id, self.info.service_id, self.info.title, self.info.artist,
                         self.info.duration_ms)


class QueueSource(Protocol):
    async def expand(self, kind: PlayKind, service_id: str) -> list[QueueEntry]:
        """The track instances of a container (or the one track), in the service's order."""
        ...


class PcmStream(Protocol):
    """One track, opened and decoding. `format` is known once `open` returned."""

    @property
    def info(self) -> TrackInfo:
        """Metadata with the quality and format actually rendered."""
        ...

    @property
    def format(self) -> PcmFormat:
        ...

    async def read(self) -> bytes | None:
        """The next whole frames of PCM, or None at the end of the track."""
        ...

    def buffered_seconds(self) -> float:
        """Audio fetched ahead of what `read` has returned."""
        ...

    async def aclose(self) -> None:
        ...


class MediaSource(Protocol):
    async def open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> PcmStream:
        """Prepare a track to play from `start_ms`, as PCM the output `caps` accept."""
        ...


# AM-C27's event types and reasons live in the contract module (one place to correct).
EventType = am.EventType
StopReason = am.EventReason


@dataclass(frozen=True)
class PlaybackReport:
    """One playback event for one track instance (AM-C27's fields, clock-free)."""

    event: EventType
    position_ms: int
    played_ms: int
    quality: AudioQuality
    reason: StopReason | None = None


class EventReporter(Protocol):
    async def report(self, entry: QueueEntry, report: PlaybackReport) -> None:
        """Deliver one event; raises a ServiceError when the collector refuses it."""
        ...
