"""The player's queue: entries, the current index, repeat and shuffle.

Pure state and its edits; the owner task is its only user, so nothing here awaits.
Entries get queue-local item ids as they come in (a service's own ids may repeat).
"""

from __future__ import annotations

import random
from dataclasses import replace

from daemon.playback import commands as c
from daemon.playback.commands import CommandRejected, RejectReason, RepeatMode
from daemon.playback.events import QueueChanged
from daemon.playback.source import QueueEntry


class PlayQueue:
    """The entries in play order and where the player is in them."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng  # shuffle order, not a secret
        self.entries: list[QueueEntry] = []
        self.index: int | None = None
        self.repeat = RepeatMode.OFF
        self.shuffle = False
        self.container: tuple[c.PlayKind, str] | None = None
        self._item_seq = 0

    def replace_all(self, entries: list[QueueEntry], container: tuple[c.PlayKind, str]) -> None:
        self.entries = [self._renumber(e) for e in entries]
        self.container = container

    def current(self) -> QueueEntry | None:
        return self.entries[self.index] if self.index is not None else None

    def apply(self, cmd: c.Command, resolved: list[QueueEntry], *, started: bool) -> None:
        """A queue edit (`resolved` holds a QueueAdd's entries); raises CommandRejected."""
        if isinstance(cmd, c.QueueAdd):
            entries = [self._renumber(e) for e in resolved]
            at = len(self.entries) if cmd.index is None else min(cmd.index, len(self.entries))
            self.entries[at:at] = entries
            if self.index is not None and at <= self.index and started:
                self.index += len(entries)
        elif isinstance(cmd, c.QueueRemove):
            pos = self.find(cmd.item_id)
            if pos == self.index:
                raise CommandRejected("the current track cannot be removed; use next",
                                      reason=RejectReason.NOT_ALLOWED)
            del self.entries[pos]
            if self.index is not None and pos < self.index:
                self.index -= 1
        elif isinstance(cmd, c.QueueMove):
            pos = self.find(cmd.item_id)
            if cmd.to_index >= len(self.entries):
                raise CommandRejected("target index out of range", reason=RejectReason.OUT_OF_RANGE)
            current = self.current()
            entry = self.entries.pop(pos)
            self.entries.insert(cmd.to_index, entry)
            if current is not None:
                self.index = self.entries.index(current)
        elif isinstance(cmd, c.QueueClear):
            if self.index is None:
                self.entries = []
            else:
                del self.entries[self.index + 1:]
        elif isinstance(cmd, c.SetRepeat):
            self.repeat = cmd.mode
        elif isinstance(cmd, c.SetShuffle):
            self.shuffle = cmd.enabled
            if cmd.enabled and self.index is not None:
                rest = self.entries[self.index + 1:]
                self._rng.shuffle(rest)  # AM-C21: the client shuffles its local order
                self.entries[self.index + 1:] = rest
        else:  # pragma: no cover - the command union is closed
            raise CommandRejected("unknown command", reason=RejectReason.UNKNOWN_COMMAND)

    def find(self, item_id: str) -> int:
        for pos, entry in enumerate(self.entries):
            if entry.item_id == item_id:
                return pos
        raise CommandRejected("no such queue item", reason=RejectReason.OUT_OF_RANGE,
                              item_id=item_id[:64])

    def neighbour(self, step: int, *, user: bool) -> int | None:
        """The index `step` away, honouring repeat; None past either end."""
        if self.index is None or not self.entries:
            return None
        if self.repeat == RepeatMode.ONE and not user:
            return self.index
        target = self.index + step
        if 0 <= target < len(self.entries):
            return target
        if self.repeat != RepeatMode.OFF:
            return target % len(self.entries)  # AM: the chain is circular under repeat
        return None

    def changed(self) -> QueueChanged:
        return QueueChanged(tuple(e.as_item() for e in self.entries), self.index,
                            self.repeat.value, self.shuffle)

    def to_dict(self) -> dict[str, object]:
        return {"items": [e.as_item().to_dict() for e in self.entries], "index": self.index,
                "repeat": self.repeat.value, "shuffle": self.shuffle}

    def _renumber(self, entry: QueueEntry) -> QueueEntry:
        self._item_seq += 1
        return replace(entry, item_id=f"{self._item_seq}")
