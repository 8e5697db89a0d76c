"""The state directory's lock: two daemons must not share one state directory."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

from daemon.core.errors import StateError
from daemon.core.resource import StartableResource
from daemon.state.files import sweep_temp_files

log = logging.getLogger("daemon.state")


class StateLock(StartableResource):
    """An exclusive `flock` on `<state_dir>/speakerd.lock`, held from `start()` to `aclose()`.

    `start()` raises `StateError` when another process holds it; once it holds the lock it
    removes the temp files an interrupted atomic write left anywhere in the directory.
    """

    name = "state-lock"

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / "speakerd.lock"
        self._fd: int | None = None

    async def start(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError("another speakerd is already running with this state directory",
                             path=str(self._path.parent)) from None
        self._fd = fd
        removed = await asyncio.to_thread(sweep_temp_files, self._path.parent)
        if removed:
            log.info(f"state.temp_files_removed count={removed}")

    async def aclose(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
