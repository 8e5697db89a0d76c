"""Control server + announcer wired together, on loopback, seen by a zeroconf peer."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from daemon.app.announcer_link import AnnouncerLink
from daemon.control.limits import ControlLimits
from daemon.control.server import ControlServer
from daemon.core.clock import SystemClock
from daemon.core.config import ControlConfig, DiscoveryConfig
from daemon.discovery.announcer import SERVICE_TYPE, Announcer, AnnouncerTuning
from tests.integration.control.fakes import FakeDevice, FakePlayer, FileStore, insecure, pair_steps


async def test_rename_pairing_health_metrics_flow_through(tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    state = tmp_path / "state"
    device = FakeDevice(name=f"Attic {tag}")
    server = ControlServer(state, SystemClock(), ControlConfig(port=0),
                           model="speakerd", limits=ControlLimits(bind=("127.0.0.1",)),
                           store=FileStore(state / "secrets"), player=FakePlayer(),
                           device=device)
    await server.start()
    announcer = Announcer(state, SystemClock(),
                          DiscoveryConfig(interfaces=("lo",), ip_version="v4"),
                          model="speakerd", tuning=AnnouncerTuning(host_label=f"spk-{tag}"),
                          name=device.get()["name"], port=server.https_port,
                          device_id=server.identity.short_id,
                          pairing_open=server.pairing.is_open)
    tasks: list[asyncio.Task[None]] = []

    def spawn(name: str, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work
        tasks.append(asyncio.create_task(run(), name=name))

    AnnouncerLink(server, announcer, spawn)
    peer = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    session = aiohttp.ClientSession()
    try:
        await announcer.start()
        base = f"https://127.0.0.1:{server.https_port}/api/v1"
        # the Host allowlist learned the mDNS host name
        async with session.get(f"{base}/info", ssl=insecure(),
                               headers={"Host": f"spk-{tag}.local"}) as resp:
            assert resp.status == 200
        info = await peer.async_get_service_info(SERVICE_TYPE,
                                                 f"Attic {tag}.{SERVICE_TYPE}", 3000)
        assert info is not None
        assert info.properties[b"pair"] == b"1"
        assert info.properties[b"id"] == server.identity.short_id.encode()
        code = server.open_pairing().reveal()  # what `speakerd pair --open` would show
        _, status, body = await pair_steps(session, base, code)
        assert status == 200
        token = body["opened"]["token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def txt_pair(value: bytes, name: str) -> None:
            while True:
                fresh = await peer.async_get_service_info(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}",
                                                          500)
                if fresh is not None and fresh.properties.get(b"pair") == value:
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(txt_pair(b"0", f"Attic {tag}"), 5)  # window closed on success
        async with session.patch(f"{base}/settings", json={"name": f"Loft {tag}"},
                                 headers=headers, ssl=insecure()) as resp:
            assert resp.status == 200
        await asyncio.wait_for(txt_pair(b"0", f"Loft {tag}"), 8)  # re-registered under new name

        async def registered_as(name: str) -> None:  # probing may still be finishing
            while not (announcer.registered and announcer.name == name):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(registered_as(f"Loft {tag}"), 5)
        async with session.get(f"{base}/health", ssl=insecure()) as resp:
            assert (await resp.json())["checks"] == {"control": True, "mdns": True}
        async with session.get(f"{base}/metrics", headers=headers, ssl=insecure()) as resp:
            assert "speakerd_mdns_registered 1" in await resp.text()
        await announcer.aclose()
        async with session.get(f"{base}/health", ssl=insecure()) as resp:
            assert resp.status == 503  # the watchdog input: a dead announcer is unhealthy
    finally:
        await session.close()
        for task in tasks:
            task.cancel()
        assert not [r for r in await asyncio.gather(*tasks, return_exceptions=True)
                    if isinstance(r, Exception)]
        await announcer.aclose()
        await peer.async_close()
        await server.aclose()
