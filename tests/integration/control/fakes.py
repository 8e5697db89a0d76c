"""Fakes for the control API tests: player, secret store, device settings, services."""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from daemon.control.pake import PhoneSession, b64d, b64e
from daemon.core.errors import AuthError
from daemon.playback.commands import (
    Command,
    CommandRejected,
    RejectReason,
    SetVolume,
    empty_snapshot,
)
from daemon.playback.events import EventHub, Subscription, VolumeChanged
from daemon.state.files import ensure_private_dir, read_json, write_json


class FakePlayer:
    """Records commands; `next` is refused like an engine with nothing loaded."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.hub = EventHub()
        self.volume = 50

    async def submit(self, cmd: Command) -> None:
        if cmd.TYPE == "next":
            raise CommandRejected("nothing is loaded", reason=RejectReason.NOTHING_LOADED)
        self.commands.append(cmd)
        if isinstance(cmd, SetVolume):
            self.volume = cmd.level
            self.hub.publish(VolumeChanged(cmd.level))

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        return self.hub.subscribe(maxsize)

    def snapshot(self) -> dict[str, Any]:
        return empty_snapshot(self.volume)


class FileStore:
    """A stand-in for daemon.state.secrets: JSON files (0600) in a private directory."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def save(self, name: str, value: dict[str, Any]) -> None:
        ensure_private_dir(self._dir)
        write_json(self._dir / f"{name}.json", value)

    def load(self, name: str) -> dict[str, Any] | None:
        return read_json(self._dir / f"{name}.json")


class FakeDevice:
    def __init__(self, name: str = "Kitchen") -> None:
        self.values = {"name": name, "default_quality": "HD", "output": "null"}

    def get(self) -> dict[str, Any]:
        return dict(self.values)

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.values.update(changes)
        return self.get()


class FakeBrowser:
    async def browse(self, uri: str) -> dict[str, Any]:
        return {"uri": uri, "items": [{"title": "Tones", "uri": "album:1"}]}

    async def search(self, query: str, kinds: tuple[str, ...] = ()) -> dict[str, Any]:
        if query == "expired":
            raise AuthError("sign in again")
        return {"query": query, "kinds": list(kinds), "items": []}


class FakeSignIn:
    def __init__(self) -> None:
        self.amazon = "unlinked"

    def state(self) -> dict[str, Any]:
        return {"amazon": {"state": self.amazon}, "audible": {"state": "unlinked"}}

    async def start_amazon(self) -> dict[str, Any]:
        self.amazon = "pending"
        return {"user_code": "ABC123", "verification_uri": "https://amazon.com/code",
                "expires_in": 600}

    async def start_audible(self) -> dict[str, Any]:
        return {"login_url": "https://www.amazon.com/ap/signin?x=1"}

    async def submit_audible(self, response_url: str) -> dict[str, Any]:
        return {"state": "linked"}


@functools.cache
def insecure() -> ssl.SSLContext:
    """One shared context, so the client pool can reuse connections (it keys on the context)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def pair_steps(session: aiohttp.ClientSession, base: str, code: str,
                     name: str = "phone") -> tuple[list[tuple[str, dict[str, Any]]],
                                                   int, dict[str, Any]]:
    """Run the phone side by hand, returning the transcript of requests, the final status
    and the final body (welcome opened into body['opened'] when it succeeds)."""
    phone = await asyncio.to_thread(PhoneSession, code)
    transcript: list[tuple[str, dict[str, Any]]] = []
    body1 = {"pake": b64e(phone.message)}
    transcript.append(("/pair/start", body1))
    async with session.post(f"{base}/pair/start", json=body1, ssl=insecure()) as r:
        first = await r.json()
        if r.status != 200:
            return transcript, r.status, first
    confirm, hello = phone.finish(first["session"], b64d(first["pake"]), {"name": name})
    body2 = {"session": first["session"], "confirm": b64e(confirm), "hello": hello}
    transcript.append(("/pair/finish", body2))
    async with session.post(f"{base}/pair/finish", json=body2, ssl=insecure()) as r:
        second = await r.json()
        if r.status == 200:
            second["opened"] = phone.open_welcome(second["welcome"])
        return transcript, r.status, second


def dump(value: Any) -> bytes:
    return json.dumps(value).encode()
