"""READY=1 goes out once the API listens; mDNS probing finishes afterwards in the
background and its outcome reaches STATUS and the health check. The announcer is a
hand-written gate so the test decides when probing ends (the real one is covered by the
discovery integration tests and the avahi test)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.app import App, AppContext, Component
from daemon.app.lan import Discovery
from daemon.core.config import parse_config
from daemon.core.systemd import Notifier
from daemon.discovery.announcer import DiscoveryError
from tests.support.clock import FakeClock


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__({})
        self.sent: list[dict[str, str]] = []

    def send(self, **fields: str) -> None:
        self.sent.append(fields)


class GatedAnnouncer:
    """Probing ends when the test opens the gate (or fails, when told to)."""

    def __init__(self, gate: asyncio.Event, *, fail: bool = False) -> None:
        self.name = "Kitchen"
        self.registered = False
        self.closed = False
        self._gate = gate
        self._fail = fail
        self.probing = False

    @property
    def healthy(self) -> bool:
        return not self.closed

    async def start(self) -> None:
        self.probing = True
        await self._gate.wait()
        if self._fail:
            raise DiscoveryError("cannot open mDNS sockets: no interface")
        self.registered = True

    async def aclose(self) -> None:
        self.closed = True


async def _run(tmp_path: Path, announcer: GatedAnnouncer
               ) -> tuple[App, RecordingNotifier, Discovery, asyncio.Task[int]]:
    notifier = RecordingNotifier()
    parts: list[Discovery] = []

    def factory(ctx: AppContext) -> list[Component]:
        parts.append(Discovery(announcer=lambda: announcer, spawn=ctx.supervisor.spawn,
                               status=ctx.notifier.status))
        return list(parts)

    config = parse_config(f"state_dir: {tmp_path / 'state'}\n", "c.yaml")
    app = App(config, config_path=None, clock=FakeClock(), notifier=notifier,
              factories=[factory], environ={})
    task = asyncio.create_task(app.run())
    while not any("READY" in m for m in notifier.sent):
        await asyncio.sleep(0.01)
    return app, notifier, parts[0], task


def _registered(announcer: GatedAnnouncer, discovery: Discovery) -> bool:
    return announcer.registered and not discovery.registering


async def test_ready_comes_before_the_registration_and_the_registration_follows(
        tmp_path: Path) -> None:
    gate = asyncio.Event()
    announcer = GatedAnnouncer(gate)
    app, notifier, discovery, task = await _run(tmp_path, announcer)
    # READY is out while the announcer is still probing
    assert announcer.probing
    assert not announcer.registered
    assert discovery.registering
    assert app.health() is None  # probing is not a failure: the watchdog keeps pinging
    gate.set()
    while not _registered(announcer, discovery):
        await asyncio.sleep(0.01)
    while not any("mDNS" in m.get("STATUS", "") for m in notifier.sent):
        await asyncio.sleep(0.01)
    ready_at = next(i for i, m in enumerate(notifier.sent) if "READY" in m)
    announced_at = next(i for i, m in enumerate(notifier.sent)
                        if "mDNS: announced as Kitchen" in m.get("STATUS", ""))
    assert ready_at < announced_at
    assert app.health() is None
    app.request_stop()
    assert await task == 0
    assert announcer.closed


async def test_a_failed_registration_is_reported_by_health(tmp_path: Path) -> None:
    gate = asyncio.Event()
    announcer = GatedAnnouncer(gate, fail=True)
    app, _, discovery, task = await _run(tmp_path, announcer)
    gate.set()
    while discovery.registering:
        await asyncio.sleep(0.01)
    reason = app.health()
    assert reason is not None
    assert "mDNS registration failed" in reason
    app.request_stop()
    assert await task == 0  # the daemon keeps serving; the watchdog decides
