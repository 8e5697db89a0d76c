"""The composition root on its own: start order, reverse stop, crashes, health, watchdog."""

from __future__ import annotations

import asyncio
import inspect
import logging
from pathlib import Path

import pytest

from daemon.app import App, AppContext, Component
from daemon.core.config import Config, parse_config
from daemon.core.systemd import Notifier, run_watchdog
from tests.support.clock import FakeClock


class Recorder:
    def __init__(self, name: str, log: list[str], *, fail_start: bool = False,
                 crash_after: float | None = None, ctx: AppContext | None = None) -> None:
        self.name = name
        self._log = log
        self._fail = fail_start
        self._crash_after = crash_after
        self._ctx = ctx
        self.unhealthy: str | None = None

    async def start(self) -> None:
        self._log.append(f"start {self.name}")
        if self._fail:
            from daemon.core.errors import ServiceError
            raise ServiceError("cannot reach the thing", url="http://x")
        if self._crash_after is not None and self._ctx is not None:
            self._ctx.supervisor.spawn(f"{self.name}-task", self._crash())

    async def _crash(self) -> None:
        await asyncio.sleep(self._crash_after or 0)
        raise RuntimeError("wedged decoder")

    async def aclose(self) -> None:
        self._log.append(f"close {self.name}")

    def health(self) -> str | None:
        return self.unhealthy


def _config(tmp_path: Path) -> Config:
    state = tmp_path / "state"
    return parse_config(f"state_dir: {state}\n", "c.yaml")


async def test_start_in_order_stop_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []

    def factory(ctx: AppContext) -> list[Component]:
        return [Recorder("a", log), Recorder("b", log)]

    app = App(_config(tmp_path), config_path=None, clock=FakeClock(), notifier=Notifier({}),
              factories=[factory], environ={})
    task = asyncio.create_task(app.run())
    while "start b" not in log:
        await asyncio.sleep(0.01)
    app.request_stop()
    assert await task == 0
    assert log == ["start a", "start b", "close b", "close a"]


async def test_start_failure_closes_what_started_and_raises(tmp_path: Path) -> None:
    from daemon.core.errors import ServiceError
    log: list[str] = []

    def factory(ctx: AppContext) -> list[Component]:
        return [Recorder("a", log), Recorder("b", log, fail_start=True), Recorder("c", log)]

    app = App(_config(tmp_path), config_path=None, clock=FakeClock(), notifier=Notifier({}),
              factories=[factory], environ={})
    with pytest.raises(ServiceError, match="cannot reach the thing"):
        await app.run()
    assert log == ["start a", "start b", "close a"]


async def test_crashed_task_exits_70_with_one_line(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    def factory(ctx: AppContext) -> list[Component]:
        return [Recorder("player", log, crash_after=0.01, ctx=ctx)]

    app = App(_config(tmp_path), config_path=None, clock=FakeClock(), notifier=Notifier({}),
              factories=[factory], environ={})
    with caplog.at_level(logging.CRITICAL, logger="daemon.app"):
        code = await asyncio.wait_for(app.run(), 10)
    assert code == 70
    crashes = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(crashes) == 1
    assert "RuntimeError: wedged decoder" in crashes[0].getMessage()
    assert "component=player-task" in crashes[0].getMessage()
    assert log == ["start player", "close player"]


async def test_health_names_the_unhealthy_component(tmp_path: Path) -> None:
    log: list[str] = []
    sick = Recorder("decoder", log)

    def factory(ctx: AppContext) -> list[Component]:
        return [sick]

    app = App(_config(tmp_path), config_path=None, clock=FakeClock(), notifier=Notifier({}),
              factories=[factory], environ={})
    task = asyncio.create_task(app.run())
    while "start decoder" not in log:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    assert app.health() is None
    sick.unhealthy = "no progress for 12 s"
    assert app.health() == "decoder: no progress for 12 s"
    app.request_stop()
    await task


class CapturingNotifier(Notifier):
    def __init__(self, watchdog_usec: int) -> None:
        super().__init__({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": str(watchdog_usec)})
        self.sent: list[dict[str, str]] = []

    def send(self, **fields: str) -> None:
        self.sent.append(fields)


async def test_watchdog_pings_only_while_healthy() -> None:
    clock = FakeClock()
    notifier = CapturingNotifier(watchdog_usec=2_000_000)  # ping every 1 s
    state: dict[str, str | None] = {"reason": None}
    task = asyncio.create_task(run_watchdog(notifier, clock, lambda: state["reason"]))
    await clock.run_for(3.5, step=0.5)
    healthy_pings = sum(1 for m in notifier.sent if m.get("WATCHDOG") == "1")
    assert healthy_pings == 4  # at t=0, 1, 2, 3
    state["reason"] = "player: stuck"
    await clock.run_for(5.0, step=0.5)
    assert sum(1 for m in notifier.sent if m.get("WATCHDOG") == "1") == healthy_pings
    assert {"STATUS": "unhealthy: player: stuck"} in notifier.sent
    state["reason"] = None
    await clock.run_for(2.0, step=0.5)
    assert sum(1 for m in notifier.sent if m.get("WATCHDOG") == "1") > healthy_pings
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_watchdog_is_off_without_watchdog_usec() -> None:
    notifier = Notifier({"NOTIFY_SOCKET": "/nonexistent"})
    await asyncio.wait_for(run_watchdog(notifier, FakeClock(), lambda: None), 1)


def test_watchdog_usec_for_another_pid_is_ignored() -> None:
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000",
                     "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"NOTIFY_SOCKET": "/x",
                     "WATCHDOG_USEC": "1000000"}).watchdog_interval == 0.5


async def test_the_supervisor_owns_tasks_spawned_before_and_during_the_run() -> None:
    from daemon.app import Supervisor

    ran: list[str] = []

    async def work(name: str) -> None:
        ran.append(name)

    supervisor = Supervisor()
    supervisor.spawn("early", work("early"))  # before the TaskGroup exists: queued
    async with asyncio.TaskGroup() as group:
        supervisor.attach(group)
        supervisor.spawn("late", work("late"))
    supervisor.detach()
    late = work("after")
    supervisor.spawn("after", late)  # the run is over: closed, never started
    assert ran == ["early", "late"]
    assert inspect.getcoroutinestate(late) == inspect.CORO_CLOSED  # no "never awaited" warning


async def test_a_reload_that_fails_in_a_component_is_logged_not_fatal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    path = tmp_path / "c.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n")

    class Fragile(Recorder):
        def apply_config(self, config: Config) -> None:
            raise RuntimeError("cannot take it")

    def factory(ctx: AppContext) -> list[Component]:
        return [Fragile("fragile", log)]

    app = App(_config(tmp_path), config_path=path, clock=FakeClock(), notifier=Notifier({}),
              factories=[factory], environ={})
    task = asyncio.create_task(app.run())
    while "start fragile" not in log:
        await asyncio.sleep(0.01)
    path.write_text(f"state_dir: {tmp_path / 'state'}\ndevice: {{name: Den}}\n")
    with caplog.at_level(logging.ERROR, logger="daemon.app"):
        app._on_reload_signal()  # what SIGHUP does
        while not any("config.reload.failed" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.01)
    assert not task.done()
    app.request_stop()
    assert await task == 0
