"""API errors: one JSON shape {"error": {"code", "message"}} with stable codes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from daemon.core.errors import ControlError


class ApiError(ControlError):
    """A refused request. `api_code` is the stable string clients switch on."""

    def __init__(self, status: int, api_code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.api_code = api_code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


#: HTTP status -> stable code for errors aiohttp raises itself (routing, body size).
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
