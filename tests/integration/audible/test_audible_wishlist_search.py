"""Wishlist add/remove and catalog search, client against the sandbox."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import registered
from audible_sandbox_helpers import OffsetClock

from daemon.core.errors import ConfigError
from daemon.services.audible import AudibleNotFound
from daemon.services.audible import wishlist as wl
from daemon.services.http import HttpClient


async def test_wishlist_add_list_remove(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    assert (await wl.wishlist(client)).total == 0
    await wl.wishlist_add(client, "B0SPKRD002")
    await wl.wishlist_add(client, "B0SPKRD001")
    await wl.wishlist_add(client, "B0SPKRD001")  # twice is once
    page = await wl.wishlist(client)
    assert [p["asin"] for p in page.products] == ["B0SPKRD001", "B0SPKRD002"]
    assert page.total == 2
    await wl.wishlist_remove(client, "B0SPKRD002")
    assert [p["asin"] for p in (await wl.wishlist(client)).products] == ["B0SPKRD001"]
    with pytest.raises(AudibleNotFound):
        await wl.wishlist_remove(client, "B0SPKRD002")
    with pytest.raises(AudibleNotFound):
        await wl.wishlist_add(client, "B0NOTHERE0")
    with pytest.raises(ValueError, match="not an ASIN"):
        await wl.wishlist_add(client, "../library")


async def test_catalog_search(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    from daemon.sandbox.audible.catalog import FIXTURE_TITLES

    first = FIXTURE_TITLES[0]
    word = first.title.split()[-1]
    found = await wl.search(client, word.upper())
    assert first.asin in {p["asin"] for p in found.products}
    assert found.total == len(found.products)
    assert (await wl.search(client, "zzzz-no-such-book")).total == 0
    with pytest.raises(ConfigError):
        await wl.search(client, "   ")
    with pytest.raises(ConfigError):
        await wl.search(client, "x", num_results=51)
