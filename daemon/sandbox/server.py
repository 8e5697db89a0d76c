"""The sandbox server: one aiohttp application on one loopback port for every service.

`Sandbox(config, clock)` is an async context manager; `await start()` returns once content
is ready (generated or validated off the event loop) and the port is bound; `base_url`,
`lwa_client_id`, `ca_path` (with TLS) and idempotent `aclose()`.

Routes: LWA `POST /auth/o2/create/codepair`, `POST /auth/o2/token`, `GET|POST /code`;
Music `/` and `[<salt>]/catalog/...` documents, `/search/`, `/flat_search/`,
`/availability/`, `/images/<id>._SX<w>_SY<h>_.<ext>`, `/dash/<track>.mpd?t=`,
`/media/<token>/<resource>`, `POST /drm/widevine/<track>?t=`, `POST /drm/clearkey/<track>`,
`POST /events/<instance>`, `POST /playback/resume`; Audible (daemon.sandbox.audible).
Hooks (admin_enabled only): `/_sandbox/lwa/{approve,deny,revoke,settings,expire-tokens,
pairs}`, `/_sandbox/music/{events,settings,compete,expire-manifests,redirect}`,
`/_sandbox/faults` (GET list, POST add / {"seed": n}, DELETE clear), `/_sandbox/audible/...`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from daemon.core.clock import Clock, SystemClock
from daemon.core.resource import StartableResource
from daemon.sandbox.amazon.lwa import LwaService
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.faults import FaultInjector
from daemon.sandbox.web import HttpProblem, json_response

log = logging.getLogger("daemon.sandbox")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON answer; the sandbox never crashes on a request."""
    try:
        return await handler(request)
    except HttpProblem as problem:
        return problem.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"no such resource: {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} not allowed on {request.path}"
        elif exc.status == 413:
            message = "request body too large"
        else:
            message = exc.reason
        return json_response({"message": message}, status=exc.status)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("sandbox.handler_failed path=%s", request.path)
        return json_response({"message": "internal sandbox error"}, status=500)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sandbox(StartableResource):
    """The local emulator of Amazon Music, LWA, the licence servers and Audible."""

    def __init__(self, config: SandboxConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock: Clock = clock or SystemClock()
        self.lwa = LwaService(self.config, self.clock)
        self.faults = FaultInjector(self.config.faults, self.config.seed, self.clock)
        self._services: list[Any] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closed = False
        self.ca_path: Path | None = None
        self.app = self._make_app()

    # -- public API ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the sandbox is not started: await start() first")
        return self._base_url

    @property
    def lwa_client_id(self) -> str:
        """The allowed LWA client id the daemon must use against this sandbox."""
        return self.config.client_ids[0]

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("this sandbox was closed; create a new one")
        if self._runner is not None:
            return
        for service in self._services:
            prepare = getattr(service, "prepare", None)
            if prepare is not None:
                await prepare()
        if not is_loopback(self.config.host):
            log.warning(
                "sandbox.not_loopback host=%s: the sandbox has no real security and is "
                "now reachable from the network", self.config.host)
        ssl_context = self._ssl_context() if self.config.tls else None
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        port = _bound_port(runner)
        scheme = "https" if ssl_context else "http"
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        self._base_url = f"{scheme}://{shown}:{port}"
        for service in self._services:
            bound = getattr(service, "bound", None)
            if bound is not None:
                bound(self._base_url)
        log.info("sandbox.started base_url=%s", self._base_url)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for service in reversed(self._services):
            close = getattr(service, "aclose", None)
            if close is not None:
                await close()


    # -- composition --------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[_error_middleware, self.faults.middleware],
            client_max_size=self.config.max_body_bytes,
        )
        admin = self.config.admin_enabled
        self.lwa.add_routes(app, admin=admin)
        from daemon.sandbox.amazon.music import MusicService

        music = MusicService(self.config, self.clock, self.lwa, self.faults)
        music.add_routes(app, admin=admin)
        self._services.append(music)
        self.music = music
        if admin:
            self.faults.add_routes(app)
        self._mount_audible(app)
        return app

    def _mount_audible(self, app: web.Application) -> None:
        try:
            from daemon.sandbox.audible import AudibleSandboxSettings, setup_audible
        except ImportError as exc:
            log.info("sandbox.audible_unavailable reason=%s", exc)
            return
        settings = AudibleSandboxSettings(
            registrations_path=self.config.resolved_data_dir / "audible" / "registrations.json"
        )
        setup_audible(app, settings, self.clock, self.config.admin_enabled)

    def _ssl_context(self) -> ssl.SSLContext:
        from daemon.sandbox.tls import server_context

        context, ca_path = server_context(self.config.resolved_data_dir / "tls", self.config.host)
        self.ca_path = ca_path
        return context


def _bound_port(runner: web.AppRunner) -> int:
    server = runner.server
    for site in runner.sites:
        srv = getattr(site, "_server", None)
        if srv is not None and srv.sockets:
            return int(srv.sockets[0].getsockname()[1])
    raise RuntimeError(f"sandbox socket not bound ({server!r})")
