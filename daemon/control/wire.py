"""aiohttp's own error paths, brought under our formatting and redaction.

aiohttp answers a request head its parser refuses with a text/plain 400 that quotes the
offending bytes (an oversized `Authorization` header included) and logs the parser's
traceback on `aiohttp.server` at ERROR. Every protocol instance the control server makes
passes through `quiet_protocol`, which replaces those two paths: the answer is our JSON
error with a fixed message, the log is one `daemon.control.http` line naming only the
exception's type, at DEBUG (a hostile peer can cause it at will, so it must not flood the
journal at the default level); the guard counts them for metrics instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from daemon.control.apierror import error_response

log = logging.getLogger("daemon.control.http")

_MESSAGES = {400: "malformed request", 413: "request too large", 431: "request head too large"}


def _exc_type(kw: dict[str, Any]) -> str:
    info = kw.get("exc_info")
    if isinstance(info, BaseException):
        return type(info).__name__
    if isinstance(info, tuple) and info and info[0] is not None:
        return str(info[0].__name__)
    return "none"


class _QuietRequestHandler(RequestHandler):
    """aiohttp's handler with our error answer and one-line, type-only error logging."""

    __slots__ = ()  # same layout as the base, so an instance may be switched to it
    on_bad_request: Callable[[], None] | None = None

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        del message  # aiohttp's text quotes the request bytes
        reason = type(exc).__name__ if exc is not None else "none"
        if status >= 500:
            log.error(f"control.http_error status={status} error={reason}")
        else:
            if self.on_bad_request is not None:
                self.on_bad_request()
            log.debug(f"control.bad_request status={status} error={reason}")
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        text = _MESSAGES.get(status, "internal error" if status >= 500 else "bad request")
        code = "internal" if status >= 500 else "bad_request"
        response = error_response(status, code, text)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        what = args[0] if args and isinstance(args[0], str) else "error"
        log.error(f"control.http_error what={what.split(' from ')[0].replace(' ', '_')}"
                  f" error={_exc_type(kw)}")

    def log_debug(self, *args: Any, **kw: Any) -> None:
        what = args[0] if args and isinstance(args[0], str) else "event"
        log.debug(f"control.http_debug what={what.replace(' ', '_')[:60]}"
                  f" error={_exc_type(kw)}")


def quiet_protocols(factory: Callable[[], asyncio.Protocol],
                    on_bad_request: Callable[[], None]) -> Callable[[], asyncio.Protocol]:
    """Wrap aiohttp's protocol factory: each handler gets our error answer and logging.

    aiohttp builds its handlers itself (with `__slots__`, so no per-instance override);
    the subclass adds no slots, which makes switching the instance's class safe."""
    cls = type("QuietRequestHandler", (_QuietRequestHandler,),
               {"__slots__": (), "on_bad_request": staticmethod(on_bad_request)})

    def make() -> asyncio.Protocol:
        handler = factory()
        if type(handler) is RequestHandler:
            handler.__class__ = cls
            handler.logger = log
        return handler

    return make
