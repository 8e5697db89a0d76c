"""Small components the wiring assembles: a named wrapper for any startable resource, and
the one-shot autoplay after sign-in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from daemon.app.lifecycle import Spawn
from daemon.core.errors import AuthError, DaemonError

log = logging.getLogger("daemon.app")


class Startable(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Managed:
    """A startable resource (`start()`, idempotent `aclose()`) as a named component."""

    def __init__(self, name: str, resource: Startable) -> None:
        self.name = name
        self.resource = resource

    async def start(self) -> None:
        await self.resource.start()

    async def aclose(self) -> None:
        await self.resource.aclose()


class Autoplay:
    """Plays one configured item once, after sign-in; a failure is logged, not fatal."""

    name = "autoplay"

    def __init__(self, *, run: Callable[[], Awaitable[None]], spawn: Spawn) -> None:
        self._run = run
        self._spawn = spawn

    async def start(self) -> None:
        self._spawn("autoplay", self._go())

    async def _go(self) -> None:
        for attempt in range(1, 4):
            try:
                await self._run()
                return
            except AuthError as exc:  # a stale sign-in: the account re-links, then retry
                log.warning("autoplay.retry attempt=%s reason=%s", attempt, exc.code)
            except DaemonError as exc:
                log.error("autoplay.failed %s", exc)
                return
        log.error("autoplay.gave_up")

    async def aclose(self) -> None:
        return None
