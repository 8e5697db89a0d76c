"""Registration cookies kept, cookie exchange, activation bytes (= mkb79's), AAX playback."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import registered
from audible_mkb79_helpers import mkb79_activation_bytes, mkb79_register
from audible_sandbox_helpers import OffsetClock

from daemon.sandbox.audible import STATE_KEY
from daemon.sandbox.audible import aax as sandbox_aax
from daemon.services.audible import AudibleSession, policy
from daemon.services.audible import account as acct
from daemon.services.http import HttpClient
from daemon.state.secrets import SecretStore


def _pcm(data: bytes, options: dict[str, str] | None = None) -> bytes:
    import av

    with av.open(io.BytesIO(data), "r", options=options or {}) as container:
        return b"".join(bytes(f.planes[0]) for f in container.decode(audio=0))


async def test_registration_cookies_are_kept_and_exchanged(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    client = await registered(sandbox, http, client_clock, store)
    saved = AudibleSession.from_json(store.load(policy.SESSION_SECRET_NAME))
    assert "session-id" in saved.cookies()
    assert saved.store_cookie is not None
    issued = {r.store_cookie for r in sandbox.app[STATE_KEY].registrations.values()}
    assert saved.store_cookie.reveal() in issued
    assert saved.store_cookie.reveal() not in repr(saved)
    cookies = await acct.exchange_cookies(client, "co.uk")
    assert cookies
    again = AudibleSession.from_json(store.load(policy.SESSION_SECRET_NAME))
    assert again.cookies() == cookies


async def test_activation_bytes_equal_mkb79s_and_are_stored(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    client = await registered(sandbox, http, client_clock, store)
    ours = await acct.activation_bytes(client)
    port = sandbox.port
    assert port is not None
    peer = await asyncio.to_thread(mkb79_register, port)
    theirs = await asyncio.to_thread(mkb79_activation_bytes, port, peer)
    assert ours.reveal() == theirs
    assert len(theirs) == 8
    saved = AudibleSession.from_json(store.load(policy.SESSION_SECRET_NAME))
    assert saved.activation_bytes is not None
    assert saved.activation_bytes.reveal() == theirs
    assert theirs not in repr(saved)


async def test_aax_variant_decodes_with_activation_bytes(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    import av

    client = await registered(sandbox, http, client_clock, store)
    ab = await acct.activation_bytes(client)
    url = await acct.aax_url(client, "B0SPKRD001")
    async with (
        aiohttp.ClientSession() as s,
        s.get(url, headers=acct.aax_headers(client)) as r,
    ):
        assert r.status == 200
        data = await r.read()
    assert data[8:12] == b"aax "
    clear = sandbox.app[STATE_KEY].renditions["B0SPKRD001"].clear_mp4
    decoded = await asyncio.to_thread(_pcm, data, acct.aax_options(ab))
    assert decoded == await asyncio.to_thread(_pcm, clear)
    with pytest.raises(av.error.InvalidDataError):
        await asyncio.to_thread(_pcm, data, {"activation_bytes": "00000000"})
    # A title without an AAX form: the service redirects, then answers an HTML page.
    other = await acct.aax_url(client, "B0SPKRD002")
    async with aiohttp.ClientSession() as s, s.get(other, headers=acct.aax_headers(client)) as r:
        assert r.content_type == "text/html"


def test_activation_blob_round_trip() -> None:
    ab = sandbox_aax.activation_bytes_for("amzn1.account.X")
    assert acct.extract_activation_bytes(sandbox_aax.activation_blob(ab)) == ab.hex()
    with pytest.raises(Exception, match="refused"):
        acct.extract_activation_bytes(b"BAD_LOGIN")
