"""Fault injection (AM-C31) through /_sandbox/faults and through the configuration."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from daemon.sandbox.config import FaultRule
from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.conftest import MakeSandbox
from tests.integration.sandbox_music.sbm_helpers import (
    auth,
    first_track,
    playback,
    sign_in,
    track_definition,
)


async def _add(http: aiohttp.ClientSession, sb: Sandbox, rule: object) -> None:
    async with http.post(f"{sb.base_url}/_sandbox/faults", json=rule) as r:
        assert r.status == 200, await r.text()


async def test_5xx_burst_then_recovers(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    await _add(http, sandbox, {"kind": "status", "path_prefix": "/catalog/", "status": 503,
                               "count": 2})
    statuses = []
    for _ in range(3):
        async with http.get(f"{sandbox.base_url}/catalog/albums/", headers=auth(token)) as r:
            statuses.append(r.status)
    assert statuses == [503, 503, 200]
    async with http.get(f"{sandbox.base_url}/_sandbox/faults") as r:
        listed = await r.json()
    assert listed["rules"][0]["hits"] == 2


async def test_probability_is_deterministic_given_the_seed(http: aiohttp.ClientSession,
                                                           make_sandbox: MakeSandbox) -> None:
    patterns = []
    for _ in range(2):
        sb = await make_sandbox(seed=1234, faults=(
            FaultRule(kind="status", path_prefix="/availability/", probability=0.5,
                      status=500),))
        token = (await sign_in(http, sb))["access_token"]
        pattern = []
        for _ in range(16):
            async with http.get(f"{sb.base_url}/availability/?country=US",
                                headers=auth(token)) as r:
                pattern.append(r.status)
        patterns.append(pattern)
    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 500}


async def test_latency_and_forced_token_expiry(http: aiohttp.ClientSession,
                                               sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    await _add(http, sandbox, [{"kind": "token_expiry", "path_prefix": "/", "count": 1},
                               {"kind": "latency", "path_prefix": "/", "delay_s": 0.01,
                                "count": 1}])
    async with http.get(sandbox.base_url + "/", headers=auth(token)) as r:
        assert r.status == 401
    async with http.get(sandbox.base_url + "/", headers=auth(token)) as r:
        assert r.status == 200


async def test_reset_mid_body_and_bandwidth_and_stall(http: aiohttp.ClientSession,
                                                      sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    url = f"{sandbox.base_url}/catalog/albums/"
    async with http.get(url, headers=auth(token)) as r:
        full = await r.read()
    await _add(http, sandbox, {"kind": "reset", "path_prefix": "/catalog/albums/",
                               "after_bytes": 100, "count": 1})
    async with http.get(url, headers=auth(token)) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    await _add(http, sandbox, [
        {"kind": "bandwidth", "path_prefix": "/catalog/albums/", "bytes_per_s": 200_000,
         "count": 1},
        {"kind": "stall", "path_prefix": "/catalog/albums/", "after_bytes": 10,
         "delay_s": 0.05, "count": 1}])
    async with http.get(url, headers=auth(token)) as r:
        assert await r.read() == full  # slowed and stalled, but complete


async def test_expired_urls_and_licence_denial(http: aiohttp.ClientSession,
                                               make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(licence_backend="clearkey")
    token = (await sign_in(http, sb))["access_token"]
    chunk_url, _, instance = await first_track(http, sb, token)
    definition = await track_definition(http, chunk_url, instance, playback(token))
    await _add(http, sb, [{"kind": "expire_urls", "path_prefix": "/dash/", "count": 1},
                          {"kind": "licence_denial", "path_prefix": "/drm/",
                           "reason": "VMP_VALIDATION_FAILED", "count": 1}])
    async with http.get(definition["audio"]["uri"], headers=playback(token)) as r:
        assert r.status == 403
    async with http.get(definition["audio"]["uri"], headers=playback(token)) as r:
        assert r.status == 200
    async with http.post(definition["audio"]["licenseUri"], data=b"x",
                         headers=playback(token)) as r:
        assert r.status == 403
        assert (await r.json())["denialReason"] == "VMP_VALIDATION_FAILED"
    async with http.post(definition["audio"]["licenseUri"], data=b"x",
                         headers=playback(token)) as r:
        assert r.status == 200


async def test_fault_route_validates_and_clears(http: aiohttp.ClientSession,
                                                sandbox: Sandbox) -> None:
    for bad in ({"kind": "meteor"}, {"kind": "status", "status": "x"}, {"path_prefix": "/"},
                {"kind": "status", "extra": 1}, {"kind": "bandwidth"}, [1]):
        async with http.post(f"{sandbox.base_url}/_sandbox/faults", json=bad) as r:
            assert r.status == 400, bad
            assert (await r.json())["message"]
    await _add(http, sandbox, {"kind": "status", "status": 500})
    async with http.delete(f"{sandbox.base_url}/_sandbox/faults") as r:
        assert (await r.json())["rules"] == []
    await asyncio.sleep(0)
