"""The composition root: builds every component, starts them in dependency order, runs
until a signal, and stops them in reverse (DESIGN.md §2).

Long-lived tasks belong to one TaskGroup; a task that crashes ends the daemon with one
clear log line and a non-zero exit, so systemd restarts it. SIGTERM/SIGINT stop within
5 s; a second SIGINT forces the exit; SIGHUP reloads the configuration.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from daemon import __version__
from daemon.core.clock import Clock
from daemon.core.config import Config, load_config, resolve_state_dir
from daemon.core.configschema import diff_fields, is_live
from daemon.core.errors import ConfigError, DaemonError, StateError
from daemon.core.logs import set_level
from daemon.core.systemd import Notifier, run_watchdog
from daemon.state.files import ensure_private_dir
from daemon.state.identity import DeviceIdentity, load_or_create_identity

log = logging.getLogger("daemon.app")

STOP_DEADLINE = 4.5
"""Seconds all components get to close; the whole stop must fit in systemd's 5 s budget."""


class Component(Protocol):
    """A part of the daemon with a lifecycle. `start()` returns once it is ready."""

    name: str

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


class Supervisor:
    """Hands long-lived tasks to the app's TaskGroup; components get it at build time."""

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._pending: list[tuple[str, Coroutine[Any, Any, None]]] = []

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        if self._group is None:
            self._pending.append((name, coro))
        else:
            self._group.create_task(_named(name, coro), name=name)

    def attach(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        for name, coro in self._pending:
            group.create_task(_named(name, coro), name=name)
        self._pending.clear()


class ComponentCrashed(DaemonError):
    code = "crashed"
    exit_code = 70


async def _named(name: str, coro: Coroutine[Any, Any, None]) -> None:
    try:
        await coro
    except (asyncio.CancelledError, DaemonError):
        raise
    except Exception as exc:
        raise ComponentCrashed(f"{type(exc).__name__}: {exc}", component=name) from exc


class StateLock:
    """Holds an exclusive lock on the state directory: two daemons must not share one."""

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

    async def aclose(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


ComponentFactory = Callable[["AppContext"], list[Component]]


class AppContext:
    """What component factories may use: config, state dir, identity, clock, supervisor."""

    def __init__(self, *, config: Config, state_dir: Path, identity: DeviceIdentity,
                 clock: Clock, supervisor: Supervisor, notifier: Notifier) -> None:
        self.config = config
        self.state_dir = state_dir
        self.identity = identity
        self.clock = clock
        self.supervisor = supervisor
        self.notifier = notifier


class App:
    """One daemon run: `await App(...).run()` returns the process exit code."""

    def __init__(self, config: Config, *, config_path: Path | None, clock: Clock,
                 notifier: Notifier, factories: list[ComponentFactory] | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self._clock = clock
        self._notifier = notifier
        self._factories = factories if factories is not None else default_factories()
        self._environ = environ
        self._components: list[Component] = []
        self._started: list[Component] = []
        self._stop = asyncio.Event()
        self._interrupts = 0

    # --- signals ---------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self._on_stop_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_stop_signal, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

    def _on_stop_signal(self, name: str) -> None:
        if name == "SIGINT":
            self._interrupts += 1
            if self._interrupts > 1:
                log.warning("app.forced_exit signal=SIGINT")
                os._exit(130)
        log.info("app.stop_requested signal=%s", name)
        self._stop.set()

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
        supervisor = Supervisor()
        ctx = AppContext(config=self.config, state_dir=state_dir, identity=identity,
                         clock=self._clock, supervisor=supervisor, notifier=self._notifier)
        self._components = [StateLock(state_dir)]
        crashed: BaseException | None = None
        failed: BaseException | None = None
        try:
            for factory in self._factories:
                self._components += factory(ctx)
            async with asyncio.TaskGroup() as group:
                supervisor.attach(group)
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


class _Stopped(Exception):
    """Internal: the serve task finished because a stop was requested."""


def default_factories() -> list[ComponentFactory]:
    """The product's components, in dependency order."""
    return [product_components]


# --- the product's components -------------------------------------------------------------


def _lan_components(ctx: AppContext, *, account: Any, player: Any, store: Any, http: Any,
                    sandbox: Any) -> list[Component]:
    """The control API (HTTPS, pairing) and, once it listens, the mDNS announcer."""
    cfg = ctx.config
    if not cfg.control.enabled:
        return []
    from daemon.app.components import Managed
    from daemon.app.lan import AccountSignIn, DeviceSettingsStore, Discovery, MusicBrowser
    from daemon.control.local import show_code_on_stderr
    from daemon.control.server import ControlServer
    from daemon.control.settings import ControlSettings
    from daemon.discovery.settings import DiscoverySettings
    from daemon.services.audible.locales import Endpoints, get_locale
    from daemon.services.audible.login import start_external_login

    def audible_endpoints() -> Endpoints:
        return Endpoints.sandbox(sandbox.base_url) if sandbox is not None else Endpoints()

    def audible_start() -> Any:
        return start_external_login(get_locale(cfg.audible.locale), audible_endpoints())

    async def audible_finish(pending: Any, url: str) -> None:
        from daemon.services.audible.client import AudibleClient

        client = await AudibleClient.register(pending.complete(url), http=http,
                                              clock=ctx.clock, endpoints=audible_endpoints(),
                                              store=store)
        await client.aclose()

    device = DeviceSettingsStore(ctx.state_dir, name=cfg.device.name,
                                 default_quality=cfg.quality.allow[-1] if cfg.quality.allow
                                 else "STD_RES", output=cfg.audio.output)
    server = ControlServer(
        ctx.state_dir, ctx.clock,
        ControlSettings(https_port=cfg.control.port, static_pairing_code=cfg.control.setup_code,
                        model=cfg.device.model),
        store=store, player=player, device=device, browser=MusicBrowser(account),
        signin=AccountSignIn(account, audible_start=audible_start,
                             audible_finish=audible_finish),
        version=__version__, code_display=show_code_on_stderr)
    parts: list[Component] = [Managed("control", server)]
    if cfg.discovery.enabled:
        parts.append(Discovery(
            server=server, state_dir=ctx.state_dir, clock=ctx.clock,
            settings=DiscoverySettings(interfaces=cfg.discovery.interfaces,
                                       ip_version=cfg.discovery.ip_version,
                                       model=cfg.device.model),
            name=lambda: device.name))
    return parts


_MIB = 1024 * 1024


def _sound_card_present() -> bool:
    try:
        cards = Path("/proc/asound/cards").read_text()
    except OSError:
        return False
    return bool(cards.strip()) and "no soundcards" not in cards


def _volume_control(cfg: Config, output: Any) -> Any:
    """Software scaling, or the output's ALSA mixer control when configured."""
    from daemon.playback.volume import AlsaMixerVolume, SoftwareVolume, ctl_device_for

    if cfg.audio.mixer == "software":
        return SoftwareVolume()
    if output.mixer is None:
        raise ConfigError(f"output profile {output.name!r} has no mixer control; use"
                          " audio.mixer: software", path="audio.mixer")
    return AlsaMixerVolume(output.mixer.control, ctl_device=ctl_device_for(cfg.audio.device))


def _make_sink(ctx: AppContext, caps: Any) -> Any:
    """The configured output; `auto` = ALSA when a sound card exists, else a WAV file."""
    import shutil

    from daemon.playback.sinks import make_sink

    audio = ctx.config.audio
    kind = audio.output
    if kind == "auto":
        kind = "alsa" if _sound_card_present() and shutil.which("aplay") else "file"
    path = None
    if kind == "file":
        path = str(audio.file_path or ctx.state_dir / "output.wav")
        log.info("output.file path=%s reason=%s", path,
                 "configured" if audio.output == "file" else "no sound card")
    elif kind == "pipe":
        path = str(audio.pipe_path) if audio.pipe_path else "-"
    return make_sink(kind, clock=ctx.clock, caps=caps, device=audio.device, path=path)


def product_components(ctx: AppContext) -> list[Component]:
    """Sandbox (when configured), HTTP, secrets, Amazon account, CDM, player, autoplay."""
    from daemon.app.components import AmazonAccount, Autoplay, Endpoints, Managed
    from daemon.capabilities import (
        available_decoders,
        derive_capabilities,
        load_board,
        load_output,
    )
    from daemon.cli.commands import open_secret_store
    from daemon.contracts import amazon_music as am
    from daemon.core.retry import RetryPolicy
    from daemon.drm.flow import LicenceFlow
    from daemon.drm.registry import create_cdm
    from daemon.drm.settings import DrmSettings
    from daemon.playback.commands import Play, PlayKind
    from daemon.playback.engine import Player, PlayerSettings
    from daemon.playback.fetcher import FetchSettings
    from daemon.playback.persist import PlayerStore
    from daemon.services.http import HttpClient, Timeouts
    from daemon.sources.amazon import AmazonPlayback

    cfg = ctx.config
    parts: list[Component] = []

    sandbox: Any = None
    if cfg.service == "sandbox":
        from daemon.sandbox.config import SandboxConfig
        from daemon.sandbox.server import Sandbox

        backend = (am.LicenceBackend.CLEARKEY if cfg.drm.cdm == "clearkey"
                   else am.LicenceBackend.WIDEVINE_TEST)
        sandbox = Sandbox(SandboxConfig(
            host="127.0.0.1", port=cfg.sandbox.port,
            data_dir=cfg.sandbox.data_dir or ctx.state_dir / "sandbox",
            catalog=cfg.sandbox.catalog, auto_approve=cfg.sandbox.auto_approve,
            admin_enabled=cfg.sandbox.admin, seed=cfg.sandbox.seed, licence_backend=backend),
            ctx.clock)
        parts.append(Managed("sandbox", sandbox))

    def endpoints() -> Endpoints:
        if sandbox is not None:
            base = sandbox.base_url.rstrip("/")
            log.info("sandbox.ready url=%s", base)
            return Endpoints(lwa_url=base, music_url=base + "/", client_id=sandbox.lwa_client_id)
        return Endpoints(lwa_url=cfg.amazon.lwa_url, music_url=cfg.amazon.music_url,
                         client_id=cfg.amazon.client_id)

    http = HttpClient(
        clock=ctx.clock,
        timeouts=Timeouts(connect=cfg.http.connect_timeout, read=cfg.http.read_timeout,
                          request=max(30.0, cfg.http.read_timeout)),
        retry=RetryPolicy(max_attempts=cfg.http.max_attempts, total=cfg.http.max_retry_seconds))
    parts.append(Managed("http", http))

    store = open_secret_store(ctx.state_dir)

    output = load_output(cfg.audio.dac)
    board = load_board(cfg.audio.board)
    decoders = available_decoders()
    derivation = derive_capabilities(output, decoders=decoders, allow=cfg.quality.allow,
                                     board=board)
    tokens = sorted(t.value for t in derivation.tokens) or ["STD_RES"]
    log.info("capabilities.derived header=%s output=%s", derivation.header(), output.name)

    account = AmazonAccount(http=http, store=store, clock=ctx.clock, endpoints=endpoints,
                            language=cfg.amazon.accept_language,
                            image_style=cfg.amazon.image_style,
                            device_id=ctx.identity.device_id, capabilities=lambda: tokens,
                            spawn=ctx.supervisor.spawn, notifier=ctx.notifier)
    parts.append(account)

    cdm = create_cdm(DrmSettings(cdm=cfg.drm.cdm, widevine_device=cfg.drm.widevine_device,
                                 remote_host=cfg.drm.remote_url,
                                 remote_secret=cfg.drm.remote_secret,
                                 remote_device=cfg.drm.remote_device), clock=ctx.clock)
    parts.append(Managed("cdm", cdm))

    playback = AmazonPlayback(
        music=lambda: account.music, http=http, clock=ctx.clock,
        licence_flow=LicenceFlow(cdm, clock=ctx.clock), capabilities=lambda: tokens,
        decoders=decoders,
        fetch=FetchSettings(buffer_seconds=cfg.audio.buffer_seconds,
                            buffer_bytes=int(cfg.audio.buffer_max_mb * _MIB)))
    sink = _make_sink(ctx, output.caps)
    player = Player(source=playback, sink=sink, clock=ctx.clock, store=PlayerStore(ctx.state_dir),
                    settings=PlayerSettings(initial_volume=cfg.playback.initial_volume),
                    volume=_volume_control(cfg, output))
    parts.append(player)
    parts += _lan_components(ctx, account=account, player=player, store=store, http=http,
                             sandbox=sandbox)

    autoplay = cfg.playback.autoplay
    if autoplay or cfg.playback.resume:
        kind_name, _, _ = (autoplay or "").partition(":")

        async def play_once() -> None:
            """After sign-in: the saved queue (paused) when resuming, else the autoplay."""
            await account.wait_linked()
            if cfg.playback.resume and await player.restore():
                return
            if not autoplay:
                return
            try:
                kind = PlayKind(kind_name)
            except ValueError:
                kind = PlayKind.PLAYLIST
            log.info("autoplay.start item=%s", autoplay)
            await player.submit(Play(kind, autoplay))

        parts.append(Autoplay(run=play_once, spawn=ctx.supervisor.spawn))
    return parts
