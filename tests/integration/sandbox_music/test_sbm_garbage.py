"""Garbage in, clear answers out: seeded random requests never get a 500 or a crash."""

from __future__ import annotations

import random

import aiohttp
import pytest

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.sbm_helpers import (
    first_track,
    playback,
    sign_in,
    track_definition,
)

_BODIES: list[bytes] = [b"", b"{", b"[]", b"null", b'{"a": 1}', b"\x00\xff" * 40,
                        b'{"eventType": null}', b"a=1&b", b"%zz", b'"just a string"',
                        b'{"user_code": ["x"]}', b'{"kind": {"nested": 1}}']


@pytest.mark.parametrize("seed", [3, 11, 29])
async def test_random_garbage_never_crashes(http: aiohttp.ClientSession,
                                            sandbox: Sandbox, seed: int) -> None:
    rng = random.Random(seed)
    token = (await sign_in(http, sandbox))["access_token"]
    chunk_url, _, instance = await first_track(http, sandbox, token)
    definition = await track_definition(http, chunk_url, instance, playback(token))
    targets = [
        sandbox.base_url + "/auth/o2/create/codepair",
        sandbox.base_url + "/auth/o2/token",
        sandbox.base_url + "/code",
        sandbox.base_url + "/",
        sandbox.base_url + "/catalog/albums/%00/",
        sandbox.base_url + "/catalog/stations/x/chunks/99999999999999999999/",
        sandbox.base_url + "/images/..%2F..%2Fetc%2Fpasswd",
        sandbox.base_url + "/media/garbage/../../x",
        sandbox.base_url + "/search/?keywords=" + "a" * 500,
        sandbox.base_url + "/availability/?country=%FF",
        sandbox.base_url + "/_sandbox/faults",
        sandbox.base_url + "/_sandbox/music/settings",
        sandbox.base_url + "/_sandbox/lwa/settings",
        instance["playbackEventCollector"],
        definition["audio"]["uri"],
        definition["audio"]["licenseUri"],
    ]
    header_sets = [{}, playback(token), {**playback(token), "Content-Type": "application/json"},
                   {"Authorization": "Bearer", "Content-Type": "application/x-www-form-urlencoded"},
                   {**playback(token), "X-Amzn-Audio-Device-Capability": ",,,"},
                   {**playback(token), "Range": "bytes=9-1"}]
    for _ in range(150):
        url = rng.choice(targets)
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD"])
        headers = rng.choice(header_sets)
        body = rng.choice(_BODIES)
        async with http.request(method, url, headers=headers, data=body,
                                allow_redirects=False) as r:
            assert r.status < 500 or r.status == 501, (method, url, r.status, await r.text())
            if r.status >= 400 and method != "HEAD" and r.content_type == "application/json":
                payload = await r.json()
                assert payload.get("message") or payload.get("error") or payload.get(
                    "generalErrorReports"), payload
    async with http.get(sandbox.base_url + "/", headers=playback(token)) as r:
        assert r.status == 200
