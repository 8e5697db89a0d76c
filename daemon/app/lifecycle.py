"""One daemon run: start the components in order, serve until a signal, stop in reverse.

Every long-lived task belongs to the run's one TaskGroup, handed out by the `Supervisor`; a
task that crashes ends the daemon with one clear log line and exit 70, so systemd restarts
it. SIGTERM/SIGINT stop within `STOP_DEADLINE`; a second SIGINT forces the exit; SIGHUP
reloads the configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from daemon import __version__
from daemon.core.clock import Clock
from daemon.core.config import Config, load_config, resolve_state_dir
from daemon.core.configschema import diff_fields, is_live
from daemon.core.errors import DaemonError
from daemon.core.logs import set_level
from daemon.core.systemd import Notifier, run_watchdog
from daemon.state.files import ensure_private_dir
from daemon.state.identity import DeviceIdentity, load_or_create_identity
from daemon.state.lock import StateLock

log = logging.getLogger("daemon.app")

STOP_DEADLINE = 4.5
"""Seconds all components get to close; the whole stop must fit in systemd's 5 s budget."""


class Component(Protocol):
    """A part of the daemon with a lifecycle. `start()` returns once it is ready."""

    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class HealthReporting(Protocol):
    def health(self) -> str | None:
        """None when healthy, else a short reason (stops the watchdog pings)."""
        ...


@runtime_checkable
class Reconfigurable(Protocol):
    def apply_config(self, config: Config) -> None:
        """Take the live-changeable part of a reloaded configuration."""
        ...


Spawn = Callable[[str, Awaitable[None]], None]
"""Hands a named long-lived task to the run's TaskGroup (`Supervisor.spawn`)."""


class ComponentCrashed(DaemonError):
    code = "crashed"
    exit_code = 70


