"""Playback events on their way to the source, in order, off the owner task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from daemon.core.errors import DaemonError
from daemon.playback.source import PlaybackReport, QueueEntry, Source

log = logging.getLogger("daemon.playback")


class EventSender:
    """Queues reports and delivers them one at a time; a refused entry gets no more
    (`on_refused` tells the owner, which stops playback: AM-C27)."""

    def __init__(self, source: Source,
                 on_refused: Callable[[QueueEntry, DaemonError], None]) -> None:
        self._source = source
        self._on_refused = on_refused
        self._reports: asyncio.Queue[tuple[QueueEntry, PlaybackReport]] = asyncio.Queue()

    def send(self, entry: QueueEntry, report: PlaybackReport) -> None:
        self._reports.put_nowait((entry, report))

    async def run(self) -> None:
        failed: set[str] = set()
        while True:
            entry, report = await self._reports.get()
            try:
                if entry.item_id not in failed:
                    await self._source.report(entry, report)
            except DaemonError as exc:
                failed.add(entry.item_id)  # nothing more for a refused instance
                self._on_refused(entry, exc)
            finally:
                self._reports.task_done()

    async def drain(self, timeout_s: float) -> None:
        """Give queued events a moment to reach their collectors."""
        try:
            await asyncio.wait_for(self._reports.join(), timeout_s)
        except TimeoutError:
            log.warning("player.events_dropped count=%s", self._reports.qsize())
