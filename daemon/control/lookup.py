"""Finding speakers from the reference client: mDNS browse and `.local` resolution.

`discover()` lists the `_speakerd._tcp` services answering on the LAN; `resolve()` turns a
`NAME.local` host name or a speaker's instance name into an address when the system's
resolver cannot (no nss-mdns, containers). Both use python-zeroconf, imported only when
called; every failure is a `RemoteError` with one sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from daemon.control.client import RemoteError

#: the announcer's type (daemon.discovery.announcer.SERVICE_TYPE; a test keeps them equal)
SERVICE_TYPE = "_speakerd._tcp.local."


@dataclass(frozen=True, slots=True)
class Found:
    name: str
    host: str
    addresses: tuple[str, ...]
    port: int
    properties: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "addresses": list(self.addresses),
                "port": self.port, "txt": self.properties}


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def system_resolves(host: str) -> bool:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), 3.0)
    except (OSError, TimeoutError, UnicodeError):
        return False
    return True


def _zeroconf(interfaces: list[str] | None) -> Any:
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf

    if interfaces is None:
        return AsyncZeroconf()
    return AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)


async def discover(listen_s: float = 3.0, *, interfaces: list[str] | None = None) -> list[Found]:
    """Speakers that answer within `listen_s` seconds, sorted by name (`interfaces`:
    addresses to listen on, all by default)."""
    from zeroconf import ServiceStateChange
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

    names: set[str] = set()

    def on_change(zeroconf: Any, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Removed:
            names.add(name)

    try:
        azc = _zeroconf(interfaces)
    except OSError as exc:
        raise RemoteError(f"mDNS is not available here ({exc.strerror or exc})") from None
    try:
        browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
        await asyncio.sleep(listen_s)
        await browser.async_cancel()
        found = []
        for name in sorted(names):
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await info.async_request(azc.zeroconf, 1500):
                continue
            props = {k.decode(errors="replace"): (v or b"").decode(errors="replace")
                     for k, v in info.properties.items()}
            found.append(Found(name.removesuffix("." + SERVICE_TYPE), (info.server or "")
                               .rstrip("."), tuple(info.parsed_scoped_addresses()),
                               int(info.port or 0), props))
        return found
    finally:
        with contextlib.suppress(Exception):
            await azc.async_close()


async def resolve(host: str, wait_s: float = 3.0, *,
                  interfaces: list[str] | None = None) -> str:
    """An address for `host`: itself when it is one or the system resolves it, else mDNS
    (a `.local` host name, then a speaker instance name)."""
    if _is_address(host) or await system_resolves(host):
        return host
    from zeroconf import AddressResolver  # type: ignore[attr-defined]  # public, not in __all__
    from zeroconf.asyncio import AsyncServiceInfo

    try:
        azc = _zeroconf(interfaces)
    except OSError as exc:
        raise RemoteError(f"cannot resolve {host}: mDNS is not available here"
                          f" ({exc.strerror or exc})") from None
    try:
        ms = int(wait_s * 1000)
        if host.endswith(".local"):
            resolver = AddressResolver(host + ".")
            if await resolver.async_request(azc.zeroconf, ms):
                addresses = resolver.parsed_scoped_addresses()
                if addresses:
                    return str(addresses[0])
        info = AsyncServiceInfo(SERVICE_TYPE, f"{host.removesuffix('.local')}.{SERVICE_TYPE}")
        if await info.async_request(azc.zeroconf, ms):
            addresses = info.parsed_scoped_addresses()
            if addresses:
                return str(addresses[0])
    finally:
        with contextlib.suppress(Exception):
            await azc.async_close()
    raise RemoteError(f"cannot find {host}: no such name on this network"
                      " (try `speakerd remote discover`, or give the speaker's address)")
