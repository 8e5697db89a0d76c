"""Redirects (spec §4.6, AM-C19) and rate limiting (AM-C31)."""

from __future__ import annotations

from urllib.parse import urljoin

import aiohttp

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.conftest import MakeSandbox
from tests.integration.sandbox_music.sbm_helpers import admin, auth, sign_in


async def test_301_and_the_workaround_header(http: aiohttp.ClientSession,
                                             sandbox: Sandbox) -> None:
    h = auth((await sign_in(http, sandbox))["access_token"])
    url = f"{sandbox.base_url}/catalog/albums/"
    async with http.get(url, headers=h) as r:
        original = await r.json()
    await admin(http, sandbox, "music/redirect", {"path": "/catalog/albums/", "status": 301})
    async with http.get(url, headers=h, allow_redirects=False) as r:
        assert r.status == 301
        moved = urljoin(url, r.headers["Location"])
    async with http.get(url, headers={**h, "X-Amz-Workaround": "redirect"},
                        allow_redirects=False) as r:
        assert r.status == 200
        assert r.headers["X-Amz-Redirect-Status"] == "301"
        assert urljoin(url, r.headers["X-Amz-Redirect-Location"]) == moved
    async with http.get(moved, headers=h) as r:
        assert r.status == 200
        assert await r.json() == original  # relative references resolve the same way
    async with http.get(url, allow_redirects=False) as r:
        assert r.status == 401  # the redirect does not bypass authentication
    await admin(http, sandbox, "music/redirect", {"path": "/catalog/albums/", "status": None})
    async with http.get(url, headers=h, allow_redirects=False) as r:
        assert r.status == 200
    async with http.post(f"{sandbox.base_url}/_sandbox/music/redirect",
                         json={"path": "/x/", "status": 302}) as r:
        assert r.status == 400


async def test_rate_limit_answers_429_with_retry_after(http: aiohttp.ClientSession,
                                                       make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(rate_limit_per_s=0.05, rate_limit_burst=3, generate_content=False)
    h = auth((await sign_in(http, sb))["access_token"])
    statuses = []
    for _ in range(4):
        async with http.get(f"{sb.base_url}/catalog/albums/", headers=h) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) >= 10
                assert (await r.json())["message"]
    assert statuses == [200, 200, 200, 429]
