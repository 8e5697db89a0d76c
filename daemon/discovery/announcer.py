"""The mDNS announcer: registers `_speakerd._tcp` (+ `_http._tcp`) and keeps it true.

Contract: `start()` returns once the service record is registered (probing done), or at
once when no allowed interface has an address yet (it registers when one appears).
Name conflicts are resolved Bonjour-style ('Kitchen (2)') and the chosen name is persisted
and reused. Address changes are noticed by polling and re-announced within
`poll_interval_s + settle_s` plus one update round. `aclose()` awaits the goodbye packets
before closing the sockets (python-zeroconf sends none unless awaited).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zeroconf import IPVersion, NonUniqueNameException, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from daemon.core.clock import Clock
from daemon.core.config import DiscoveryConfig
from daemon.core.errors import DaemonError
from daemon.core.resource import StartableResource
from daemon.discovery.netwatch import current_addresses, flat
from daemon.state.files import ensure_private_dir, read_json, write_json

log = logging.getLogger("daemon.discovery")

SERVICE_TYPE = "_speakerd._tcp.local."
HTTP_SERVICE_TYPE = "_http._tcp.local."
STATE_FILE = "mdns.json"
MAX_INSTANCE_BYTES = 63
MAX_TXT_BYTES = 200
_IP_VERSIONS = {"v4": IPVersion.V4Only, "v6": IPVersion.V6Only, "both": IPVersion.All,
                "all": IPVersion.All}

NetworkListener = Callable[[list[str], list[str]], None]  # (host names, addresses)
RenameListener = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AnnouncerTuning:
    """What the announcer takes besides `discovery:` in the configuration and the model.

    `host_label` is the mDNS host name (without .local); empty means speakerd-<device id>.
    The address watcher polls every `poll_interval_s` and re-announces after `settle_s`
    of quiet, which coalesces link flaps.
    """

    service_type: str = SERVICE_TYPE
    announce_http: bool = True
    host_label: str = ""
    api_path: str = "/api/v1"
    api_version: str = "1"
    poll_interval_s: float = 1.0
    settle_s: float = 0.5
    max_renames: int = 20


class DiscoveryError(DaemonError):
    """mDNS announcement failed (no usable interface, every name taken, socket error)."""

    code = "discovery"


def instance_name(name: str) -> str:
    """A valid instance name: printable, no dots issue, at most 63 UTF-8 bytes."""
    text = " ".join(name.split()) or "speakerd"
    while len(text.encode()) > MAX_INSTANCE_BYTES:
        text = text[:-1]
    return text


def numbered(name: str, n: int) -> str:
    suffix = f" ({n})"
    base = name
    while len((base + suffix).encode()) > MAX_INSTANCE_BYTES:
        base = base[:-1]
    return base.rstrip() + suffix


def build_txt(device_id: str, pairing_open: bool, *, model: str,
              tuning: AnnouncerTuning | None = None) -> dict[str, str]:
    """Public TXT keys only (spec §7.2): no secrets, no account or Amazon ids."""
    api = tuning or AnnouncerTuning()
    txt = {"v": "1", "id": device_id, "md": model, "path": api.api_path,
           "api": api.api_version, "pair": "1" if pairing_open else "0"}
    size = sum(1 + len(k.encode()) + 1 + len(v.encode()) for k, v in txt.items())
    if size > MAX_TXT_BYTES or any(len(k) > 9 for k in txt):
        raise DiscoveryError("TXT record over its size limit", bytes=size)
    return txt


class Announcer(StartableResource):
    """One AsyncZeroconf instance, its registrations and the address watcher task."""

    def __init__(self, state_dir: Path, clock: Clock, config: DiscoveryConfig, *,
                 model: str, name: str, port: int, device_id: str,
                 tuning: AnnouncerTuning | None = None, http_port: int | None = None,
                 pairing_open: bool = False, on_network: NetworkListener | None = None,
                 on_renamed: RenameListener | None = None) -> None:
        settings = tuning or AnnouncerTuning()
        self._state_dir = state_dir
        self._clock = clock
        self._config = config
        self._model = model
        self._settings = settings
        self._requested = instance_name(name)
        self._port = port
        self._http_port = http_port
        self._device_id = device_id
        self._pairing_open = pairing_open
        #: observers; public so a composition root can attach them after construction
        self.on_network = on_network
        self.on_renamed = on_renamed
        self._host = (settings.host_label or f"speakerd-{device_id}").lower()
        self._zc: AsyncZeroconf | None = None
        self._infos: list[ServiceInfo] = []
        self._addresses: dict[str, list[str]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._background: list[asyncio.Future[object]] = []
        self._lock = asyncio.Lock()
        self._failed: BaseException | None = None
        self._closed = False
        self._starting = False
        self.name = self._requested
        self.registered = False
        self.counters = {"announcements": 0, "conflicts": 0, "address_changes": 0}

    # --- public ------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False once the watcher died or the announcer was closed (watchdog input); True
        while `start()` is still probing."""
        if self._closed or self._failed is not None:
            return False
        if self._watcher is None:
            return self._starting
        return not self._watcher.done()

    @property
    def host_name(self) -> str:
        return f"{self._host}.local."

    @property
    def addresses(self) -> list[str]:
        return flat(self._addresses)

    def metrics(self) -> dict[str, float]:
        return {"speakerd_mdns_registered": 1.0 if self.registered else 0.0,
                "speakerd_mdns_healthy": 1.0 if self.healthy else 0.0,
                "speakerd_mdns_announcements_total": self.counters["announcements"],
                "speakerd_mdns_conflicts_total": self.counters["conflicts"],
                "speakerd_mdns_address_changes_total": self.counters["address_changes"]}

    async def start(self) -> None:
        if self._watcher is not None or self._closed or self._starting:
            raise DiscoveryError("announcer already started")
        self._starting = True
        try:
            await self._start()
        finally:
            self._starting = False

    async def _start(self) -> None:
        await asyncio.to_thread(ensure_private_dir, self._state_dir)
        self.name = await asyncio.to_thread(self._remembered_name)
        self._addresses = await asyncio.to_thread(self._scan)
        async with self._lock:
            if self.addresses:
                await self._register()
            else:
                log.warning("mdns.no_address waiting for an interface address")
        self._notify_network()
        self._watcher = asyncio.create_task(self._watch(), name="mdns-watcher")

    async def set_pairing_open(self, is_open: bool) -> None:
        """Update the `pair` TXT key (announced as changed rdata)."""
        if is_open == self._pairing_open:
            return
        self._pairing_open = is_open
        async with self._lock:
            if self.registered:
                await self._update_records()

    async def rename(self, name: str) -> None:
        """The user renamed the device: drop the old instance and register the new name."""
        self._requested = instance_name(name)
        async with self._lock:
            self.name = self._requested
            if self.registered:
                await self._unregister()
                await self._register()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        async with self._lock:
            await self._shutdown_zeroconf()


    # --- name persistence -----------------------------------------------------------------

    def _remembered_name(self) -> str:
        record = read_json(self._state_dir / STATE_FILE) or {}
        if record.get("requested") == self._requested and isinstance(record.get("name"), str):
            return instance_name(record["name"])
        return self._requested

    def _remember_name(self) -> None:
        write_json(self._state_dir / STATE_FILE, {"requested": self._requested, "name": self.name})

    # --- zeroconf --------------------------------------------------------------------

    def _scan(self) -> dict[str, list[str]]:
        return current_addresses(self._config.interfaces, self._config.ip_version)

    def _infos_for(self, name: str) -> list[ServiceInfo]:
        txt = build_txt(self._device_id, self._pairing_open, model=self._model,
                        tuning=self._settings)
        addresses = [a.split("%", 1)[0] for a in self.addresses]
        infos = [ServiceInfo(self._settings.service_type,
                             f"{name}.{self._settings.service_type}", port=self._port,
                             properties=txt, server=self.host_name, parsed_addresses=addresses)]
        if self._settings.announce_http:
            infos.append(ServiceInfo(HTTP_SERVICE_TYPE, f"{name}.{HTTP_SERVICE_TYPE}",
                                     port=self._http_port or self._port,
                                     properties={"path": "/"}, server=self.host_name,
                                     parsed_addresses=addresses))
        return infos

    async def _ensure_zeroconf(self) -> AsyncZeroconf:
        if self._zc is None:
            interfaces = [a.split("%", 1)[0] for a in self.addresses]
            try:
                self._zc = AsyncZeroconf(interfaces=interfaces,
                                         ip_version=_IP_VERSIONS[self._config.ip_version])
            except (OSError, ValueError) as exc:
                raise DiscoveryError(f"cannot open mDNS sockets: {exc}") from None
        return self._zc

    async def _register(self) -> None:
        zc = await self._ensure_zeroconf()
        base = self._requested
        candidates = [self.name] + [numbered(base, n)
                                    for n in range(2, self._settings.max_renames + 2)
                                    if numbered(base, n) != self.name]
        previous = self.name
        for candidate in candidates[: self._settings.max_renames]:
            infos = self._infos_for(candidate)
            # both services probe in parallel; each call returns once its probing is done,
            # handing back a task that finishes the announcements in the background
            results = await asyncio.gather(
                *(zc.async_register_service(info, allow_name_change=False) for info in infos),
                return_exceptions=True)
            announcing = [r for r in results if not isinstance(r, BaseException)]
            self._background.extend(asyncio.ensure_future(r) for r in announcing)
            errors = [r for r in results if isinstance(r, BaseException)]
            if any(isinstance(e, NonUniqueNameException) for e in errors):
                self.counters["conflicts"] += 1
                for info, result in zip(infos, results, strict=True):
                    if not isinstance(result, BaseException):  # drop the half-registered one
                        with contextlib.suppress(Exception):
                            await (await zc.async_unregister_service(info))
                log.info(f"mdns.name_conflict name={candidate!r}")
                continue
            if errors:
                raise DiscoveryError(f"mDNS registration failed: {type(errors[0]).__name__}:"
                                     f" {errors[0]}") from None
            self._infos = infos
            self.registered = True
            self.counters["announcements"] += 1
            renamed = candidate != previous
            self.name = candidate
            await asyncio.to_thread(self._remember_name)
            log.info(f"mdns.registered name={candidate!r} host={self.host_name}"
                     f" addresses={','.join(self.addresses)}")
            if renamed and self.on_renamed is not None:
                self.on_renamed(candidate)
            return
        raise DiscoveryError("every candidate mDNS name is taken", name=base)

    async def _update_records(self) -> None:
        zc = await self._ensure_zeroconf()
        infos = self._infos_for(self.name)
        for info in infos:
            await (await zc.async_update_service(info))
        self._infos = infos
        self.counters["announcements"] += 1

    async def _unregister(self) -> None:
        zc = self._zc
        infos, self._infos = self._infos, []
        self.registered = False
        if zc is None:
            return
        # awaiting the returned tasks is what actually sends the goodbyes (TTL 0); all
        # services at once, so peers see the removal as early as possible
        tasks = []
        for info in infos:
            with contextlib.suppress(Exception):
                tasks.append(await zc.async_unregister_service(info))
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _shutdown_zeroconf(self) -> None:
        background, self._background = self._background, []
        for fut in background:
            fut.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self._unregister()
        zc, self._zc = self._zc, None
        if zc is not None:
            with contextlib.suppress(Exception):
                await zc.async_close()

    # --- address watcher ---------------------------------------------------------------

    def _notify_network(self) -> None:
        if self.on_network is not None:
            self.on_network([self._host, socket.gethostname()], self.addresses)

    async def _watch(self) -> None:
        try:
            while True:
                await self._clock.sleep(self._settings.poll_interval_s)
                seen = await asyncio.to_thread(self._scan)
                if seen == self._addresses:
                    continue
                # settle: a handover flaps several times within a second or two
                await self._clock.sleep(self._settings.settle_s)
                seen = await asyncio.to_thread(self._scan)
                if seen != self._addresses:
                    await self._apply(seen)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failed = exc
            log.error(f"mdns.watcher_failed error={type(exc).__name__}: {exc}")
            raise

    async def _apply(self, seen: dict[str, list[str]]) -> None:
        async with self._lock:
            old = self.addresses
            self._addresses = seen
            self.counters["address_changes"] += 1
            log.info(f"mdns.address_change old={','.join(old)} new={','.join(self.addresses)}")
            self._notify_network()
            if not self.addresses:
                await self._shutdown_zeroconf()
                return
            if self._zc is None or not self.registered:
                await self._shutdown_zeroconf()
                await self._register()
                return
            try:
                interfaces = [a.split("%", 1)[0] for a in self.addresses]
                await self._zc.async_update_interfaces(interfaces=interfaces)
                await self._update_records()
            except (OSError, ValueError, RuntimeError) as exc:
                log.warning(f"mdns.update_failed error={type(exc).__name__}; re-registering")
                await self._shutdown_zeroconf()
                await self._register()

