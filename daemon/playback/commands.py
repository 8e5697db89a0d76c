"""Typed player commands and the `PlayerCommands` protocol the control API codes against.

Contract: commands are frozen dataclasses, validated on construction (a bad value raises
`CommandRejected` with reason `invalid_argument`). `parse_command(type, data)` builds one from
a LAN API message `{"type": ..., "data": {...}}`; `to_dict()` gives the same shape back.
The engine's `submit()` raises `CommandRejected` (a `PlaybackError`) with a stable `reason`
when it refuses a command in its current state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Final, Protocol, TypeAlias, TypeVar

from daemon.core.errors import PlaybackError
from daemon.playback.events import Subscription


class RejectReason(enum.StrEnum):
    """Why a command was refused; stable strings the LAN API passes on."""

    INVALID_ARGUMENT = "invalid_argument"  # malformed command (control maps to 400)
    UNKNOWN_COMMAND = "unknown_command"
    NOTHING_LOADED = "nothing_loaded"  # pause/seek/next with no track
    NO_PREVIOUS = "no_previous"
    NO_NEXT = "no_next"
    NOT_SEEKABLE = "not_seekable"  # stations / live content
    OUT_OF_RANGE = "out_of_range"  # seek beyond the end, queue index out of range
    NOT_ALLOWED = "not_allowed"  # the service forbids it (skip limit, tier)
    NOT_SIGNED_IN = "not_signed_in"
    UNAVAILABLE = "unavailable"  # service or output not available right now
    SHUTTING_DOWN = "shutting_down"
    SUPERSEDED = "superseded"  # a newer play (or a stop) replaced it before it took effect


class CommandRejected(PlaybackError):
    """The player refused a command; `reason` is a `RejectReason` value."""

    code = "command_rejected"

    def __init__(self, message: str, *, reason: RejectReason, **fields: Any) -> None:
        self.reason = reason
        super().__init__(message, reason=reason.value, **fields)


class PlayKind(enum.StrEnum):
    TRACK = "track"
    ALBUM = "album"
    PLAYLIST = "playlist"
    STATION = "station"


class RepeatMode(enum.StrEnum):
    OFF = "off"
    ONE = "one"
    ALL = "all"


def _bad(message: str, **fields: Any) -> CommandRejected:
    return CommandRejected(message, reason=RejectReason.INVALID_ARGUMENT, **fields)


_E = TypeVar("_E", bound=enum.StrEnum)


def _coerce(cls: type[_E], name: str, value: object) -> _E:
    # Accept the plain string too, so callers may write Play("album", ...).
    if not isinstance(value, str):
        raise _bad("must be a string", field=name)
    try:
        return cls(value)
    except ValueError:
        raise _bad("unknown value", field=name) from None


def _check_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> None:
    # bool is an int subclass; a JSON `true` is never a valid position or level.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad("must be an integer", field=name)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _bad("out of range", field=name, min=lo, max=hi)


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise _bad("must be a non-empty string of at most 512 characters", field=name)


class _Command:
    """Base of all commands: `TYPE` names the LAN API message."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            data[f.name] = v.value if isinstance(v, enum.Enum) else v
        return {"type": self.TYPE, "data": data}


@dataclass(frozen=True, slots=True)
class Play(_Command):
    """Replace the queue with a container (or one track) and start playing."""

    TYPE: ClassVar[str] = "play"
    kind: PlayKind
    service_id: str
    start_index: int = 0  # index within the container to start at
    position_ms: int = 0  # start offset within the first track

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _coerce(PlayKind, "kind", self.kind))
        _check_id("service_id", self.service_id)
        _check_int("start_index", self.start_index, 0)
        _check_int("position_ms", self.position_ms, 0)


@dataclass(frozen=True, slots=True)
class Pause(_Command):
    TYPE: ClassVar[str] = "pause"


@dataclass(frozen=True, slots=True)
class Resume(_Command):
    TYPE: ClassVar[str] = "resume"


@dataclass(frozen=True, slots=True)
class Stop(_Command):
    TYPE: ClassVar[str] = "stop"


@dataclass(frozen=True, slots=True)
class Next(_Command):
    TYPE: ClassVar[str] = "next"


@dataclass(frozen=True, slots=True)
class Previous(_Command):
    """Back to the previous track (engines restart the current one when > 3 s in)."""

    TYPE: ClassVar[str] = "previous"


