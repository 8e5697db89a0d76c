"""Typed events the player publishes, and a bounded fan-out hub for them.

Contract: every event is a frozen dataclass with a stable `TYPE` string and `to_dict()`
returning the WebSocket message `{"type": TYPE, "data": {...}}` (JSON-safe values only).
Subscribers never block the player: each has a bounded buffer; when it overflows the
oldest events are dropped and the subscriber receives one `EventsDropped` next, which tells
it to re-read `snapshot()`.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, TypeAlias

# One definition of the display qualities (AM-C07), shared with the clients and sandbox.
from daemon.core.resource import AsyncResource
from daemon.core.tiers import QUALITY_BADGE, Quality


class PlayerState(enum.StrEnum):
    """What the player is doing; the values are the LAN API strings."""

    IDLE = "idle"
    BUFFERING = "buffering"
    PLAYING = "playing"
    PAUSED = "paused"
    STOPPED = "stopped"
    ERROR = "error"


#: Display quality of the representation being rendered (re-exported for API users).
AudioQuality = Quality


def badge_for(quality: AudioQuality) -> str | None:
    """The badge text to show for `quality`, or None (SD carries no badge; §6.4)."""
    return QUALITY_BADGE.get(quality)


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """What is actually being decoded and sent to the output (for a 'now playing' detail)."""

    codec: str  # "flac", "opus", "eac3"
    sample_rate: int  # Hz, of the source
    bit_depth: int | None  # None for lossy codecs
    channels: int
    output_rate: int | None = None  # Hz sent to the sink when it differs (resampled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "bit_depth": self.bit_depth,
            "channels": self.channels,
            "output_rate": self.output_rate,
        }


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """Metadata of the track now playing. `quality` is what is rendered, not what exists."""

    service_id: str  # the service's id of the track (ASIN / track id)
    title: str
    artist: str | None = None
    album: str | None = None
    image_url: str | None = None
    duration_ms: int | None = None  # None for live streams
    quality: AudioQuality = AudioQuality.SD
    format: AudioFormat | None = None
    queue_index: int | None = None

    @property
    def badge(self) -> str | None:
        return badge_for(self.quality)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service_id": self.service_id,
            "title": self.title,
            "artist": self.artist,
            "album": self.album,
            "image_url": self.image_url,
            "duration_ms": self.duration_ms,
            "quality": self.quality.value,
            "badge": self.badge,
            "format": self.format.to_dict() if self.format else None,
            "queue_index": self.queue_index,
        }


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One entry of the local play queue as the LAN API shows it."""

    item_id: str  # stable id of this queue entry (distinct instances may share service_id)
    service_id: str
    title: str | None = None
    artist: str | None = None
    duration_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "service_id": self.service_id,
            "title": self.title,
            "artist": self.artist,
            "duration_ms": self.duration_ms,
        }


# --- events ---------------------------------------------------------------------------


