"""A real ControlServer on 127.0.0.1 (HTTPS, port 0) with fakes behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.control.limits import ControlLimits
from daemon.control.server import ControlServer
from daemon.core.clock import SystemClock
from daemon.core.config import ControlConfig
from daemon.core.redact import Secret
from daemon.state.files import ensure_private_dir
from daemon.state.secrets import SecretStore
from tests.integration.control.fakes import (
    FakeBrowser,
    FakeDevice,
    FakePlayer,
    FakeSignIn,
    insecure,
    pair_steps,
)

STATIC_CODE = "40917263"


@dataclass
class Rig:
    server: ControlServer
    player: FakePlayer
    device: FakeDevice
    state_dir: Path
    shown_codes: list[Secret]
    session: aiohttp.ClientSession

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.https_port}/api/v1"

    @property
    def code(self) -> str:
        return self.shown_codes[-1].reveal()

    async def pair(self, name: str = "phone") -> tuple[str, str]:
        """Pair a phone with the currently shown code; returns (phone_id, token)."""
        if not self.server.pairing.is_open:
            self.server.open_pairing()
        _, status, body = await pair_steps(self.session, self.base, self.code, name)
        assert status == 200, body
        return body["opened"]["phone_id"], body["opened"]["token"]

    async def call(self, method: str, path: str, token: str | None = None,
                   **kwargs: Any) -> tuple[int, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.base + path, headers=headers,
                                        ssl=insecure(), allow_redirects=False,
                                        **kwargs) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    async def factory(**overrides: Any) -> Rig:
        index = len(made)
        state = tmp_path / f"state{index}"
        config = ControlConfig(port=0, setup_code=overrides.pop("setup_code", None))
        limits = replace(ControlLimits(bind=("127.0.0.1",), request_rate_per_second=1000,
                                       request_burst=1000, pair_rate_per_minute=600),
                         **overrides)
        shown: list[Secret]
        player, device, shown = FakePlayer(), FakeDevice(), []
        ensure_private_dir(state)
        # the real encrypted secret store (daemon/secrets.py), key file kept outside state
        store = SecretStore.open(state / "secrets", key_file=tmp_path / f"device{index}.key",
                                 credentials_dir=tmp_path / "no-credentials")
        server = ControlServer(state, SystemClock(), config, model="speakerd", limits=limits,
                               store=store,
                               player=player, device=device, browser=FakeBrowser(),
                               signin=FakeSignIn(), version="1.2.3",
                               code_display=shown.append)
        await server.start()
        rig = Rig(server, player, device, state, shown, aiohttp.ClientSession())
        made.append(rig)
        return rig

    yield factory
    for rig in made:
        await rig.session.close()
        await rig.server.aclose()


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    return await make_rig()
