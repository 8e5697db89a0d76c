"""Fixtures: the sandbox on 127.0.0.1 port 0 and the daemon's real clients, one fake clock."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from daemon.core.retry import RetryPolicy
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.server import Sandbox
from daemon.services.http import HttpClient
from daemon.services.lwa import LwaClient, LwaSettings
from daemon.services.music import MusicClient, MusicSettings
from daemon.state.secrets import SecretStore
from tests.support.clock import FakeClock

WALL = 1_760_000_000.0
DEVICE_ID = "0123456789abcdef0123456789abcdef"
SEED = 4242


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Env:
    clock: FakeClock
    sandbox: Sandbox
    http: HttpClient
    store: SecretStore
    lwa: LwaClient
    tmp: Path
    requests: list[Recorded] = field(default_factory=list)

    def music(self, capabilities: Any = ("STD_RES",), **settings: Any) -> MusicClient:
        return MusicClient(
            http=self.http,
            auth=self.lwa,
            device_id=DEVICE_ID,
            capabilities=capabilities,
            settings=MusicSettings(api_root=self.sandbox.base_url + "/", **settings),
            clock=self.clock,
        )

    async def admin(self, path: str, body: Any = None, method: str = "POST") -> Any:
        resp = await self.http.request(
            method,
            f"{self.sandbox.base_url}/_sandbox/{path}",
            json_body=body if body is not None else {},
        )
        assert resp.status == 200, resp.body
        return resp.json()

    async def login(self) -> None:
        async def approve(pair: Any) -> None:
            await self.admin("lwa/approve", {"user_code": pair.user_code})

        await self.lwa.link(approve)

    def stored_bytes(self) -> bytes:
        return self.store.path_of("lwa-token").read_bytes()

    def stored_token(self) -> dict[str, Any]:
        """The LWA record in the secret store; fails when there is none."""
        record = self.store.load("lwa-token")
        assert record is not None
        return record


MakeEnv = Callable[..., Awaitable[Env]]


@pytest.fixture(scope="session")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("svc-sandbox-data")
    os.chmod(path, 0o700)
    return path


@pytest.fixture
async def make_env(content_dir: Path, tmp_path: Path) -> AsyncIterator[MakeEnv]:
    made: list[Env] = []

    async def make(
        retry: RetryPolicy | None = None, head_start: float = 60.0, **overrides: Any
    ) -> Env:
        clock = FakeClock(wall=WALL, auto_advance=True)
        config = replace(
            SandboxConfig(
                port=0,
                data_dir=content_dir,
                catalog="small",
                admin_enabled=True,
                auto_approve=False,
                interval_s=5,
                seed=7,
            ),
            **overrides,
        )
        sandbox = Sandbox(config, clock=clock)
        requests: list[Recorded] = []

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            requests.append(Recorded(request.method, request.path, dict(request.headers)))
            return await handler(request)

        sandbox.app.middlewares.insert(0, record)
        await sandbox.start()
        http = HttpClient(clock=clock, rng=random.Random(SEED), retry=retry)
        await http.start()
        n = len(made)
        store = SecretStore.open(
            tmp_path / f"secrets{n}",
            key_file=tmp_path / f"key{n}" / "k",
            credentials_dir=tmp_path / "no-creds",
        )
        lwa = LwaClient(
            http=http,
            store=store,
            clock=clock,
            rng=random.Random(SEED),
            settings=LwaSettings(
                client_id=sandbox.lwa_client_id,
                base_url=sandbox.base_url,
                refresh_head_start_s=head_start,
            ),
        )
        env = Env(clock, sandbox, http, store, lwa, tmp_path, requests)
        made.append(env)
        return env

    yield make
    for env in reversed(made):
        await env.lwa.aclose()
        await env.http.aclose()
        await env.sandbox.aclose()


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Real-time wait for a condition driven by the loop (never a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)
