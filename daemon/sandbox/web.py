"""Small aiohttp helpers shared by the sandbox's route modules: bodies, errors, headers.

Every handler reads its body through `read_body`/`read_json`/`read_params`, so a body over
the limit is a 413 and malformed input a 400 with `{"message": ...}` naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from daemon.sandbox import choices

JSON_TYPE: Final = "application/json"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
#: AM-C34: the prefix of the admin routes, which are part of no real contract.
HOOK_PREFIX: Final = "/_sandbox/"


class HttpProblem(Exception):
    """A request problem that becomes a JSON answer (never a crash, never a traceback)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = dict(body) if body is not None else choices.message_body(message)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return json_response(self.body, status=self.status, headers=self.headers)


def json_response(
    body: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type=JSON_TYPE,
        headers=headers,
    )


def bad_request(message: str, **extra: Any) -> HttpProblem:
    return HttpProblem(400, message, body={"message": message, **extra})


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, or 413 when it is (or claims to be) larger than `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise HttpProblem(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int) -> Any:
    """A JSON body, or 400 naming the parse problem."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise bad_request("request body must be JSON, got an empty body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"malformed JSON body: {exc}") from None


async def read_json_object(request: web.Request, limit: int) -> dict[str, Any]:
    body = await read_json(request, limit)
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


async def read_params(request: web.Request, limit: int) -> dict[str, str]:
    """Form-encoded or JSON parameters (AM-C04); JSON values must be strings or numbers."""
    raw = await read_body(request, limit)
    if request.content_type == JSON_TYPE:
        try:
            body = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request(f"malformed JSON body: {exc}") from None
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        params: dict[str, str] = {}
        for key, value in body.items():
            if isinstance(value, bool) or value is None:
                raise bad_request(f"parameter {key!r} must be a string")
            if isinstance(value, str | int | float):
                params[key] = str(value)
            elif isinstance(value, dict | list):
                params[key] = json.dumps(value)
        return params
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("form body is not UTF-8") from None
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise bad_request("malformed form-encoded body") from None
    return dict(pairs)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name!r} must be an integer") from None
    if not low <= value <= high:
        raise bad_request(f"query parameter {name!r} must be within {low}..{high}")
    return value


def field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *,
          required: bool = True) -> Any:
    """A typed field of a JSON object; 400 naming the field when missing or mistyped."""
    if name not in body or body[name] is None:
        if required:
            raise bad_request(f"field {name!r} is required", field=name)
        return None
    value = body[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise bad_request(f"field {name!r} has the wrong type", field=name)
    if not isinstance(value, kind):
        raise bad_request(f"field {name!r} has the wrong type", field=name)
    return value
