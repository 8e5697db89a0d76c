"""What the player needs from a service, as one protocol: `Source`.

The engine knows nothing of HTTP, DASH, DRM or any service's wire format: a source
resolves an item id into queue entries (the service decides the order), opens one entry
at a position into a stream of PCM with its metadata, and takes the playback events of
its entries in the neutral vocabulary below, mapping them to its own wire enums. Sources
live in `daemon.sources`; tests implement the protocol with fakes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.core.errors import LicenseError
from daemon.playback.commands import PlayKind
from daemon.playback.events import AudioQuality, QueueItem, TrackInfo
from daemon.playback.sinks.base import OutputCaps, PcmFormat


@dataclass(frozen=True)
class QueueEntry:
    """One item in the queue. `handle` is the source's own reference to it (e.g. a track
    instance with its collector URL); the engine never reads it."""

    item_id: str
    info: TrackInfo
    handle: Any = field(default=None, compare=False, repr=False)

    def as_item(self) -> QueueItem:
        return QueueItem(self.item_id, self.info.service_id, self.info.title, self.info.artist,
                         self.info.duration_ms)


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


class PlaybackEvent(enum.StrEnum):
    """What happened to one entry; a source maps these to its service's event names."""

    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    PROGRESS = "progress"
    FINISHED = "finished"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    ERROR = "error"


class StopReason(enum.StrEnum):
    """Why an entry was left (SKIPPED, STOPPED, ERROR)."""

    USER_NEXT = "user_next"
    USER_PREVIOUS = "user_previous"
    USER_STOP = "user_stop"
    DECODE_ERROR = "decode_error"
    LICENSE_ERROR = "license_error"
    NETWORK_ERROR = "network_error"


@dataclass(frozen=True)
class PlaybackReport:
    """One playback event for one entry (clock-free: the source stamps wall time)."""

    event: PlaybackEvent
    position_ms: int
    played_ms: int
    quality: AudioQuality
    reason: StopReason | None = None


class DenialReason(enum.StrEnum):
    """Why a service refused a licence, in the player's terms."""

    CONCURRENCY = "concurrency"  # another device plays on this account: stop the queue
    NOT_ENTITLED = "not_entitled"
    OTHER = "other"


class LicenceDenied(LicenseError):
    """A source's licence refusal with a structured `denial`; CONCURRENCY stops the
    whole queue (the next track would be refused too), the others skip the track."""

    code = "license_denied"

    def __init__(self, message: str, *, denial: DenialReason, **fields: object) -> None:
        self.denial = denial
        super().__init__(message, denial=denial.value, **fields)


class Source(Protocol):
    """Everything a service offers the player."""

    async def resolve(self, kind: PlayKind, service_id: str) -> list[QueueEntry]:
        """The entries of a container (or the one item), in the service's order."""
        ...

    async def open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> PcmStream:
        """Prepare an entry to play from `start_ms`, as PCM the output `caps` accept."""
        ...

    async def report(self, entry: QueueEntry, report: PlaybackReport) -> None:
        """Deliver one event; raises a ServiceError when the service refuses it (which
        stops playback)."""
        ...


class PositionKeeper(Protocol):
    """Optional for a source: a service that keeps a listening position per item."""

    async def load_position(self, entry: QueueEntry) -> int | None:
        """The saved position in ms, or None when the service has none."""
        ...

    async def save_position(self, entry: QueueEntry, position_ms: int) -> None:
        ...