@dataclass(frozen=True, slots=True)
class Seek(_Command):
    TYPE: ClassVar[str] = "seek"
    position_ms: int

    def __post_init__(self) -> None:
        _check_int("position_ms", self.position_ms, 0)


@dataclass(frozen=True, slots=True)
class SetVolume(_Command):
    TYPE: ClassVar[str] = "set_volume"
    level: int  # 0-100, perceptual (see playback.volume)

    def __post_init__(self) -> None:
        _check_int("level", self.level, 0, 100)


@dataclass(frozen=True, slots=True)
class QueueAdd(_Command):
    """Insert a track (or every track of a container) at `index`; None = append."""

    TYPE: ClassVar[str] = "queue_add"
    kind: PlayKind
    service_id: str
    index: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _coerce(PlayKind, "kind", self.kind))
        _check_id("service_id", self.service_id)
        if self.index is not None:
            _check_int("index", self.index, 0)


@dataclass(frozen=True, slots=True)
class QueueRemove(_Command):
    TYPE: ClassVar[str] = "queue_remove"
    item_id: str  # QueueItem.item_id (indexes shift; ids do not)

    def __post_init__(self) -> None:
        _check_id("item_id", self.item_id)


@dataclass(frozen=True, slots=True)
class QueueMove(_Command):
    TYPE: ClassVar[str] = "queue_move"
    item_id: str
    to_index: int

    def __post_init__(self) -> None:
        _check_id("item_id", self.item_id)
        _check_int("to_index", self.to_index, 0)


@dataclass(frozen=True, slots=True)
class QueueClear(_Command):
    """Remove everything after the current track (the current track keeps playing)."""

    TYPE: ClassVar[str] = "queue_clear"


@dataclass(frozen=True, slots=True)
class SetRepeat(_Command):
    TYPE: ClassVar[str] = "set_repeat"
    mode: RepeatMode

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _coerce(RepeatMode, "mode", self.mode))


@dataclass(frozen=True, slots=True)
class SetShuffle(_Command):
    TYPE: ClassVar[str] = "set_shuffle"
    enabled: bool

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise _bad("must be a boolean", field="enabled")


Command: TypeAlias = (
    Play
    | Pause
    | Resume
    | Stop
    | Next
    | Previous
    | Seek
    | SetVolume
    | QueueAdd
    | QueueRemove
    | QueueMove
    | QueueClear
    | SetRepeat
    | SetShuffle
)

COMMAND_TYPES: Final[dict[str, type[_Command]]] = {
    c.TYPE: c
    for c in (
        Play, Pause, Resume, Stop, Next, Previous, Seek, SetVolume,
        QueueAdd, QueueRemove, QueueMove, QueueClear, SetRepeat, SetShuffle,
    )
}  # fmt: skip

def parse_command(type_: str, data: Mapping[str, Any] | None = None) -> Command:
    """Build a command from a LAN API message; raises `CommandRejected` on bad input."""
    cls = COMMAND_TYPES.get(type_) if isinstance(type_, str) else None
    if cls is None:
        raise CommandRejected("unknown command", reason=RejectReason.UNKNOWN_COMMAND)
    data = data or {}
    if not isinstance(data, Mapping):
        raise _bad("data must be an object")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise _bad("unknown field", field=str(unknown[0])[:64], command=type_)
    kwargs: dict[str, Any] = dict(data)
    try:
        cmd = cls(**kwargs)
    except TypeError:
        missing = [
            n
            for n, f in known.items()
            if n not in kwargs and f.default is MISSING and f.default_factory is MISSING
        ]
        raise _bad("missing field", field=",".join(missing) or None, command=type_) from None
    return cmd  # type: ignore[return-value]


class PlayerCommands(Protocol):
    """What the control API (and discovery) may use of the player; nothing else mutates it."""

    async def submit(self, cmd: Command) -> None:
        """Apply `cmd`; returns once accepted. Raises `CommandRejected` with a reason."""
        ...

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        """A bounded event stream (async-iterable); close it when the client goes away."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Current state for a newly connected client; see `empty_snapshot()` for the keys."""
        ...


def empty_snapshot(volume: int = 50) -> dict[str, Any]:
    """The snapshot of an idle player; engines fill the same keys (stable shape)."""
    return {
        "state": "idle",
        "track": None,
        "position_ms": 0,
        "duration_ms": None,
        "volume": volume,
        "buffer_s": 0.0,
        "underruns": 0,
        "queue": {"items": [], "index": None, "repeat": RepeatMode.OFF.value, "shuffle": False},
        "error": None,
    }