class _Event(abc.ABC):
    """Base of all events: `TYPE` names the WebSocket message."""

    __slots__ = ()
    TYPE: ClassVar[str]

    @abc.abstractmethod
    def data(self) -> dict[str, Any]:
        """The event's JSON-safe payload (every event type defines its own)."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "data": self.data()}


@dataclass(frozen=True, slots=True)
class StateChanged(_Event):
    TYPE: ClassVar[str] = "state"
    state: PlayerState
    reason: str | None = None  # e.g. "end_of_queue", "user_stop", "decode_error"

    def data(self) -> dict[str, Any]:
        return {"state": self.state.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class TrackChanged(_Event):
    TYPE: ClassVar[str] = "track"
    track: TrackInfo | None  # None: nothing loaded any more

    def data(self) -> dict[str, Any]:
        return {"track": self.track.to_dict() if self.track else None}


@dataclass(frozen=True, slots=True)
class Position(_Event):
    TYPE: ClassVar[str] = "position"
    position_ms: int
    duration_ms: int | None

    def data(self) -> dict[str, Any]:
        return {"position_ms": self.position_ms, "duration_ms": self.duration_ms}


@dataclass(frozen=True, slots=True)
class VolumeChanged(_Event):
    TYPE: ClassVar[str] = "volume"
    level: int  # 0-100

    def data(self) -> dict[str, Any]:
        return {"level": self.level}


@dataclass(frozen=True, slots=True)
class Buffering(_Event):
    TYPE: ClassVar[str] = "buffering"
    level_s: float  # seconds of audio buffered ahead of the output

    def data(self) -> dict[str, Any]:
        return {"level_s": round(self.level_s, 3)}


@dataclass(frozen=True, slots=True)
class Underrun(_Event):
    TYPE: ClassVar[str] = "underrun"
    count: int  # total underruns of the current track so far

    def data(self) -> dict[str, Any]:
        return {"count": self.count}


@dataclass(frozen=True, slots=True)
class QueueChanged(_Event):
    TYPE: ClassVar[str] = "queue"
    items: tuple[QueueItem, ...]
    index: int | None  # current position in `items`
    repeat: str  # RepeatMode value: "off" | "one" | "all"
    shuffle: bool

    def data(self) -> dict[str, Any]:
        return {
            "items": [i.to_dict() for i in self.items],
            "index": self.index,
            "repeat": self.repeat,
            "shuffle": self.shuffle,
        }


@dataclass(frozen=True, slots=True)
class PlayerError(_Event):
    TYPE: ClassVar[str] = "error"
    code: str  # a DaemonError.code ("sink", "media", "license", ...)
    message: str  # safe to show: built from DaemonError fields, never from secrets

    def data(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class EventsDropped(_Event):
    """Sent to one subscriber whose buffer overflowed: re-read `snapshot()`."""

    TYPE: ClassVar[str] = "resync"
    count: int

    def data(self) -> dict[str, Any]:
        return {"dropped": self.count}


Event: TypeAlias = (
    StateChanged
    | TrackChanged
    | Position
    | VolumeChanged
    | Buffering
    | Underrun
    | QueueChanged
    | PlayerError
    | EventsDropped
)

EVENT_TYPES: Final[tuple[type[_Event], ...]] = (
    StateChanged,
    TrackChanged,
    Position,
    VolumeChanged,
    Buffering,
    Underrun,
    QueueChanged,
    PlayerError,
    EventsDropped,
)


# --- subscription and hub -------------------------------------------------------------


@dataclass(eq=False)
class Subscription(AsyncResource):
    """A bounded, non-blocking event queue for one consumer; async-iterable until closed."""

    maxsize: int = 256
    _items: deque[Event] = field(default_factory=deque)
    _dropped: int = 0
    _closed: bool = False
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _hub: EventHub | None = None

    def put_nowait(self, event: Event) -> None:
        """Queue `event`; on overflow drop the oldest (never blocks the publisher)."""
        if self._closed:
            return
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self._dropped += 1
        self._items.append(event)
        self._wakeup.set()

    def get_nowait(self) -> Event | None:
        """Next event or None; a pending overflow notice comes first."""
        if self._dropped:
            n, self._dropped = self._dropped, 0
            return EventsDropped(n)
        if self._items:
            return self._items.popleft()
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop delivery; a pending `__anext__` ends the iteration. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        if self._hub is not None:
            self._hub.unsubscribe(self)

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            event = self.get_nowait()
            if event is not None:
                return event
            self._wakeup.clear()
            await self._wakeup.wait()


class EventHub:
    """Fan-out of player events to any number of bounded subscriptions (one per client)."""

    def __init__(self, default_maxsize: int = 256) -> None:
        self._subs: list[Subscription] = []
        self._default_maxsize = default_maxsize

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        sub = Subscription(maxsize=maxsize or self._default_maxsize, _hub=self)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        for sub in list(self._subs):
            sub.put_nowait(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()
