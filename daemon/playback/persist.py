"""What the player keeps across restarts: volume always; queue and position for resume.

Saved atomically (0600) on pause, on track change, on volume change and every few seconds
while playing. A damaged file is reported and ignored rather than crashing playback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from daemon.core.errors import DaemonError, StateError
from daemon.core.resource import StartableResource
from daemon.state.files import read_json, write_json

log = logging.getLogger("daemon.playback")


@dataclass(frozen=True)
class SavedPlayer:
    volume: int
    container_kind: str | None = None
    container_id: str | None = None
    index: int = 0
    position_ms: int = 0


class PlayerStore:
    """Reads and writes `player.json` in the state directory (blocking: call in a thread)."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / "player.json"

    def load(self) -> SavedPlayer | None:
        try:
            raw = read_json(self._path)
        except StateError as exc:
            log.error("player.state_unreadable error=%s", exc)
            return None
        if raw is None:
            return None
        try:
            volume = int(raw["volume"])
            saved = SavedPlayer(
                volume=min(100, max(0, volume)),
                container_kind=_opt_str(raw.get("container_kind")),
                container_id=_opt_str(raw.get("container_id")),
                index=max(0, int(raw.get("index", 0))),
                position_ms=max(0, int(raw.get("position_ms", 0))))
        except (KeyError, TypeError, ValueError):
            log.error("player.state_damaged path=%s", self._path)
            return None
        return saved

    def save(self, saved: SavedPlayer) -> None:
        write_json(self._path, asdict(saved))


class PlayerSaver(StartableResource):
    """Writes the newest `SavedPlayer` in a thread, off the player's owner task: `save`
    never waits, writes land in order, a burst of saves becomes one write, and `aclose`
    returns once the last one is on disk."""

    def __init__(self, store: PlayerStore) -> None:
        self._store = store
        self._latest: SavedPlayer | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="player-saver")

    def save(self, saved: SavedPlayer) -> None:
        self._latest = saved
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            saved, self._latest = self._latest, None
            if saved is not None:
                try:
                    await asyncio.to_thread(self._store.save, saved)
                except DaemonError as exc:
                    log.error("player.save_failed error=%s", exc)
            if self._closing and self._latest is None:
                return

    async def aclose(self) -> None:
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None:
            await asyncio.shield(task)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
