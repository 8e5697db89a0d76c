"""REST handlers of /api/v1. Each validates its input and answers JSON; errors use ApiError.

The route table (`routes.ROUTES`) is also the source of the OpenAPI document, so the
document, the auth sweep test and the server cannot drift apart. `Api` sees the server only
through `ApiHost`, the part of it the handlers use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from daemon.control import audible_signin, audible_wishlist
from daemon.control.apierror import ApiError, bad_request
from daemon.control.artwork import fill_images, image_side
from daemon.control.cookie import set_token_cookie
from daemon.control.identity import DeviceIdentity
from daemon.control.limits import ControlLimits
from daemon.control.metrics import LatencyHistogram, MetricSource, render
from daemon.control.openapi import build_document
from daemon.control.pairing import PairingRefused, PairingWindow
from daemon.control.pake import b64d, b64e
from daemon.control.phones import Phone, PhoneLimitReached, PhoneRegistry, clean_name
from daemon.control.routes import ROUTES, Route
from daemon.control.services import Browser, DeviceSettings, SignIn
from daemon.control.wsevents import EventHubWs
from daemon.core.errors import DaemonError
from daemon.core.redact import Secret
from daemon.playback.commands import CommandRejected, PlayerCommands, RejectReason, parse_command

log = logging.getLogger("daemon.control")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_QUERY = 512
PHONE: web.RequestKey[Phone] = web.RequestKey("phone", Phone)
HealthSource = Callable[[], tuple[str, bool]]

__all__ = ["PHONE", "ROUTES", "Api", "ApiHost", "HealthSource", "Route", "read_json"]


class ApiHost(Protocol):
    """What the handlers use of the control server."""

    limits: ControlLimits
    model: str
    version: str
    player: PlayerCommands
    device: DeviceSettings
    browser: Browser | None
    signin: SignIn | None
    phones: PhoneRegistry
    pairing: PairingWindow
    health_sources: list[HealthSource]
    metric_sources: list[MetricSource]
    counters: dict[str, float]
    latency: LatencyHistogram
    events: EventHubWs
    https_port: int

    @property
    def identity(self) -> DeviceIdentity: ...

    @property
    def connection_stats(self) -> dict[str, int]: ...

    def open_pairing(self) -> Secret: ...

    def publish(self, type_: str, data: dict[str, Any]) -> None: ...

    async def revoke(self, phone_id: str) -> bool: ...


_REJECT_STATUS = {RejectReason.INVALID_ARGUMENT: 400, RejectReason.UNKNOWN_COMMAND: 400,
                  RejectReason.NOT_SIGNED_IN: 409, RejectReason.UNAVAILABLE: 503,
                  RejectReason.SHUTTING_DOWN: 503}
_SETTINGS_KEYS = {"name": str, "default_quality": str, "output": str}


async def read_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object; 400 naming the problem, 413 over the limit."""
    if not request.body_exists:
        if required:
            raise bad_request("a JSON object body is required")
        return {}
    raw = await request.read()  # client_max_size enforces the limit for chunked bodies
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json",
                       f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") \
            from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "JSON nested too deeply") from None
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise ApiError(400, "malformed_json", "JSON number too long") from None
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object")
    try:  # "\ud800" escapes decode to lone surrogates that nothing downstream can encode
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ApiError(400, "malformed_json", "body holds an invalid unicode escape") from None
    return value


def _ok(data: Any = None, status: int = 200) -> web.Response:
    return web.json_response({"ok": True} if data is None else data, status=status)


