"""The LAN side of the daemon: the control API and, once it listens, the mDNS announcer
(registering in the background);
with what the API needs implemented over the daemon's parts (the device's editable
settings, browse/search over the music client, sign-in over LWA and the Audible external
login)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from daemon.app.account import AmazonAccount
from daemon.app.adapters import Managed
from daemon.app.lifecycle import AppContext, Component, Spawn
from daemon.core.clock import Clock
from daemon.core.config import DiscoveryConfig, device_name_problem
from daemon.core.errors import ConfigError, ControlError, DaemonError
from daemon.core.tiers import CAPABILITY_ORDER, Capability
from daemon.state.files import read_json, write_json
from daemon.state.secrets import SecretStore

if TYPE_CHECKING:
    from daemon.control.server import ControlServer
    from daemon.discovery.announcer import Announcer
    from daemon.playback.commands import PlayerCommands
    from daemon.services.audible.login import PendingLogin
    from daemon.services.http import HttpClient
    from daemon.services.music_model import Item

log = logging.getLogger("daemon.control")

_DEVICE_FILE = "device.json"


class DeviceSettingsStore:
    """Name and default quality as the owner changed them from a phone (runtime state, so
    kept in the state directory; the config only gives the first values)."""

    def __init__(self, state_dir: Path, *, name: str, default_quality: Capability,
                 output: str) -> None:
        self._path = state_dir / _DEVICE_FILE
        self._values: dict[str, str] = {"name": name, "default_quality": default_quality.value,
                                        "output": output}
        saved = read_json(self._path) or {}
        for key in ("name", "default_quality"):
            value = saved.get(key)
            if isinstance(value, str):
                self._values[key] = value

    @property
    def name(self) -> str:
        return self._values["name"]

    def get(self) -> dict[str, object]:
        return dict(self._values)

    async def update(self, changes: dict[str, object]) -> dict[str, object]:
        new = dict(self._values)
        if "name" in changes:
            name = changes["name"]
            problem = device_name_problem(name) if isinstance(name, str) else "must be text"
            if problem or not isinstance(name, str):
                raise ConfigError(problem or "must be text", path="name")
            new["name"] = name
        if "default_quality" in changes:
            quality = changes["default_quality"]
            if not isinstance(quality, str) or quality not in set(Capability):
                raise ConfigError(f"must be one of {', '.join(CAPABILITY_ORDER)}",
                                  path="default_quality")
            new["default_quality"] = Capability(quality).value
        if "output" in changes and changes["output"] != new["output"]:
            raise ConfigError("the output is chosen in the configuration file; change"
                              " audio.output there and restart", path="output")
        await asyncio.to_thread(write_json, self._path,
                                {k: new[k] for k in ("name", "default_quality")})
        self._values = new
        return self.get()


class MusicBrowser:
    """Browse and search proxied to the Amazon Music client; playable items carry the
    service id the play command takes (a track pointer or a node reference)."""

    def __init__(self, account: AmazonAccount) -> None:
        self._account = account
        # Audible wishlist/search for the control API (app/wiring_audible_signin.py).
        self.audible: object | None = None

    async def browse(self, uri: str) -> dict[str, object]:
        music = self._account.music
        node = await (music.root() if not uri else music.node(uri))
        return {"uri": node.url, "title": node.title, "items": [_item(i) for i in node.items]}

    async def search(self, query: str, kinds: tuple[str, ...] = ()) -> dict[str, object]:
        node = await self._account.music.search(query)
        return {"query": query, "items": [_item(i) for i in node.items]}


def _item(item: Item) -> dict[str, object]:
    play: dict[str, str] | None = None
    if item.pointer is not None:
        play = {"kind": "track", "service_id": f"{item.pointer.chunk}@{item.pointer.index}"}
    elif item.node is not None:
        play = {"kind": "album", "service_id": item.node}
    return {"label": item.label, "browse": item.node, "play": play, "image_url": item.image_uri}


class AccountSignIn:
    """Amazon code-based linking and the Audible external login, for phones."""

    def __init__(self, account: AmazonAccount, *,
                 audible_start: Callable[[], PendingLogin] | None,
                 audible_finish: Callable[[PendingLogin, str], Awaitable[None]] | None,
                 audible_steps: object | None = None) -> None:
        self._account = account
        # The phone-driven form sign-in (control.audible_signin.FormSignIn), if offered.
        self.audible_steps = audible_steps
        self._audible_start = audible_start
        self._audible_finish = audible_finish
        self._audible_pending: PendingLogin | None = None
        self._audible_state = "unlinked"

    def state(self) -> dict[str, object]:
        return {"amazon": self._account.sign_in_state(),
                "audible": {"state": self._audible_state if self._audible_start
                            else "unavailable"}}

    async def start_amazon(self) -> dict[str, object]:
        return await self._account.start_link()

    async def start_audible(self) -> dict[str, object]:
        if self._audible_start is None:
            raise ControlError("Audible sign-in is not available with this configuration")
        self._audible_pending = self._audible_start()
        self._audible_state = "pending"
        return {"login_url": self._audible_pending.signin_url}

    async def submit_audible(self, response_url: str) -> dict[str, object]:
        if self._audible_pending is None or self._audible_finish is None:
            raise ControlError("start the Audible sign-in first")
        await self._audible_finish(self._audible_pending, response_url)
        self._audible_pending = None
        self._audible_state = "linked"
        return {"state": "linked"}


class Registration(Protocol):
    """What `Discovery` needs of an announcer (daemon.discovery.announcer.Announcer)."""

    name: str
    registered: bool

    @property
    def healthy(self) -> bool: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Discovery:
    """The mDNS announcer, started once the control API listens (it needs its port and
    identity). `start()` returns at once: probing and announcing (about a second and a
    half of multicast round trips) run in a background task, so the daemon is READY as
    soon as its API listens. STATUS says when the name is registered; `health()` reports a
    registration that failed or an announcer that died (that stops the watchdog)."""

    name = "discovery"

    def __init__(self, *, announcer: Callable[[], Registration], spawn: Spawn,
                 status: Callable[[str], None] | None = None) -> None:
        self._make = announcer
        self._spawn = spawn
        self._status = status
        self._announcer: Registration | None = None
        self._failed: str | None = None
        self.registering = False

    async def start(self) -> None:
        announcer = self._announcer = self._make()
        self.registering = True
        self._spawn("mdns-register", self._register(announcer))

    async def _register(self, announcer: Registration) -> None:
        try:
            await announcer.start()
        except DaemonError as exc:  # reported by health(); systemd's watchdog restarts us
            self._failed = f"mDNS registration failed: {exc}"
            log.error("discovery.failed error=%s", exc)
            return
        finally:
            self.registering = False
        log.info("discovery.registered name=%s", announcer.name)
        if self._status is not None:
            self._status(f"mDNS: announced as {announcer.name}")

    def health(self) -> str | None:
        if self._failed is not None:
            return self._failed
        if self._announcer is not None and not self.registering \
                and not self._announcer.healthy:
            return "mDNS announcer is not running"
        return None

    async def aclose(self) -> None:
        announcer, self._announcer = self._announcer, None
        if announcer is not None:
            await announcer.aclose()  # awaits the goodbye packets (and a probe under way)


def _announcer(server: ControlServer, *, state_dir: Path, clock: Clock,
               config: DiscoveryConfig, model: str, name: str, spawn: Spawn) -> Announcer:
    """The mDNS announcer for the control server, linked to it before it starts."""
    from daemon.app.announcer_link import AnnouncerLink
    from daemon.discovery.announcer import Announcer

    announcer = Announcer(state_dir, clock, config, model=model, name=name,
                          port=server.https_port, device_id=server.identity.short_id,
                          pairing_open=server.pairing.is_open)
    AnnouncerLink(server, announcer, spawn)
    return announcer


def lan_components(ctx: AppContext, *, account: AmazonAccount, player: PlayerCommands,
                   store: SecretStore, http: HttpClient,
                   sandbox_url: Callable[[], str] | None) -> Sequence[Component]:
    """The control API (HTTPS, pairing) and, once it listens, the mDNS announcer;
    `sandbox_url` gives the embedded sandbox's address once it listens."""
    cfg = ctx.config
    if not cfg.control.enabled:
        return []
    from daemon import __version__
    from daemon.control.server import ControlServer
    from daemon.services.audible.locales import Endpoints, get_locale
    from daemon.services.audible.login import start_external_login

    from .wiring_audible_signin import AudibleShelfAdapter, audible_form_signin

    def audible_endpoints() -> Endpoints:
        return Endpoints.sandbox(sandbox_url()) if sandbox_url is not None else Endpoints()

    def audible_start() -> PendingLogin:
        return start_external_login(get_locale(cfg.audible.locale), audible_endpoints())

    async def audible_finish(pending: PendingLogin, url: str) -> None:
        from daemon.services.audible.client import AudibleClient

        client = await AudibleClient.register(pending.complete(url), http=http,
                                              clock=ctx.clock, endpoints=audible_endpoints(),
                                              store=store)
        await client.aclose()

    allowed = cfg.quality.allow
    device = DeviceSettingsStore(ctx.state_dir, name=cfg.device.name,
                                 default_quality=Capability(allowed[-1]) if allowed
                                 else Capability.STD_RES, output=cfg.audio.output)
    browser = MusicBrowser(account)
    browser.audible = AudibleShelfAdapter(http, ctx.clock, store, audible_endpoints)
    server = ControlServer(
        ctx.state_dir, ctx.clock,
        cfg.control, model=cfg.device.model,
        store=store, player=player, device=device, browser=browser,
        signin=AccountSignIn(account, audible_start=audible_start,
                             audible_finish=audible_finish,
                             audible_steps=audible_form_signin(
                                 cfg.audible.locale, http, ctx.clock, store, audible_endpoints)),
        version=__version__)
    parts: list[Component] = [Managed("control", server)]
    if cfg.discovery.enabled:
        parts.append(Discovery(
            announcer=lambda: _announcer(server, state_dir=ctx.state_dir, clock=ctx.clock,
                                         config=cfg.discovery, model=cfg.device.model,
                                         name=device.name, spawn=ctx.supervisor.spawn),
            spawn=ctx.supervisor.spawn, status=ctx.notifier.status))
    return parts
