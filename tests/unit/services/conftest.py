"""Shared fixtures for the services unit tests: a scriptable loopback HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int


@dataclass
class ScriptedServer:
    """Answers each path from a queue of actions; once a queue is empty, 200 `{"ok": true}`.

    Actions: ("status", code, headers?, body?), ("reset",), ("sleep", seconds), ("json", obj).
    """

    base_url: str = ""
    actions: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def script(self, path: str, *actions: tuple[Any, ...]) -> None:
        self.actions.setdefault(path, []).extend(actions)

    def count(self, path: str) -> int:
        return sum(1 for h in self.hits if h.path == path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.hits.append(
            Hit(
                request.method,
                request.path,
                dict(request.headers),
                await request.read(),
                peer[1] if peer else -1,
            )
        )
        queue = self.actions.get(request.path) or []
        action = queue.pop(0) if queue else ("json", {"ok": True})
        kind = action[0]
        if kind == "reset":
            assert request.transport is not None
            request.transport.abort()
            await asyncio.sleep(0.05)
            return web.Response(status=200)
        if kind == "sleep":
            await asyncio.sleep(action[1])
            return web.json_response({"slept": True})
        if kind == "json":
            return web.json_response(action[1])
        status = action[1]
        headers = action[2] if len(action) > 2 else {}
        body = action[3] if len(action) > 3 else b'{"error": "scripted"}'
        return web.Response(
            status=status,
            headers=headers,
            body=body,
            content_type=headers.pop("Content-Type", "application/json"),
        )


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.base_url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
