"""The front door (spec §3): Host and Origin allowlists, rate limits, connection guard.

aiohttp checks neither Host nor Origin, so DNS rebinding and CSRF are stopped here, before
any route runs. The connection guard sits under aiohttp's protocol and closes sockets that
do not finish their first request head in time (slow-loris) or exceed connection caps.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from daemon.core.clock import Clock


def split_host(value: str) -> tuple[str, int | None] | None:
    """('name', port) from a Host header value; None when malformed."""
    value = value.strip().lower()
    if not value or any(c.isspace() or c in "/?#@\\" for c in value):
        return None
    host, port_text = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif value.count(":") > 1:
        return None  # bare IPv6 without brackets is not a valid Host
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        return host.rstrip("."), int(port_text)
    return host.rstrip("."), None


def host_literal(address: str) -> str:
    """How an address appears in a Host header (IPv6 bracketed, scope dropped)."""
    address = address.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.lower()
    return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed


class HostPolicy:
    """Which Host values and Origins address this device; updated on rename/address change."""

    def __init__(self, ports: Iterable[int] = (), extra_hosts: Iterable[str] = (),
                 extra_origins: Iterable[str] = ()) -> None:
        self._ports: set[int] = set(ports)
        self._extra_hosts = {h.lower() for h in extra_hosts}
        self._extra_origins = {o.lower().rstrip("/") for o in extra_origins}
        self._names: set[str] = set()
        self._addresses: set[str] = set()
        self.update(names=(), addresses=())

    def set_ports(self, ports: Iterable[int]) -> None:
        self._ports = set(ports)

    def update(self, *, names: Iterable[str] | None = None,
               addresses: Iterable[str] | None = None) -> None:
        """names: mDNS host names (with or without .local); addresses: IP literals."""
        if names is not None:
            found = set()
            for raw in names:
                name = raw.lower().rstrip(".")
                if name:
                    found.add(name if name.endswith(".local") else f"{name}.local")
            self._names = found
        if addresses is not None:
            self._addresses = {host_literal(a) for a in addresses}

    @property
    def hosts(self) -> frozenset[str]:
        fixed = {"localhost", "127.0.0.1", "[::1]"}
        return frozenset(fixed | self._names | self._addresses | self._extra_hosts)

    def host_allowed(self, header: str | None) -> bool:
        if not header:
            return False
        parsed = split_host(header)
        if parsed is None:
            return False
        host, port = parsed
        if port is not None and port not in self._ports:
            return False
        return host in self.hosts

    def origin_allowed(self, origin: str) -> bool:
        """Origins of the device itself over https (any of its hosts, api ports) or extras."""
        origin = origin.strip().lower().rstrip("/")
        if origin in self._extra_origins:
            return True
        if origin == "null":
            return False
        parts = urlsplit(origin)
        if parts.scheme != "https" or parts.path or parts.query or parts.username:
            return False
        try:
            port = parts.port
        except ValueError:
            return False
        host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
        if port is not None and port not in self._ports:
            return False
        return host in self.hosts


class RateLimiter:
    """Token buckets per key (source IP); bounded table so a flood of sources cannot grow it."""

    def __init__(self, clock: Clock, rate: float, burst: float, max_keys: int = 4096) -> None:
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self._clock.monotonic()
        tokens, last = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        ok = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return ok


@dataclass(slots=True)
class ConnectionStats:
    open: int = 0
    refused: int = 0
    header_timeouts: int = 0
    shed: int = 0


class ConnectionGuard:
    """Wraps aiohttp's protocol factory: connection caps and a per-request-head deadline.

    aiohttp has a keep-alive timeout but no header-read timeout, so a socket that dribbles a
    request head forever would be held open; this closes it when any request head (the
    first or a later keep-alive one) takes longer than `header_timeout_s`.

    Caps without lockout: a connection on which a paired phone's token was accepted is
    *trusted* (`trust(transport)`) and is never shed. When a new connection would exceed
    the total or its address's cap, the oldest untrusted connection (of that address, for
    the per-address cap) is closed to make room; only when every counted connection is
    trusted is the new one refused. So held or reconnecting unauthenticated sockets churn
    among themselves, and a paired phone, or the phone's own app beside it, always gets in.
    """

    def __init__(self, factory: Callable[[], asyncio.Protocol], header_timeout_s: float,
                 max_total: int, max_per_ip: int) -> None:
        self._factory = factory
        self._timeout = header_timeout_s
        self._max_total = max_total
        self._max_per_ip = max_per_ip
        self._per_ip: dict[str, int] = {}
        #: untrusted connections, oldest first (the shedding order)
        self._untrusted: OrderedDict[_Guarded, None] = OrderedDict()
        self._by_transport: dict[asyncio.BaseTransport, _Guarded] = {}
        self.stats = ConnectionStats()

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self._factory())

    def trust(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection carried an authenticated request: exempt it from shedding."""
        conn = self._by_transport.get(transport) if transport is not None else None
        if conn is not None:
            self._untrusted.pop(conn, None)

    def _victim(self, ip: str | None) -> _Guarded | None:
        for conn in self._untrusted:
            if ip is None or conn._ip == ip:
                return conn
        return None

    def _admit(self, conn: _Guarded, ip: str, transport: asyncio.BaseTransport) -> bool:
        for over, scope in ((self._per_ip.get(ip, 0) >= self._max_per_ip, ip),
                            (self.stats.open >= self._max_total, None)):
            if not over:
                continue
            victim = self._victim(scope)
            if victim is None:
                self.stats.refused += 1
                return False
            self.stats.shed += 1
            victim._shed()
        self.stats.open += 1
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        self._untrusted[conn] = None
        self._by_transport[transport] = conn
        return True

    def _release(self, conn: _Guarded, ip: str, transport: asyncio.BaseTransport | None) -> None:
        self.stats.open -= 1
        self._untrusted.pop(conn, None)
        if transport is not None:
            self._by_transport.pop(transport, None)
        left = self._per_ip.get(ip, 1) - 1
        if left:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)


