"""What the LAN control API needs, implemented over the daemon's parts: the device's
editable settings, browse/search over the music client, sign-in over LWA and the Audible
external login, and the mDNS announcer as a component that starts once the API listens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.app.components import AmazonAccount
from daemon.core.clock import Clock
from daemon.core.config import ALL_CAPABILITIES, device_name_problem
from daemon.core.errors import ConfigError, ControlError
from daemon.state.files import read_json, write_json

log = logging.getLogger("daemon.control")

_DEVICE_FILE = "device.json"


class DeviceSettingsStore:
    """Name and default quality as the owner changed them from a phone (runtime state, so
    kept in the state directory; the config only gives the first values)."""

    def __init__(self, state_dir: Path, *, name: str, default_quality: str,
                 output: str) -> None:
        self._path = state_dir / _DEVICE_FILE
        self._values = {"name": name, "default_quality": default_quality, "output": output}
        saved = read_json(self._path) or {}
        for key in ("name", "default_quality"):
            if isinstance(saved.get(key), str):
                self._values[key] = saved[key]

    @property
    def name(self) -> str:
        return self._values["name"]

    def get(self) -> dict[str, Any]:
        return dict(self._values)

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        new = dict(self._values)
        if "name" in changes:
            name = changes["name"]
            problem = device_name_problem(name) if isinstance(name, str) else "must be text"
            if problem:
                raise ConfigError(problem, path="name")
            new["name"] = name
        if "default_quality" in changes:
            quality = changes["default_quality"]
            if quality not in ALL_CAPABILITIES:
                raise ConfigError(f"must be one of {', '.join(ALL_CAPABILITIES)}",
                                  path="default_quality")
            new["default_quality"] = quality
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

    async def browse(self, uri: str) -> dict[str, Any]:
        music = self._account.music
        node = await (music.root() if not uri else music.node(uri))
        return {"uri": node.url, "title": node.title, "items": [_item(i) for i in node.items]}

    async def search(self, query: str, kinds: tuple[str, ...] = ()) -> dict[str, Any]:
        node = await self._account.music.search(query)
        return {"query": query, "items": [_item(i) for i in node.items]}


def _item(item: Any) -> dict[str, Any]:
    play = None
    if item.pointer is not None:
        play = {"kind": "track", "service_id": f"{item.pointer.chunk}@{item.pointer.index}"}
    elif item.node is not None:
        play = {"kind": "album", "service_id": item.node}
    return {"label": item.label, "browse": item.node, "play": play, "image_url": item.image_uri}


class AccountSignIn:
    """Amazon code-based linking and the Audible external login, for phones."""

    def __init__(self, account: AmazonAccount, *, audible_start: Callable[[], Any] | None,
                 audible_finish: Callable[[Any, str], Any] | None) -> None:
        self._account = account
        self._audible_start = audible_start
        self._audible_finish = audible_finish
        self._audible_pending: Any = None
        self._audible_state = "unlinked"

    def state(self) -> dict[str, Any]:
        return {"amazon": self._account.sign_in_state(),
                "audible": {"state": self._audible_state if self._audible_start
                            else "unavailable"}}

    async def start_amazon(self) -> dict[str, Any]:
        return await self._account.start_link()

    async def start_audible(self) -> dict[str, Any]:
        if self._audible_start is None:
            raise ControlError("Audible sign-in is not available with this configuration")
        self._audible_pending = self._audible_start()
        self._audible_state = "pending"
        return {"login_url": self._audible_pending.signin_url}

    async def submit_audible(self, response_url: str) -> dict[str, Any]:
        if self._audible_pending is None or self._audible_finish is None:
            raise ControlError("start the Audible sign-in first")
        await self._audible_finish(self._audible_pending, response_url)
        self._audible_pending = None
        self._audible_state = "linked"
        return {"state": "linked"}


class Discovery:
    """The mDNS announcer, started once the control API listens (it needs its port and
    identity); `health()` reports a dead announcer, which stops the watchdog."""

    name = "discovery"

    def __init__(self, *, server: Any, state_dir: Path, clock: Clock, settings: Any,
                 name: Callable[[], str]) -> None:
        self._server = server
        self._state_dir = state_dir
        self._clock = clock
        self._settings = settings
        self._name = name
        self._announcer: Any = None

    async def start(self) -> None:
        from daemon.discovery.announcer import Announcer
        from daemon.discovery.link import AnnouncerLink

        announcer = Announcer(self._state_dir, self._clock, self._settings, name=self._name(),
                              port=self._server.https_port,
                              device_id=self._server.identity.short_id,
                              pairing_open=self._server.pairing.is_open)
        self._link = AnnouncerLink(self._server, announcer)
        await announcer.start()
        self._announcer = announcer
        log.info("discovery.registered name=%s", announcer.name)

    def health(self) -> str | None:
        if self._announcer is not None and not self._announcer.healthy:
            return "mDNS announcer is not running"
        return None

    async def aclose(self) -> None:
        announcer, self._announcer = self._announcer, None
        if announcer is not None:
            await announcer.aclose()  # awaits the goodbye packets