class Supervisor:
    """The owner of every background task: queues them until the run's TaskGroup exists,
    then starts them in it. An unexpected exception in one becomes `ComponentCrashed`."""

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._pending: list[tuple[str, Awaitable[None]]] = []
        self._ended = False

    def spawn(self, name: str, work: Awaitable[None]) -> None:
        if self._ended:
            log.debug("task.dropped name=%s reason=stopping", name)
            _close(work)
        elif self._group is None:
            self._pending.append((name, work))
        else:
            self._group.create_task(_named(name, work), name=name)

    def attach(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        pending, self._pending = self._pending, []
        for name, work in pending:
            group.create_task(_named(name, work), name=name)

    def detach(self) -> None:
        """The TaskGroup has ended; work spawned from now on is closed unstarted."""
        self._group = None
        self._ended = True
        pending, self._pending = self._pending, []
        for _, work in pending:
            _close(work)


def _close(work: Awaitable[None]) -> None:
    close = getattr(work, "close", None)
    if callable(close):  # a coroutine that will never run: close it without a warning
        close()


async def _named(name: str, work: Awaitable[None]) -> None:
    try:
        await work
    except (asyncio.CancelledError, DaemonError):
        raise
    except Exception as exc:
        raise ComponentCrashed(f"{type(exc).__name__}: {exc}", component=name) from exc


@dataclass(frozen=True)
class AppContext:
    """What component factories may use: config, state dir, identity, clock, supervisor."""

    config: Config
    state_dir: Path
    identity: DeviceIdentity
    clock: Clock
    supervisor: Supervisor
    notifier: Notifier


ComponentFactory = Callable[[AppContext], Sequence[Component]]


class _Stopped(Exception):
    """Internal: the serve task finished because a stop was requested."""


class App:
    """One daemon run: `await App(...).run()` returns the process exit code (0 or 70);
    a start-up failure raises its `DaemonError` (the CLI prints one line, exit 78/69)."""

    def __init__(self, config: Config, *, config_path: Path | None, clock: Clock,
                 notifier: Notifier, factories: Sequence[ComponentFactory],
                 environ: dict[str, str] | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self._clock = clock
        self._notifier = notifier
        self._factories = tuple(factories)
        self._environ = environ
        self._supervisor = Supervisor()
        self._components: list[Component] = []
        self._started: list[Component] = []
        self._stop = asyncio.Event()
        self._interrupts = 0

    # --- signals ---------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self._on_stop_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_stop_signal, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)

    def _on_stop_signal(self, name: str) -> None:
        if name == "SIGINT":
            self._interrupts += 1
            if self._interrupts > 1:
                log.warning("app.forced_exit signal=SIGINT")
                os._exit(130)
        log.info("app.stop_requested signal=%s", name)
        self._stop.set()

    def _on_reload_signal(self) -> None:
        self._supervisor.spawn("reload", self._reload_logged())

    def request_stop(self) -> None:
        self._stop.set()

    # --- health ----------------------------------------------------------------------

    def health(self) -> str | None:
        for component in self._started:
            if isinstance(component, HealthReporting):
                reason = component.health()
                if reason is not None:
                    return f"{component.name}: {reason}"
        return None

    # --- reload ----------------------------------------------------------------------

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # a failed reload keeps the running configuration
            log.error("config.reload.failed error=%s", f"{type(exc).__name__}: {exc}")

    async def reload(self) -> list[str]:
        """Re-read the config file; apply live fields, log those that need a restart."""
        if self._config_path is None:
            log.info("config.reload.skipped reason=no-config-file")
            return []
        try:
            new = await asyncio.to_thread(load_config, self._config_path)
        except DaemonError as exc:
            for line in str(exc).splitlines():
                log.error("config.reload.rejected problem=%s", line)
            return []
        changed = diff_fields(self.config, new)
        live = [path for path in changed if is_live(Config, path)]
        restart = [path for path in changed if path not in live]
        if "logging.level" in live:
            set_level(new.logging.level)
        self.config = new
        for component in self._started:
            if isinstance(component, Reconfigurable):
                component.apply_config(new)
        log.info("config.reloaded applied=%s needs_restart=%s",
                 ",".join(live) or "-", ",".join(restart) or "-")
        return changed

    # --- run -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        self._notifier.status("starting")
        state_dir = ensure_private_dir(resolve_state_dir(self.config, self._environ))
        identity = await asyncio.to_thread(load_or_create_identity, state_dir)
        ctx = AppContext(config=self.config, state_dir=state_dir, identity=identity,
                         clock=self._clock, supervisor=self._supervisor,
                         notifier=self._notifier)
        self._components = [StateLock(state_dir)]
        crashed: BaseException | None = None
        failed: BaseException | None = None
        try:
            for factory in self._factories:
                self._components += factory(ctx)
            async with asyncio.TaskGroup() as group:
                self._supervisor.attach(group)
                stopper = group.create_task(self._serve(state_dir, identity), name="serve")
                group.create_task(
                    run_watchdog(self._notifier, self._clock, self.health), name="watchdog")
                await stopper
                raise _Stopped
        except* _Stopped:
            pass
        except* ComponentCrashed as group_exc:
            crashed = group_exc.exceptions[0]
        except* DaemonError as group_exc:
            failed = group_exc.exceptions[0]
        finally:
            self._supervisor.detach()
            await self._close_all()
        if failed is not None:
            raise failed  # a start-up failure: the CLI prints it as one line
        if crashed is not None:
            log.critical("app.crashed %s", crashed)
            return ComponentCrashed.exit_code
        return 0

    async def _serve(self, state_dir: Path, identity: DeviceIdentity) -> None:
        for component in self._components:
            if self._stop.is_set():
                return
            self._notifier.status(f"starting {component.name}")
            await component.start()
            self._started.append(component)
            log.debug("component.started name=%s", component.name)
        self._notifier.ready(self.status_line())
        log.info("app.ready version=%s device=%s state_dir=%s components=%s", __version__,
                 identity.short_id, state_dir, ",".join(c.name for c in self._components))
        await self._stop.wait()

    def status_line(self) -> str:
        return f"ready: {self.config.device.name}, idle"

    async def _close_all(self) -> None:
        if not self._started:
            return
        self._notifier.stopping()
        started, self._started = self._started, []
        try:
            async with asyncio.timeout(STOP_DEADLINE):
                for component in reversed(started):
                    try:
                        await component.aclose()
                    except Exception as exc:
                        log.error("component.close_failed name=%s error=%s", component.name,
                                  f"{type(exc).__name__}: {exc}")
        except TimeoutError:
            log.error("app.stop_deadline_passed seconds=%s", STOP_DEADLINE)
        log.info("app.stopped")