class _Guarded(asyncio.Protocol):
    """Times every request head on the connection, not only the first.

    It follows the byte stream just far enough to know where each head starts: after a
    head, `Content-Length` bytes (or a chunked body up to its last chunk) are body; the
    next byte starts a new head, which must end within the header timeout. An upgrade
    (the event WebSocket) ends the tracking: frames are no HTTP heads.
    """

    _HEAD_LIMIT = 16 * 1024
    _CHUNK_END = b"\r\n0\r\n\r\n"

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._ip: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head = b""
        self._body_left = 0
        self._chunked_tail: bytes | None = None  # in a chunked body: its last bytes
        self._tracking = True
        self._released = False  # shed: counted out, but aiohttp still sees connection_lost
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer: Any = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self._transport = transport
        self._ip = ip
        if not self._guard._admit(self, ip, transport):
            self._ip = None
            transport.close()
            return
        self._arm()
        self._inner.connection_made(transport)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard._timeout, self._expired)

    def _expired(self) -> None:
        self._timer = None
        self._guard.stats.header_timeouts += 1
        if self._transport is not None:
            self._transport.close()

    def _track(self, data: bytes) -> None:
        pos = 0
        while pos < len(data) and self._tracking:
            if self._body_left:
                take = min(self._body_left, len(data) - pos)
                self._body_left -= take
                pos += take
                continue
            if self._chunked_tail is not None:
                window = self._chunked_tail + data[pos:]
                end = window.find(self._CHUNK_END)
                if end < 0:
                    self._chunked_tail = window[-len(self._CHUNK_END):]
                    return
                pos += end + len(self._CHUNK_END) - len(self._chunked_tail)
                self._chunked_tail = None
                continue
            if self._timer is None:
                if not self._head and data[pos:pos + 2] == b"\r\n":
                    pos += 2  # a stray CRLF between requests is allowed (RFC 9112 §2.2)
                    continue
                self._arm()  # the first byte of a new head
            old = len(self._head)
            self._head = (self._head + data[pos:])[: self._HEAD_LIMIT + 4]
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return  # aiohttp refuses a head over its own limits
            pos += end + 4 - old
            self._head_done(self._head[:end].lower())
            self._head = b""

    def _head_done(self, head: bytes) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip()] = value.strip()
        if b"upgrade" in fields or head.startswith(b"connect "):
            self._tracking = False
        elif b"chunked" in fields.get(b"transfer-encoding", b""):
            self._chunked_tail = b"\r\n"  # lets a first chunk of size 0 end the body
        else:
            length = fields.get(b"content-length", b"0")
            self._body_left = int(length) if length.isdigit() else 0

    def data_received(self, data: bytes) -> None:
        if self._ip is None:
            return
        if self._tracking:
            self._track(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._ip is not None else None

    def _shed(self) -> None:
        """Closed to make room: counted out now, so the new connection fits at once."""
        if self._ip is not None:
            self._guard._release(self, self._ip, self._transport)
            self._ip = None
            self._released = True
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._released:
            self._released = False
            self._inner.connection_lost(exc)
            return
        if self._ip is None:
            return
        self._guard._release(self, self._ip, self._transport)
        self._ip = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
