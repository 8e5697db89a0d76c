"""What the player keeps across restarts: volume always; queue and position for resume.

Saved atomically (0600) on pause, on track change, on volume change and every few seconds
while playing. A damaged file is reported and ignored rather than crashing playback.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from daemon.core.errors import StateError
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


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
