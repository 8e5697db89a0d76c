"""ControlServer: the HTTPS control API with its security middleware and lifecycle.

`start()` loads (or creates) the device identity, binds the HTTPS listener (and the optional
plain one, which serves only info, health, pairing and a redirect) and returns when both
listen. `aclose()` closes the event sockets, the listeners and the pairing timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ifaddr
from aiohttp import hdrs, web

from daemon.control.api import PHONE, Api, HealthSource
from daemon.control.apierror import HTTP_CODES, ApiError, error_response
from daemon.control.cookie import cookie_token
from daemon.control.frontdoor import ConnectionGuard, HostPolicy, RateLimiter
from daemon.control.identity import DeviceIdentity, SecretStore, aload_or_create_identity
from daemon.control.limits import ControlLimits
from daemon.control.local import LocalAdmin
from daemon.control.metrics import LatencyHistogram, MetricSource
from daemon.control.pairing import PairingWindow
from daemon.control.phones import Phone, PhoneRegistry
from daemon.control.services import Browser, DeviceSettings, SignIn
from daemon.control.webapp import WebApp, add_security_headers, load_static
from daemon.control.wire import quiet_protocols
from daemon.control.wsevents import EventHubWs
from daemon.core.clock import Clock
from daemon.core.config import ControlConfig
from daemon.core.errors import ControlError
from daemon.core.redact import Secret
from daemon.core.resource import StartableResource
from daemon.playback.commands import PlayerCommands
from daemon.state.files import ensure_private_dir

log = logging.getLogger("daemon.control")

#: the transport of the event socket being served (its auth message runs in that task)
_WS_TRANSPORT: contextvars.ContextVar[asyncio.BaseTransport | None] = contextvars.ContextVar(
    "speakerd_ws_transport", default=None)


def local_addresses() -> list[str]:
    """Every IP address of this host's interfaces (getifaddrs; sub-millisecond)."""
    found = []
    for adapter in ifaddr.get_adapters():
        for entry in adapter.ips:
            found.append(str(entry.ip[0] if isinstance(entry.ip, tuple) else entry.ip))
    return found

