"""Fault injection (AM-C31): latency, bandwidth caps, 5xx bursts, resets, stalls, expired
URLs, forced token expiry and licence denial, by configuration or via /_sandbox/faults.

Decisions come from one `random.Random(seed)` consumed in request order, so a run with the
same seed and the same request sequence injects the same faults.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from daemon.core.clock import Clock
from daemon.sandbox.config import FaultRule
from daemon.sandbox.web import HOOK_PREFIX, HttpProblem, json_response, read_json

log = logging.getLogger("daemon.sandbox")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Request keys the route handlers read.
FLAG_TOKEN_EXPIRED = web.RequestKey("sandbox_fault_token_expired", bool)
FLAG_URL_EXPIRED = web.RequestKey("sandbox_fault_url_expired", bool)
FLAG_DENIAL = web.RequestKey("sandbox_fault_denial", str)
_CHUNK = 16 * 1024


@dataclass(slots=True)
class _Active:
    rule: FaultRule
    remaining: int | None
    hits: int = 0


class FaultInjector:
    """Applies the configured fault rules to matching requests; rules change at runtime."""

    def __init__(self, rules: Iterable[FaultRule], seed: int, clock: Clock) -> None:
        self._clock = clock
        self._seed = seed
        self._random = random.Random(seed)
        self._rules = [_Active(r, r.count) for r in rules]

    # -- rule management ----------------------------------------------------------------

    def add(self, rule: FaultRule) -> None:
        self._rules.append(_Active(rule, rule.count))

    def clear(self) -> None:
        self._rules.clear()

    def reseed(self, seed: int) -> None:
        self._seed = seed
        self._random = random.Random(seed)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {**dataclasses.asdict(a.rule), "remaining": a.remaining, "hits": a.hits}
            for a in self._rules
        ]

    def _select(self, path: str) -> list[FaultRule]:
        chosen: list[FaultRule] = []
        for active in self._rules:
            rule = active.rule
            if not path.startswith(rule.path_prefix) or path.startswith(HOOK_PREFIX):
                continue
            if active.remaining is not None and active.remaining <= 0:
                continue
            if rule.probability < 1.0 and self._random.random() >= rule.probability:
                continue
            if active.remaining is not None:
                active.remaining -= 1
            active.hits += 1
            chosen.append(rule)
        return chosen

    # -- middleware ---------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        rules = self._select(request.path)
        if not rules:
            return await handler(request)
        body_rules: list[FaultRule] = []
        for rule in rules:
            log.info("sandbox.fault kind=%s path=%s", rule.kind, request.path)
            if rule.kind == "latency":
                await self._clock.sleep(rule.delay_s)
            elif rule.kind == "status":
                return json_response(
                    {"message": f"injected fault: HTTP {rule.status}"}, status=rule.status)
            elif rule.kind == "token_expiry":
                request[FLAG_TOKEN_EXPIRED] = True
            elif rule.kind == "expire_urls":
                request[FLAG_URL_EXPIRED] = True
            elif rule.kind == "licence_denial":
                request[FLAG_DENIAL] = rule.reason
            else:
                body_rules.append(rule)
        response = await handler(request)
        if not body_rules or not isinstance(response, web.Response) or response.body is None:
            return response
        body = response.body
        if not isinstance(body, bytes | bytearray):
            return response
        return await self._stream(request, response, bytes(body), body_rules)

    async def _stream(
        self, request: web.Request, source: web.Response, body: bytes, rules: list[FaultRule]
    ) -> web.StreamResponse:
        out = web.StreamResponse(status=source.status, reason=source.reason)
        for name, value in source.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                out.headers[name] = value
        out.content_length = len(body)
        await out.prepare(request)
        rate = min((r.bytes_per_s for r in rules if r.kind == "bandwidth"), default=0)
        cut = min((r.after_bytes for r in rules if r.kind == "reset"), default=None)
        stall = next((r for r in rules if r.kind == "stall"), None)
        sent = 0
        limit = len(body) if cut is None else min(cut, len(body))
        stalled = False
        while sent < limit:
            if stall is not None and not stalled and sent >= stall.after_bytes:
                stalled = True
                await self._clock.sleep(stall.delay_s)
            step = min(_CHUNK, limit - sent)
            if stall is not None and not stalled:
                step = min(step, stall.after_bytes - sent)
            if rate:
                step = min(step, max(1, rate // 10))
            await out.write(body[sent : sent + step])
            sent += step
            if rate:
                await self._clock.sleep(step / rate)
        if stall is not None and not stalled:
            await self._clock.sleep(stall.delay_s)
        if cut is not None and cut < len(body):
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise ConnectionResetError("injected fault: connection reset mid-body")
        await out.write_eof()
        return out

    # -- admin routes ---------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_sandbox/faults", self.hook_list)
        app.router.add_post("/_sandbox/faults", self.hook_add)
        app.router.add_delete("/_sandbox/faults", self.hook_clear)

    async def hook_list(self, request: web.Request) -> web.Response:
        return json_response({"seed": self._seed, "rules": self.describe()})

    async def hook_add(self, request: web.Request) -> web.Response:
        body = await read_json(request, 1024 * 1024)
        items = body if isinstance(body, list) else [body]
        rules: list[FaultRule] = []
        for item in items:
            if not isinstance(item, dict):
                raise HttpProblem(400, "each fault must be a JSON object")
            if "seed" in item and len(item) == 1:
                seed = item["seed"]
                if isinstance(seed, bool) or not isinstance(seed, int):
                    raise HttpProblem(400, "field 'seed' must be an integer")
                self.reseed(seed)
                continue
            rules.append(_rule_from_json(item))
        for rule in rules:
            self.add(rule)
        return json_response({"seed": self._seed, "rules": self.describe()})

    async def hook_clear(self, request: web.Request) -> web.Response:
        self.clear()
        return json_response({"seed": self._seed, "rules": []})


_RULE_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "path_prefix": (str,),
    "count": (int,),
    "probability": (int, float),
    "status": (int,),
    "delay_s": (int, float),
    "bytes_per_s": (int,),
    "after_bytes": (int,),
    "reason": (str,),
}


def _rule_from_json(item: dict[str, Any]) -> FaultRule:
    unknown = set(item) - set(_RULE_TYPES)
    if unknown:
        raise HttpProblem(400, f"unknown fault field(s): {', '.join(sorted(unknown))}")
    if "kind" not in item:
        raise HttpProblem(400, "field 'kind' is required")
    for name, value in item.items():
        if value is None and name == "count":
            continue
        if isinstance(value, bool) or not isinstance(value, _RULE_TYPES[name]):
            raise HttpProblem(400, f"field {name!r} has the wrong type")
    try:
        return FaultRule(**item)
    except ValueError as exc:
        raise HttpProblem(400, str(exc)) from None
