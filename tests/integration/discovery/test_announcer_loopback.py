"""The announcer on the loopback interface, observed by an independent zeroconf browser.

Traffic stays on `lo`. Names carry a random tag so parallel runs never collide.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import cast

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from daemon.core.clock import SystemClock
from daemon.core.config import DiscoveryConfig
from daemon.discovery.announcer import SERVICE_TYPE, Announcer, AnnouncerTuning

LOOPBACK = DiscoveryConfig(interfaces=("lo",), ip_version="v4")


def tuning(tag: str) -> AnnouncerTuning:
    return AnnouncerTuning(host_label=f"spk-{tag}", poll_interval_s=0.2)


def make(state: Path, tag: str, name: str, port: int = 8443) -> Announcer:
    return Announcer(state, SystemClock(), LOOPBACK, model="speakerd", tuning=tuning(tag),
                     name=name, port=port,
                     device_id=tag, pairing_open=False)


async def test_register_resolve_update_and_goodbye(tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    name = f"Lo {tag}"
    peer = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    removed = asyncio.Event()

    def on_change(zeroconf: object, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if name.startswith(f"Lo {tag}.") and state_change is ServiceStateChange.Removed:
            removed.set()

    browser = AsyncServiceBrowser(peer.zeroconf, [SERVICE_TYPE], handlers=[on_change])
    announcer = make(tmp_path / "state", tag, name)
    try:
        await announcer.start()
        assert announcer.registered
        assert announcer.healthy
        info = await peer.async_get_service_info(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", 3000)
        assert info is not None
        assert info.port == 8443
        assert info.parsed_addresses() == ["127.0.0.1"]
        assert info.properties[b"pair"] == b"0"
        assert info.properties[b"id"] == tag.encode()
        await announcer.set_pairing_open(True)

        async def txt_updated() -> None:
            while True:
                fresh = await peer.async_get_service_info(SERVICE_TYPE,
                                                          f"{name}.{SERVICE_TYPE}", 1000)
                if fresh is not None and fresh.properties.get(b"pair") == b"1":
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(txt_updated(), 5)
        assert announcer.metrics()["speakerd_mdns_registered"] == 1.0
        await announcer.aclose()
        assert not cast(bool, announcer.healthy)
        await asyncio.wait_for(removed.wait(), 5)  # a goodbye, not a TTL expiry
    finally:
        await announcer.aclose()
        await browser.async_cancel()
        await peer.async_close()


async def test_conflict_gives_numbered_name_that_is_kept(tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    name = f"Den {tag}"
    holder = make(tmp_path / "holder", tag, name, port=1000)
    renamed: list[str] = []
    await holder.start()
    try:
        second = Announcer(tmp_path / "second", SystemClock(), LOOPBACK, model="speakerd",
                           tuning=tuning(tag + "x"), name=name,
                           port=2000, device_id=tag + "x", on_renamed=renamed.append)
        async with second:
            assert second.name == f"{name} (2)"
            assert renamed == [f"{name} (2)"]
            assert second.counters["conflicts"] == 1
        again = make(tmp_path / "second", tag + "x", name, port=2000)
        async with again:  # remembered: no new conflict needed
            assert again.name == f"{name} (2)"
            assert again.counters["conflicts"] == 0
    finally:
        await holder.aclose()
    after = make(tmp_path / "second", tag + "x", name, port=2000)
    async with after:  # the original name is free now, but the device keeps its own
        assert after.name == f"{name} (2)"


async def test_rename_by_user_registers_new_name(tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    announcer = make(tmp_path / "state", tag, f"Old {tag}")
    async with announcer:
        await announcer.rename(f"New {tag}")
        assert announcer.name == f"New {tag}"
        assert announcer.registered
    restarted = make(tmp_path / "state", tag, f"New {tag}")
    async with restarted:
        assert restarted.name == f"New {tag}"