class Api:
    """Handlers; state lives in the ApiHost they serve."""

    def __init__(self, server: ApiHost) -> None:
        self._s = server
        base = server.limits.api_path
        self.public_paths = frozenset(base + r.path for r in ROUTES if r.public)

    def add_routes(self, app: web.Application) -> None:
        base = self._s.limits.api_path
        for route in ROUTES:
            handler: Handler = getattr(self, route.name)
            app.router.add_route(route.method, base + route.path, handler, name=route.name)

    # --- public ---------------------------------------------------------------------

    def info_body(self) -> dict[str, Any]:
        s = self._s
        return {"name": str(s.device.get().get("name", "")), "id": s.identity.short_id,
                "model": s.model, "version": s.version, "api": "v1",
                "pairing_open": s.pairing.is_open, "fingerprint": s.identity.fingerprint}

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response(self.info_body())

    async def health(self, request: web.Request) -> web.Response:
        checks: dict[str, bool] = {"control": True}
        for source in self._s.health_sources:
            try:
                name, ok = source()
            except Exception:
                name, ok = "source", False
            checks[name] = bool(ok)
        healthy = all(checks.values())
        return web.json_response({"status": "ok" if healthy else "degraded", "checks": checks},
                                 status=200 if healthy else 503)

    async def pair_start(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        s = self._s
        if len(s.phones) >= s.limits.max_phones:
            raise ApiError(409, "too_many_phones", "the device has the maximum number of phones")
        try:
            session_id, msg_b = await s.pairing.begin(body.get("pake"), request.remote or "?")
        except PairingRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        return web.json_response({"session": session_id, "pake": b64e(msg_b)})

    async def pair_finish(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        s = self._s
        try:
            hello, session = await s.pairing.complete(body.get("session"), body.get("confirm"),
                                                      body.get("hello"))
        except PairingRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        name = clean_name(hello.get("name")) or "phone"
        public_key = hello.get("public_key")
        if public_key is not None:
            try:
                if len(b64d(public_key, max_len=64)) != 32:
                    public_key = None
            except Exception:
                public_key = None
        try:
            phone, token = await s.phones.aadd(name, public_key)
        except PhoneLimitReached:
            s.pairing.close("too_many_phones")
            raise ApiError(409, "too_many_phones", "the device has the maximum number of phones") \
                from None
        s.pairing.succeeded()
        # a browser asks for the cookie: the token then never reaches page scripts
        as_cookie = body.get("cookie") is True
        welcome = session.seal_welcome({
            **({} if as_cookie else {"token": token.reveal()}), "phone_id": phone.id,
            "fingerprint": s.identity.fingerprint, "device_key": b64e(s.identity.public_key),
            "device_id": s.identity.short_id, "https_port": s.https_port})
        s.publish("pairing", {"change": "added", "phone": phone.public()})
        response = web.json_response({"welcome": welcome})
        if as_cookie:
            set_token_cookie(response, token)
        return response

    # --- player ------------------------------------------------------------------------

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(build_document(ROUTES, self._s.limits.api_path,
                                                self._s.version))

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(fill_images(self._s.player.snapshot(), image_side(request)))

    async def _command(self, type_: str, data: dict[str, Any]) -> web.Response:
        try:
            cmd = parse_command(type_, data)
            await self._s.player.submit(cmd)
        except CommandRejected as exc:
            status = _REJECT_STATUS.get(exc.reason, 409)
            code = "invalid_argument" if status == 400 else exc.reason.value
            raise ApiError(status, code, exc.detail + _field(exc)) from None
        except DaemonError as exc:  # a failure below the player: its stable code, not a 500
            raise ApiError(_status_for(exc), exc.code, exc.detail) from None
        return _ok()

    async def _simple(self, request: web.Request, type_: str) -> web.Response:
        body = await read_json(request, required=False)
        if body:
            raise bad_request(f"{type_} takes no fields")
        return await self._command(type_, {})

    async def play(self, request: web.Request) -> web.Response:
        return await self._command("play", await read_json(request))

    async def pause(self, request: web.Request) -> web.Response:
        return await self._simple(request, "pause")

    async def resume(self, request: web.Request) -> web.Response:
        return await self._simple(request, "resume")

    async def stop(self, request: web.Request) -> web.Response:
        return await self._simple(request, "stop")

    async def next(self, request: web.Request) -> web.Response:
        return await self._simple(request, "next")

    async def previous(self, request: web.Request) -> web.Response:
        return await self._simple(request, "previous")

    async def seek(self, request: web.Request) -> web.Response:
        return await self._command("seek", await read_json(request))

    async def volume(self, request: web.Request) -> web.Response:
        return await self._command("set_volume", await read_json(request))

    async def repeat(self, request: web.Request) -> web.Response:
        return await self._command("set_repeat", await read_json(request))

    async def shuffle(self, request: web.Request) -> web.Response:
        return await self._command("set_shuffle", await read_json(request))

    async def queue(self, request: web.Request) -> web.Response:
        return web.json_response(fill_images(self._s.player.snapshot().get("queue"),
                                             image_side(request)))

    async def queue_add(self, request: web.Request) -> web.Response:
        return await self._command("queue_add", await read_json(request))

    async def queue_clear(self, request: web.Request) -> web.Response:
        return await self._simple(request, "queue_clear")

    async def queue_remove(self, request: web.Request) -> web.Response:
        return await self._command("queue_remove", {"item_id": request.match_info["item_id"]})

    async def queue_move(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        return await self._command("queue_move",
                                   {**body, "item_id": request.match_info["item_id"]})

    # --- browse, search, sign-in ---------------------------------------------------------

    def _need(self, what: Any, name: str) -> Any:
        if what is None:
            raise ApiError(503, "unavailable", f"{name} is not available on this device")
        return what

    async def browse(self, request: web.Request) -> web.Response:
        browser = self._need(self._s.browser, "browsing")
        uri = request.query.get("uri", "")
        if len(uri) > MAX_QUERY:
            raise bad_request("uri is too long")
        side = image_side(request)
        return web.json_response(fill_images(await _service(browser.browse(uri)), side))

    async def search(self, request: web.Request) -> web.Response:
        browser = self._need(self._s.browser, "search")
        query = request.query.get("q", "").strip()
        if not query or len(query) > MAX_QUERY:
            raise bad_request("q must be 1-512 characters")
        kinds = tuple(k for k in request.query.get("kinds", "").split(",") if k)
        if len(kinds) > 8 or any(not k.isalpha() or len(k) > 32 for k in kinds):
            raise bad_request("kinds must be a comma-separated list of words")
        side = image_side(request)
        return web.json_response(fill_images(await _service(browser.search(query, kinds)),
                                             side))

    async def signin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._need(self._s.signin, "sign-in").state())

    async def _signin(self, result: Awaitable[dict[str, Any]]) -> web.Response:
        data = await _service(result)
        signin = self._s.signin
        if signin is not None:
            self._s.publish("signin", signin.state())
        return web.json_response(data)

    async def signin_amazon(self, request: web.Request) -> web.Response:
        await read_json(request, required=False)
        return await self._signin(self._need(self._s.signin, "sign-in").start_amazon())

    async def signin_audible(self, request: web.Request) -> web.Response:
        await read_json(request, required=False)
        return await self._signin(self._need(self._s.signin, "sign-in").start_audible())

    async def signin_audible_code(self, request: web.Request) -> web.Response:
        signin = self._need(self._s.signin, "sign-in")
        body = await read_json(request)
        url = body.get("response_url")
        if not isinstance(url, str) or not url.startswith("https://") or len(url) > 8192:
            raise bad_request("response_url must be the https URL the login ended on")
        return await self._signin(signin.submit_audible(url))

    def _form_signin(self) -> audible_signin.FormSignIn:
        steps = getattr(self._need(self._s.signin, "sign-in"), "audible_steps", None)
        if not isinstance(steps, audible_signin.FormSignIn):
            raise ApiError(409, "unavailable", "the Audible form sign-in is not available")
        return steps

    async def signin_audible_form_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._form_signin().state())

    async def signin_audible_form(self, request: web.Request) -> web.Response:
        steps = self._form_signin()
        try:
            email, password, username = audible_signin.parse_start(await read_json(request))
        except DaemonError as exc:
            raise bad_request(exc.detail) from None
        return await self._signin(steps.start(email, password, username))

    async def signin_audible_form_answer(self, request: web.Request) -> web.Response:
        steps = self._form_signin()
        try:
            answer = audible_signin.parse_answer(await read_json(request))
        except DaemonError as exc:
            raise bad_request(exc.detail) from None
        return await self._signin(steps.answer(answer))

    def _shelf(self) -> audible_wishlist.AudibleShelf:
        shelf = getattr(self._s.browser, "audible", None)
        if shelf is None:
            raise ApiError(409, "unavailable", "Audible is not available")
        return shelf  # type: ignore[no-any-return]

    async def audible_wishlist(self, request: web.Request) -> web.Response:
        return web.json_response(await _service(self._shelf().wishlist()))

    async def audible_wishlist_add(self, request: web.Request) -> web.Response:
        shelf = self._shelf()
        asin = audible_wishlist.check_asin((await read_json(request)).get("asin"))
        return web.json_response(await _service(shelf.wishlist_add(asin)))

    async def audible_wishlist_remove(self, request: web.Request) -> web.Response:
        shelf = self._shelf()
        asin = audible_wishlist.check_asin(request.match_info["asin"])
        return web.json_response(await _service(shelf.wishlist_remove(asin)))

    async def audible_search(self, request: web.Request) -> web.Response:
        shelf = self._shelf()
        query = audible_wishlist.check_query(request.query.get("q"))
        return web.json_response(await _service(shelf.search(query)))

    # --- settings and phones ---------------------------------------------------------

    async def settings_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._s.device.get())

    async def settings_patch(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not body:
            raise bad_request("no settings given")
        for key, value in body.items():
            kind = _SETTINGS_KEYS.get(key)
            if kind is None:
                raise ApiError(400, "invalid_setting", f"unknown setting: {key[:40]}")
            if not isinstance(value, kind) or not value or len(value.encode()) > 63:
                raise ApiError(400, "invalid_setting", f"{key} must be 1-63 bytes of text")
        if "name" in body and (clean_name(body["name"]) != body["name"] or "." in body["name"]):
            raise ApiError(400, "invalid_setting",
                           "name must be printable single-spaced text without dots")
        before = self._s.device.get().get("name")
        new = await _service(self._s.device.update(body), code="invalid_setting", status=400)
        if new.get("name") != before:
            self._s.publish("device", {"change": "renamed", "name": new.get("name")})
        return web.json_response(new)

    async def pairings(self, request: web.Request) -> web.Response:
        me = request[PHONE].id
        return web.json_response({"phones": [dict(p.public(), me=p.id == me)
                                             for p in self._s.phones.list()],
                                  "window": self._s.pairing.status()})

    async def pairing_window(self, request: web.Request) -> web.Response:
        await read_json(request, required=False)
        if len(self._s.phones) >= self._s.limits.max_phones:
            raise ApiError(409, "too_many_phones", "the device has the maximum number of phones")
        code = self._s.open_pairing()
        # the requester is an authenticated phone on TLS: it may relay the code (multi-admin)
        return web.json_response({"code": code.reveal(), **self._s.pairing.status()})

    async def pairing_rename(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        name = clean_name(body.get("name"))
        if name is None:
            raise bad_request("name must be 1-64 bytes of printable text")
        phone = await self._s.phones.arename(request.match_info["phone_id"], name)
        if phone is None:
            raise ApiError(404, "no_such_phone", "no paired phone with that id")
        self._s.publish("pairing", {"change": "renamed", "phone": phone.public()})
        return web.json_response(phone.public())

    async def pairing_revoke(self, request: web.Request) -> web.Response:
        if not await self._s.revoke(request.match_info["phone_id"]):
            raise ApiError(404, "no_such_phone", "no paired phone with that id")
        return _ok()

    async def metrics(self, request: web.Request) -> web.Response:
        s = self._s
        own = dict(s.counters)
        own.update({
            "speakerd_ws_clients": s.events.client_count,
            "speakerd_paired_phones": len(s.phones),
            "speakerd_pairing_open": 1.0 if s.pairing.is_open else 0.0,
            "speakerd_pairing_failures_total": s.pairing.failures_total,
            "speakerd_http_connections_open": s.connection_stats["open"],
            "speakerd_http_connections_refused_total": s.connection_stats["refused"],
            "speakerd_http_header_timeouts_total": s.connection_stats["header_timeouts"],
        })
        snap = s.player.snapshot()
        for key, metric in (("buffer_s", "speakerd_buffer_seconds"),
                            ("underruns", "speakerd_underruns_total"),
                            ("reconnects", "speakerd_reconnects_total")):
            if isinstance(snap.get(key), int | float):
                own[metric] = float(snap[key])
        text = render(s.latency, own, s.metric_sources)
        return web.Response(text=text, content_type="text/plain",
                            headers={"X-Content-Type-Options": "nosniff"})


def _field(exc: CommandRejected) -> str:
    field = exc.fields.get("field")
    return f" ({field})" if field else ""


async def _service(result: Awaitable[dict[str, Any]], *, code: str | None = None,
                   status: int = 502) -> dict[str, Any]:
    """Await a service call; our errors become API errors with the error's stable code."""
    try:
        value = await result
    except DaemonError as exc:
        log.warning(f"control.service_error code={exc.code}")
        raise ApiError(status if code else _status_for(exc), code or exc.code, exc.detail) \
            from None
    return value


def _status_for(exc: DaemonError) -> int:
    return {"auth": 409, "rate_limited": 429, "config": 400}.get(exc.code, 502)