#: the display hook: a device with a screen shows the code there. The setup code is never
#: written to the log or the journal; without a hook only the local socket's caller
#: (`speakerd pair --open`) receives it.
CodeDisplay = Callable[[Secret], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlServer(StartableResource):
    """The LAN control API. Construct, `await start()`, later `await aclose()`."""

    def __init__(self, state_dir: Path, clock: Clock, config: ControlConfig, *, model: str,
                 limits: ControlLimits | None = None,
                 store: SecretStore, player: PlayerCommands, device: DeviceSettings,
                 browser: Browser | None = None, signin: SignIn | None = None,
                 version: str = "0", health_sources: Sequence[HealthSource] = (),
                 metric_sources: Sequence[MetricSource] = (),
                 code_display: CodeDisplay | None = None) -> None:
        self._state_dir = state_dir
        self._clock = clock
        settings = limits or ControlLimits()
        self.config = config
        self.model = model
        self.limits = settings
        self._store = store
        self.player = player
        self.device = device
        self.browser = browser
        self.signin = signin
        self.version = version
        self.health_sources = list(health_sources)
        self.metric_sources = list(metric_sources)
        self._code_display = code_display
        self.phones = PhoneRegistry(state_dir, clock, settings.max_phones)
        self.pairing = PairingWindow(settings, clock, self._on_pairing_change,
                                     static_code=config.setup_code)
        self.hosts = HostPolicy(extra_hosts=settings.extra_hosts,
                                extra_origins=settings.extra_origins)
        self.latency = LatencyHistogram()
        self.counters: dict[str, float] = {}
        self._rate = RateLimiter(clock, settings.request_rate_per_second, settings.request_burst)
        self._pair_rate = RateLimiter(clock, settings.pair_rate_per_minute / 60.0,
                                      settings.pair_rate_per_minute)
        self._identity: DeviceIdentity | None = None
        self._runner: web.AppRunner | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._guard: ConnectionGuard | None = None
        self.https_port = 0
        self.http_port: int | None = None
        self.events = EventHubWs(
            clock, verify=self._verify_ws, snapshot=self._ws_snapshot,
            player_events=self.player.subscribe,
            max_message_bytes=settings.max_ws_message_bytes,
            auth_timeout_s=settings.ws_auth_timeout_s, heartbeat_s=settings.ws_heartbeat_s)
        self._api = Api(self)
        self.web = WebApp({})
        #: in-process observers of every published event (the composition root ties e.g.
        #: a device rename to Announcer.rename, pairing changes to set_pairing_open)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.local_admin = LocalAdmin(state_dir, self.open_pairing, self.pairing.status)
        self._started = False
        self._closed = False

    # --- public surface ----------------------------------------------------------------

    @property
    def identity(self) -> DeviceIdentity:
        if self._identity is None:
            raise ControlError("control server not started")
        return self._identity

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    @property
    def connection_stats(self) -> dict[str, int]:
        stats = self._guard.stats if self._guard else None
        return {"open": stats.open if stats else 0, "refused": stats.refused if stats else 0,
                "header_timeouts": stats.header_timeouts if stats else 0,
                "shed": stats.shed if stats else 0}

    def open_pairing(self) -> Secret:
        """Open a pairing window (`speakerd pair --open`); returns the code to show."""
        code = self.pairing.open()
        if self._code_display is not None:
            self._code_display(code)
        return code

    def update_network(self, *, names: Iterable[str] | None = None,
                       addresses: Iterable[str] | None = None) -> None:
        """Called on rename / address change so the Host allowlist follows the device.

        The device's own interface addresses are always included (the API listens on
        them even when mDNS announces on fewer interfaces)."""
        own = set(local_addresses())
        self.hosts.update(names=names, addresses=own | set(addresses or ()))

    def publish(self, type_: str, data: dict[str, Any]) -> None:
        """Push a control-side event (sign-in state, rename, ...) to every event socket."""
        self.events.publish(type_, data)
        for listener in list(self.listeners):
            try:
                listener(type_, data)
            except Exception as exc:  # an observer must not break the API
                log.error(f"control.listener_failed type={type_} error={type(exc).__name__}")

    async def revoke(self, phone_id: str) -> bool:
        if not await self.phones.arevoke(phone_id):
            return False
        await self.events.disconnect_phone(phone_id)
        self.publish("pairing", {"change": "revoked", "phone": phone_id})
        return True

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise ControlError("control server already started")
        self._started = True
        await asyncio.to_thread(ensure_private_dir, self._state_dir)
        # first, so a second daemon on the same state directory stops before binding
        await self.local_admin.start()
        self._identity, created = await aload_or_create_identity(self._store, self._clock.time())
        await asyncio.to_thread(self.phones.load)
        ssl_ctx = self.identity.ssl_context(self._state_dir)
        app = web.Application(client_max_size=self.limits.max_body_bytes,
                              middlewares=[self._errors_mw, self._front_door_mw])
        self._api.add_routes(app)
        app.router.add_get(f"{self.limits.api_path}/events", self._events_route)
        self.web = WebApp(await asyncio.to_thread(load_static))
        self.web.add_routes(app)
        app.on_response_prepare.append(self._security_headers)
        runner = web.AppRunner(app, access_log=None,
                               keepalive_timeout=self.limits.keepalive_timeout_s,
                               max_field_size=8190, max_line_size=8190)
        await runner.setup()
        self._runner = runner
        assert runner.server is not None
        protocols = quiet_protocols(
            runner.server, lambda: self._count("speakerd_http_bad_request_total"))
        guard = ConnectionGuard(protocols, self.limits.header_timeout_s,
                                self.limits.max_connections,
                                self.limits.max_connections_per_ip)
        self._guard = guard
        try:
            self.https_port = await self._listen(guard, self.config.port, ssl_ctx)
            if self.limits.http_port is not None:
                self.http_port = await self._listen(guard, self.limits.http_port, None)
        except OSError as exc:
            await self.aclose()
            raise ControlError(f"cannot listen: {exc.strerror}") from None
        self.update_network(names=[socket.gethostname(), *self.limits.local_names])
        ports = {self.https_port} | ({self.http_port} if self.http_port else set())
        self.hosts.set_ports(ports)
        self.web.https_port = self.https_port
        log.info(f"control.listening https_port={self.https_port} http_port={self.http_port}"
                 f" fingerprint={self.identity.fingerprint[:16]} created={created}")
        if self.limits.open_pairing_when_unpaired and len(self.phones) == 0:
            self.open_pairing()

    async def _listen(self, guard: ConnectionGuard, port: int, ssl_ctx: Any) -> int:
        loop = asyncio.get_running_loop()
        bound = port
        for host in self.limits.bind:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            server = await loop.create_server(
                guard, host=host, port=bound, family=family, ssl=ssl_ctx,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout_s if ssl_ctx else None,
                reuse_address=True, backlog=128)
            self._servers.append(server)
            if bound == 0:
                bound = int(server.sockets[0].getsockname()[1])
        return bound

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.events.aclose()
        await self.pairing.aclose()
        await self.local_admin.aclose()
        for server in self._servers:
            server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()


    # --- events ------------------------------------------------------------------------

    def _on_pairing_change(self, status: dict[str, Any]) -> None:
        self.publish("pairing", {"change": "window", **status})

    def _ws_snapshot(self) -> dict[str, Any]:
        return {"player": self.player.snapshot(), "device": self._api.info_body(),
                "signin": self.signin.state() if self.signin else None}

    async def _events_route(self, request: web.Request) -> web.StreamResponse:
        _WS_TRANSPORT.set(request.transport)  # the socket's auth message runs in this task
        token = cookie_token(request)
        return await self.events.handle(
            request, phone=self._verify_ws(token) if token else None)

    @staticmethod
    async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
        add_security_headers(response)

    def _verify_ws(self, token: str) -> Phone | None:
        phone = self.phones.verify(token)
        if phone is not None and self._guard is not None:
            self._guard.trust(_WS_TRANSPORT.get())
        return phone

    # --- middleware --------------------------------------------------------------------

    def is_public(self, request: web.Request) -> bool:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else ""
        return path in self._api.public_paths or path in self.web.paths

    @web.middleware
    async def _errors_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = self._clock.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.status
            return error_response(exc.status, exc.api_code, exc.message, exc.headers)
        except web.HTTPException as exc:
            status = exc.status
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k in (hdrs.ALLOW,)}
            code = HTTP_CODES.get(exc.status, "http_error")
            return error_response(exc.status, code, exc.reason, headers)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            log.error(f"control.internal_error route={self._route_name(request)}"
                      f" error={type(exc).__name__}")
            return error_response(500, "internal", "internal error")
        finally:
            self.latency.observe(self._route_name(request), status,
                                 self._clock.monotonic() - started)

    @staticmethod
    def _route_name(request: web.Request) -> str:
        resource = request.match_info.route.resource
        return resource.canonical if resource is not None else "unmatched"

    @web.middleware
    async def _front_door_mw(self, request: web.Request,
                             handler: Handler) -> web.StreamResponse:
        if not self.hosts.host_allowed(request.headers.get(hdrs.HOST)) \
                or not self._target_allowed(request.raw_path):
            self._count("speakerd_http_refused_host_total")
            raise ApiError(421, "misdirected_request", "request is not addressed to this device")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and not self.hosts.origin_allowed(origin):
            self._count("speakerd_http_refused_origin_total")
            raise ApiError(403, "origin_not_allowed", "cross-origin requests are not allowed")
        ip = request.remote or "?"
        if not self._rate.allow(ip):
            raise ApiError(429, "rate_limited", "too many requests", {"Retry-After": "1"})
        matched = request.match_info.http_exception is None
        public = matched and self.is_public(request)
        transport = request.transport
        # the plain listener: device info, health and pairing only; all else -> https
        if transport is not None and transport.get_extra_info("sslcontext") is None \
                and not public:
                location = request.url.with_scheme("https").with_port(self.https_port)
                raise web.HTTPPermanentRedirect(location=str(location))
        if matched and request.path.startswith(f"{self.limits.api_path}/pair/") and \
                not self._pair_rate.allow(ip):
            raise ApiError(429, "rate_limited", "too many pairing requests", {"Retry-After": "2"})
        if request.body_exists:
            length = request.content_length
            if length is not None and length > self.limits.max_body_bytes:
                raise ApiError(413, "body_too_large", "request body over the size limit")
            if request.content_type != "application/json":
                raise ApiError(415, "unsupported_media_type", "request bodies must be JSON")
        if matched and not public and not self._is_ws_upgrade(request):
            phone = self._authenticate(request)
            if phone is None:
                self._count("speakerd_http_unauthorized_total")
                raise ApiError(401, "unauthorized", "a valid token is required",
                               {"WWW-Authenticate": 'Bearer realm="speakerd"'})
            request[PHONE] = phone
            if self._guard is not None:
                self._guard.trust(request.transport)  # a paired phone's socket is not shed
        return await handler(request)

    def _target_allowed(self, target: str) -> bool:
        """An absolute-form target (`GET http://host/path`) must name this device too:
        routing ignores its authority, so a foreign one would pass the Host check."""
        if target.startswith("/"):
            return True
        parts = urlsplit(target)
        return (parts.scheme.lower() in ("http", "https") and not parts.username
                and self.hosts.host_allowed(parts.netloc))

    def _is_ws_upgrade(self, request: web.Request) -> bool:
        return (request.path == f"{self.limits.api_path}/events"
                and request.headers.get(hdrs.UPGRADE, "").lower() == "websocket")

    def _authenticate(self, request: web.Request) -> Phone | None:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if header is None:  # the web app: the HttpOnly cookie instead of the header
            from_cookie = cookie_token(request)
            return self.phones.verify(from_cookie) if from_cookie else None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not 0 < len(token) <= 256:
            return None
        return self.phones.verify(token.strip())

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1
