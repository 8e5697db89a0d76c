"""Ties the announcer to the control server (for the composition root in daemon/app.py).

- the control server's Host allowlist follows the announcer's host name and addresses;
- a device rename through the API re-registers the mDNS instance;
- pairing window changes update the `pair` TXT key;
- a conflict rename is published to phones as a `device` event;
- `/health` and `/metrics` include the announcer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from daemon.control.server import ControlServer
from daemon.core.resource import AsyncResource
from daemon.discovery.announcer import Announcer

log = logging.getLogger("daemon.discovery")


class AnnouncerLink(AsyncResource):
    """Attach with `link = AnnouncerLink(server, announcer)` before `announcer.start()`."""

    def __init__(self, server: ControlServer, announcer: Announcer) -> None:
        self._server = server
        self._announcer = announcer
        self._tasks: set[asyncio.Task[None]] = set()
        announcer.on_network = self._on_network
        announcer.on_renamed = self._on_renamed
        server.listeners.append(self._on_event)
        server.health_sources.append(lambda: ("mdns", announcer.healthy))
        server.metric_sources.append(announcer.metrics)

    def _on_network(self, names: list[str], addresses: list[str]) -> None:
        self._server.update_network(names=names, addresses=addresses)

    def _on_renamed(self, name: str) -> None:
        self._server.publish("device", {"change": "mdns_renamed", "name": name})

    def _on_event(self, type_: str, data: dict[str, Any]) -> None:
        if type_ == "pairing" and data.get("change") == "window":
            self._spawn(self._announcer.set_pairing_open(bool(data.get("open"))))
        elif type_ == "device" and data.get("change") == "renamed" and data.get("name"):
            self._spawn(self._announcer.rename(str(data["name"])))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except Exception as exc:  # the announcer's health flag reports lasting trouble
            log.error(f"mdns.update_failed error={type(exc).__name__}")

    async def aclose(self) -> None:
        tasks, self._tasks = set(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
