"""Track definitions and their manifests, kept for as long as the service says they hold.

A TrackDefinition names its signed manifest URL and when it expires (`audio.expires`,
AM-C16); until then the same instance needs neither the definition nor the manifest
again, so a second play, a seek that reopens the track and the next track opened ahead
all cost no round trip. Entries go `MARGIN_S` before their expiry (a manifest fetched just
before it would not leave time to fetch segments with it) and an entry without an expiry
is never kept. Memory only, and a handful of entries (current, previous, next and a few
more: the service's cache rule, spec/amazon-music.md §11).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from daemon.core.clock import Clock
from daemon.services.music_model import TrackDefinition

MARGIN_S: Final = 60.0
DEFAULT_ENTRIES: Final = 8


class TrackCache:
    """Definition + MPD per track instance (keyed by the instance's definition ref)."""

    def __init__(self, clock: Clock, *, entries: int = DEFAULT_ENTRIES) -> None:
        self._clock = clock
        self._entries = entries
        self._items: OrderedDict[str, tuple[TrackDefinition, bytes | None]] = OrderedDict()

    def _valid(self, definition: TrackDefinition) -> bool:
        expires = definition.expires_at
        return expires is not None and self._clock.time() < expires - MARGIN_S

    def get(self, key: str) -> tuple[TrackDefinition, bytes | None] | None:
        """The definition (and its MPD once fetched) while they hold; None otherwise."""
        found = self._items.get(key)
        if found is None:
            return None
        if not self._valid(found[0]):
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return found

    def put(self, key: str, definition: TrackDefinition, mpd: bytes | None = None) -> None:
        if not self._valid(definition):
            return
        self._items[key] = (definition, mpd)
        self._items.move_to_end(key)
        while len(self._items) > self._entries:
            self._items.popitem(last=False)

    def drop(self, key: str) -> None:
        self._items.pop(key, None)
