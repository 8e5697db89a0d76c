"""Schemathesis drives every operation of the OpenAPI document against a running control
server: no answer may be a server error, and every answer must match the document."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from daemon.control.limits import ControlLimits
from daemon.control.server import ControlServer
from daemon.core.clock import SystemClock
from daemon.core.config import ControlConfig
from daemon.state.files import ensure_private_dir
from daemon.state.secrets import SecretStore
from tests.integration.control.fakes import (
    FakeBrowser,
    FakeDevice,
    FakePlayer,
    FakeSignIn,
    pair_steps,
)


class LoopThread:
    """An event loop of its own for the server, because schemathesis calls synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    runner = LoopThread()
    shown: list[Any] = []

    async def start() -> tuple[ControlServer, str, dict[str, Any]]:
        state = ensure_private_dir(tmp_path / "state")
        store = SecretStore.open(state / "secrets", key_file=tmp_path / "device.key")
        server = ControlServer(state, SystemClock(),
                               ControlConfig(port=0), model="speakerd",
                               limits=ControlLimits(bind=("127.0.0.1",),
                                                    request_rate_per_second=10_000,
                                                    request_burst=10_000,
                                                    pair_rate_per_minute=6000),
                               store=store, player=FakePlayer(), device=FakeDevice(),
                               browser=FakeBrowser(), signin=FakeSignIn(), version="1.0.0",
                               code_display=shown.append)
        await server.start()
        base = f"https://127.0.0.1:{server.https_port}/api/v1"
        async with aiohttp.ClientSession() as session:
            _, status, body = await pair_steps(session, base, shown[-1].reveal(), "fuzzer")
            assert status == 200, body
            token = body["opened"]["token"]
            async with session.get(base + "/openapi.json", ssl=False,
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
                document = await resp.json()
        return server, token, document

    server, token, document = runner.run(start())
    try:
        yield f"https://127.0.0.1:{server.https_port}", token, document
    finally:
        runner.run(server.aclose())
        runner.stop()


# The speaker's certificate is self-signed and pinned by phones; schemathesis cannot pin.
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_every_operation_conforms_and_never_fails_on_the_server(
        served: tuple[str, str, dict[str, Any]]) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    base, token, document = served
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 25
    for operation in operations:
        if operation.path.endswith("/events") or ("/phones/" in operation.path and \
                operation.method.upper() == "DELETE"):
            continue  # the WebSocket upgrade; revoking phones would revoke our own token

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, verify=False,
                                   checks=[not_a_server_error, response_schema_conformance])

        check()
