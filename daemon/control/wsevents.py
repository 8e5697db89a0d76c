"""The event WebSocket (/api/v1/events): token in the first message, snapshot, then events.

Each client has a bounded queue; a slow client loses old events and gets one `resync`
instead of slowing the player or other clients. Clients are indexed by phone so revoking a
phone closes its sockets at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from daemon.control.artwork import fill_images, image_side
from daemon.control.phones import Phone
from daemon.core.clock import Clock

log = logging.getLogger("daemon.control")

CLOSE_UNAUTHORIZED = 4401
CLOSE_REVOKED = 4403
_QUEUE = 256


class _Client:
    def __init__(self, ws: web.WebSocketResponse, phone: Phone, image_side: int) -> None:
        self.ws = ws
        self.phone = phone
        self.image_side = image_side  # cover art filled for this size (?image_size=)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE)
        self.dropped = 0

    def push(self, message: dict[str, Any]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)


class EventHubWs:
    """Owns every event socket; `publish` fans a {type, data} message out to all of them."""

    def __init__(self, clock: Clock, *, verify: Callable[[str], Phone | None],
                 snapshot: Callable[[], dict[str, Any]],
                 player_events: Callable[[], Any],
                 max_message_bytes: int, auth_timeout_s: float, heartbeat_s: float) -> None:
        self._clock = clock
        self._verify = verify
        self._snapshot = snapshot
        self._player_events = player_events
        self._max = max_message_bytes
        self._auth_timeout = auth_timeout_s
        self._heartbeat = heartbeat_s
        self._clients: set[_Client] = set()
        self._closing = False

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def publish(self, type_: str, data: dict[str, Any]) -> None:
        message = {"type": type_, "data": data}
        for client in list(self._clients):
            client.push(message)

    async def disconnect_phone(self, phone_id: str) -> int:
        """Close every socket of `phone_id` (after revocation); returns how many."""
        victims = [c for c in self._clients if c.phone.id == phone_id]
        for client in victims:
            self._clients.discard(client)
        await asyncio.gather(*(self._close(c.ws, CLOSE_REVOKED, b"revoked") for c in victims))
        return len(victims)

    async def aclose(self) -> None:
        self._closing = True
        clients, self._clients = list(self._clients), set()
        await asyncio.gather(
            *(self._close(c.ws, WSCloseCode.GOING_AWAY, b"shutting down") for c in clients)
        )

    @staticmethod
    async def _close(ws: web.WebSocketResponse, code: int, message: bytes) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=code, message=message)

    async def handle(self, request: web.Request, *,
                     phone: Phone | None = None) -> web.StreamResponse:
        """Serve one socket; `phone` when the upgrade already carried a valid cookie."""
        side = image_side(request)
        ws = web.WebSocketResponse(max_msg_size=self._max, timeout=1.0, autoping=True,
                                   heartbeat=self._heartbeat)
        await ws.prepare(request)
        if phone is None:
            phone = await self._authenticate(ws)
        if phone is None or self._closing:
            return ws
        client = _Client(ws, phone, side)
        self._clients.add(client)
        client.push({"type": "snapshot", "data": self._snapshot()})
        tasks = [asyncio.create_task(self._send_loop(client)),
                 asyncio.create_task(self._heartbeat_loop(client)),
                 asyncio.create_task(self._player_loop(client))]
        try:
            await self._receive_loop(client)
        finally:
            self._clients.discard(client)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not ws.closed:
                await self._close(ws, WSCloseCode.OK, b"")
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse) -> Phone | None:
        try:
            msg = await ws.receive(timeout=self._auth_timeout)
        except TimeoutError:
            await self._close(ws, CLOSE_UNAUTHORIZED, b"authentication timeout")
            return None
        if msg.type != WSMsgType.TEXT:
            # oversized first frames end here too: aiohttp has already closed with 1009
            if not ws.closed:
                await self._close(ws, CLOSE_UNAUTHORIZED, b"authentication required")
            return None
        phone = None
        try:
            body = json.loads(msg.data)
            token = body["data"]["token"] if body.get("type") == "auth" else None
            if isinstance(token, str) and 0 < len(token) <= 256:
                phone = self._verify(token)
        except (ValueError, TypeError, KeyError, AttributeError):
            phone = None
        if phone is None:
            await self._close(ws, CLOSE_UNAUTHORIZED, b"unauthorized")
            return None
        return phone

    async def _receive_loop(self, client: _Client) -> None:
        async for msg in client.ws:
            if msg.type == WSMsgType.TEXT:
                # the socket is for events; client messages other than pings are ignored
                with contextlib.suppress(ValueError, AttributeError):
                    if json.loads(msg.data).get("type") == "ping":
                        client.push({"type": "pong", "data": {}})
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    async def _send_loop(self, client: _Client) -> None:
        while True:
            message = await client.queue.get()
            if client.dropped:
                client.dropped = 0
                await client.ws.send_json({"type": "resync", "data": fill_images(
                    self._snapshot(), client.image_side)})
            await client.ws.send_json(fill_images(message, client.image_side))

    async def _heartbeat_loop(self, client: _Client) -> None:
        while True:
            await self._clock.sleep(self._heartbeat)
            client.push({"type": "heartbeat", "data": {"time": self._clock.time()}})

    async def _player_loop(self, client: _Client) -> None:
        subscription = self._player_events()
        try:
            async for event in subscription:
                client.push(event.to_dict())
        finally:
            close = getattr(subscription, "close", None)
            if close is not None:
                close()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
