"""Playback event collectors (AM-C27) and stream concurrency (AM-C32).

One collector per track instance records every event it receives, in order, with the
status it answered; the timing rules decide that status. Pure state, no aiohttp.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from daemon.contracts import amazon_music as am
from daemon.core.tiers import Quality
from daemon.sandbox import choices

#: Collectors kept; the oldest are forgotten first (a client walking a station forever
#: must not grow the sandbox without bound).
MAX_INSTANCES: Final = 20_000
#: AM-C27: events that may move the position backwards (a seek happens while paused, or
#: before the first audio).
SEEK_EVENTS: Final = frozenset({am.EventType.PLAYBACK_STARTED, am.EventType.PLAYBACK_RESUMED})


class EventRejected(Exception):
    """An event broke a rule; `status` is 400 (malformed/out of order) or 409 (terminal)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Instance:
    instance_id: str
    track_id: str
    container: str
    account: str
    state: str = "new"  # new | playing | paused | ended
    position_ms: int = 0
    played_ms: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def played(self) -> bool:
        return self.played_ms >= choices.PLAYED_THRESHOLD_MS

    def summary(self) -> dict[str, Any]:
        return {"instance": self.instance_id, "trackTag": self.track_id,
                "container": self.container, "state": self.state,
                "played": self.played, "events": list(self.events)}


def validate_event(body: object) -> dict[str, Any]:
    """Check an event report against the AM-C27 schema; raise EventRejected(400)."""
    if not isinstance(body, dict):
        raise EventRejected(400, "event body must be a JSON object")
    for name in am.EVENT_FIELDS:
        if name != "reason" and name not in body:
            raise EventRejected(400, f"field {name!r} is required")
    if body["eventType"] not in set(am.EventType):
        raise EventRejected(400, f"field 'eventType' must be one of {', '.join(am.EventType)}")
    for name in ("trackPosition", "playedDuration"):
        value = body[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EventRejected(400, f"field {name!r} must be an integer >= 0 (ms)")
    if am.parse_timestamp(body["wallClockTime"]) is None or not isinstance(
            body["wallClockTime"], str):
        raise EventRejected(400, "field 'wallClockTime' must be ISO-8601 UTC with ms")
    if body["audioQuality"] not in set(Quality):
        raise EventRejected(400, "field 'audioQuality' must be one of "
                            + ", ".join(Quality))
    if not isinstance(body["drmType"], str) or body["drmType"].upper() != am.DRM_WIDEVINE:
        raise EventRejected(400, "field 'drmType' must be WIDEVINE")
    reason = body.get("reason")
    if reason is not None and reason not in set(am.EventReason):
        raise EventRejected(400, "field 'reason' must be null or one of "
                            + ", ".join(am.EventReason))
    return body


class Collectors:
    """All track instances handed out, and the rules for the events they receive."""

    def __init__(self) -> None:
        self._instances: OrderedDict[str, Instance] = OrderedDict()
        self._ids = itertools.count(1)
        self.log: list[dict[str, Any]] = []

    def create(self, track_id: str, container: str, account: str, salt: str) -> str:
        instance_id = f"{salt}{next(self._ids):08x}"
        self._instances[instance_id] = Instance(instance_id, track_id, container, account)
        while len(self._instances) > MAX_INSTANCES:
            self._instances.popitem(last=False)
        return instance_id

    def get(self, instance_id: str) -> Instance | None:
        return self._instances.get(instance_id)

    def all(self) -> list[Instance]:
        return list(self._instances.values())

    def record(self, inst: Instance, body: object, status: int, device_id: str,
               message: str | None = None) -> None:
        entry = {"seq": len(self.log) + 1, "instance": inst.instance_id,
                 "trackTag": inst.track_id, "deviceId": device_id, "status": status,
                 "event": body}
        if message is not None:
            entry["message"] = message
        inst.events.append(entry)
        self.log.append(entry)

    def apply(self, inst: Instance, event: dict[str, Any]) -> None:
        """Apply the AM-C27 timing rules; raise EventRejected without changing state."""
        kind = am.EventType(event["eventType"])
        position = int(event["trackPosition"])
        played = int(event["playedDuration"])
        if inst.state == "ended":
            raise EventRejected(409, "this track instance already ended (terminal event sent)")
        if kind == am.EventType.PLAYBACK_STARTED and inst.state != "new":
            raise EventRejected(400, "PLAYBACK_STARTED was already sent for this instance")
        if (inst.state == "new" and kind != am.EventType.PLAYBACK_STARTED
                and kind not in choices.TERMINAL_EVENTS):
            raise EventRejected(400, f"{kind} before PLAYBACK_STARTED")
        if kind == am.EventType.PLAYBACK_PAUSED and inst.state != "playing":
            raise EventRejected(400, "PLAYBACK_PAUSED while not playing")
        if kind == am.EventType.PLAYBACK_RESUMED and inst.state != "paused":
            raise EventRejected(400, "PLAYBACK_RESUMED while not paused")
        if kind == am.EventType.PLAYBACK_PROGRESS and inst.state != "playing":
            raise EventRejected(400, "PLAYBACK_PROGRESS while not playing")
        if position < inst.position_ms and kind not in SEEK_EVENTS:
            raise EventRejected(400, "trackPosition went backwards without a seek")
        if played < inst.played_ms:
            raise EventRejected(400, "playedDuration went backwards")
        inst.position_ms = position
        inst.played_ms = played
        if kind in choices.TERMINAL_EVENTS:
            inst.state = "ended"
        elif kind == am.EventType.PLAYBACK_PAUSED:
            inst.state = "paused"
        else:
            inst.state = "playing"


class Streams:
    """Which devices may stream for each account (AM-C32): the newest `limit` claimants."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, list[str]] = {}

    def claim(self, account: str, device_id: str) -> None:
        """`device_id` starts a stream; the oldest other device loses its turn."""
        devices = self._active.setdefault(account, [])
        if device_id in devices:
            devices.remove(device_id)
        devices.append(device_id)
        del devices[: max(0, len(devices) - self.limit)]

    def allowed(self, account: str, device_id: str) -> bool:
        """A device that never claimed may continue only while the limit has room."""
        devices = self._active.get(account, [])
        if device_id in devices:
            return True
        if len(devices) < self.limit:
            devices.append(device_id)
            return True
        return False

    def active(self, account: str) -> list[str]:
        return list(self._active.get(account, []))
