"""Ties the mDNS announcer to the control server (neither layer knows the other).

- the control server's Host allowlist follows the announcer's host name and addresses;
- a device rename through the API re-registers the mDNS instance;
- pairing window changes update the `pair` TXT key;
- a conflict rename is published to phones as a `device` event;
- `/health` and `/metrics` include the announcer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from daemon.app.lifecycle import Spawn
from daemon.control.server import ControlServer
from daemon.discovery.announcer import Announcer

log = logging.getLogger("daemon.discovery")


class AnnouncerLink:
    """Attach with `AnnouncerLink(server, announcer, spawn)` before `announcer.start()`;
    the re-announcements it starts are tasks of `spawn`'s owner."""

    def __init__(self, server: ControlServer, announcer: Announcer, spawn: Spawn) -> None:
        self._server = server
        self._announcer = announcer
        self._spawn_task = spawn
        announcer.on_network = self._on_network
        announcer.on_renamed = self._on_renamed
        server.listeners.append(self._on_event)
        server.health_sources.append(lambda: ("mdns", announcer.healthy))
        server.metric_sources.append(announcer.metrics)

    def _on_network(self, names: list[str], addresses: list[str]) -> None:
        self._server.update_network(names=names, addresses=addresses)

    def _on_renamed(self, name: str) -> None:
        self._server.publish("device", {"change": "mdns_renamed", "name": name})

    def _on_event(self, type_: str, data: dict[str, object]) -> None:
        if type_ == "pairing" and data.get("change") == "window":
            self._spawn_task("mdns-pairing",
                             _guard(self._announcer.set_pairing_open(bool(data.get("open")))))
        elif type_ == "device" and data.get("change") == "renamed" and data.get("name"):
            self._spawn_task("mdns-rename", _guard(self._announcer.rename(str(data["name"]))))


async def _guard(update: Awaitable[None]) -> None:
    try:
        await update
    except Exception as exc:  # the announcer's health flag reports lasting trouble
        log.error(f"mdns.update_failed error={type(exc).__name__}")
