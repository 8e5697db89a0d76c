"""Helpers of the account tests (login paths, auth files, cookies): a recording HTTP
client, the scripted phone, sandbox hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from daemon.core.clock import Clock, SystemClock
from daemon.core.retry import RetryPolicy
from daemon.services.audible import (
    AudibleClient,
    Endpoints,
    LoginResult,
    get_locale,
    start_external_login,
)
from daemon.services.audible.session import SessionStore
from daemon.services.http import HttpClient, HttpResponse


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def hook(server: TestServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{base(server)}/_sandbox/audible/{path}", json=body) as r,
    ):
        assert r.status == 200, await r.text()
        result: dict[str, Any] = await r.json()
        return result


async def phone_login(
    server: TestServer, locale: str = "us", *, with_username: bool = False
) -> LoginResult:
    """The scripted phone: opens the sign-in URL, returns the maplanding URL."""
    pending = start_external_login(
        get_locale(locale), Endpoints.sandbox(base(server)), with_username=with_username
    )
    landed = await hook(server, "login/approve", {"signin_url": pending.signin_url})
    return pending.complete(base(server) + landed["maplanding_url"])


async def registered(
    server: TestServer,
    http: HttpClient,
    clock: Clock,
    store: SessionStore | None = None,
    *,
    locale: str = "us",
    with_username: bool = False,
) -> AudibleClient:
    login = await phone_login(server, locale, with_username=with_username)
    return await AudibleClient.register(
        login, http=http, clock=clock, endpoints=Endpoints.sandbox(base(server)), store=store
    )


class RecordingHttp(HttpClient):
    """The real client, keeping (method, url, headers, body) of every request."""

    def __init__(self) -> None:
        super().__init__(clock=SystemClock(), retry=RetryPolicy(max_attempts=1))
        self.sent: list[tuple[str, str, dict[str, str], Any]] = []

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> HttpResponse:
        self.sent.append((method.upper(), url, dict(headers or {}), data))
        return await super().request(method, url, headers=headers, data=data, **kwargs)
