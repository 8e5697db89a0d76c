"""Pre-Amazon username accounts: every identity call on `audible.{tld}`, us/uk/de only."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import RecordingHttp, base, registered
from audible_sandbox_helpers import OffsetClock

from daemon.core.errors import AuthError, ConfigError
from daemon.core.redact import Secret
from daemon.services.audible import AudibleClient, Endpoints, form_login, get_locale
from daemon.services.audible.login import start_external_login
from daemon.state.secrets import SecretStore


@pytest.fixture
async def rec() -> AsyncIterator[RecordingHttp]:
    client = RecordingHttp()
    await client.start()
    try:
        yield client
    finally:
        await client.aclose()


def _hosts(rec: RecordingHttp, server: TestServer) -> list[tuple[str, str]]:
    return [(url[len(base(server)) :].split("?")[0], h["Host"]) for _m, url, h, _b in rec.sent]


@pytest.mark.parametrize("locale", ["us", "uk", "de"])
async def test_username_account_signs_in_registers_refreshes_and_plays_on_audible_hosts(
    sandbox: TestServer, rec: RecordingHttp, client_clock: OffsetClock, locale: str
) -> None:
    import av

    tld = get_locale(locale).tld
    endpoints = Endpoints.sandbox(base(sandbox))
    login = await form_login(
        rec,
        get_locale(locale),
        endpoints,
        "alice-audible",
        Secret("sandbox-password"),
        with_username=True,
    )
    client = await AudibleClient.register(login, http=rec, clock=client_clock, endpoints=endpoints)
    assert client.session.with_username
    await client.refresh_access_token()
    await client.library_page()
    if locale == "us":  # the fixture's purchases are in the us store
        licence = await client.licence_request("B0SPKRD001")
        key = await client.content_key(licence)
        assert licence.offline_url is not None
        async with aiohttp.ClientSession() as s, s.get(licence.offline_url) as r:
            aaxc = await r.read()
        with av.open(io.BytesIO(aaxc), "r", options=key.ffmpeg_options()) as container:
            assert sum(f.samples for f in container.decode(audio=0)) > 0
    await client.deregister()
    hosts = _hosts(rec, sandbox)
    for path, host in hosts:
        if path.startswith("/ap/"):
            assert host == f"www.audible.{tld}", (path, host)
        else:  # identity calls and the API alike
            assert host == f"api.audible.{tld}", (path, host)
    assert {p for p, _h in hosts} >= {"/ap/signin", "/auth/register", "/auth/token",
                                      "/auth/deregister"}


async def test_username_registration_refused_on_amazon_hosts(
    sandbox: TestServer, http: RecordingHttp, client_clock: OffsetClock
) -> None:
    """The sandbox holds the pools apart: an Amazon-host refresh of a username device fails,
    so a client that sent it there would be caught."""
    client = await registered(sandbox, http, client_clock, with_username=True)
    amazon_view = AudibleClient(
        client.session.__class__(**{
            **{f: getattr(client.session, f) for f in client.session.__slots__},
            "with_username": False,
        }),
        http=http,
        clock=client_clock,
        endpoints=Endpoints.sandbox(base(sandbox)),
    )
    with pytest.raises(AuthError):
        await amazon_view.refresh_access_token()
    await client.refresh_access_token()  # the right host still works


async def test_email_on_the_username_pages_is_refused(
    sandbox: TestServer, http: RecordingHttp
) -> None:
    with pytest.raises(AuthError, match="password is incorrect"):
        await form_login(
            http,
            get_locale("us"),
            Endpoints.sandbox(base(sandbox)),
            "listener@example.com",
            Secret("sandbox-password"),
            with_username=True,
        )


@pytest.mark.parametrize("locale", ["fr", "jp", "ca"])
def test_username_elsewhere_is_one_clear_sentence(locale: str, tmp_path: object) -> None:
    with pytest.raises(ConfigError) as caught:
        start_external_login(
            get_locale(locale), Endpoints.sandbox("http://127.0.0.1:1"), with_username=True
        )
    text = str(caught.value)
    assert "exist only on the de, uk, us marketplaces" in text
    assert repr(locale) in text


async def test_stored_username_session_elsewhere_is_damaged(store: SecretStore) -> None:
    from daemon.services.audible import AudibleSession

    data = {
        "device_serial": "S", "device_info": {"device_type": "T"},
        "customer_info": {"user_id": "u"}, "adp_token": "{enc:a}{key:b}{iv:c}{name:d}{serial:e}",
        "device_private_key": "k", "refresh_token": "r", "access_token": "a", "expires": 1.0,
        "locale_code": "fr", "with_username": True,
    }
    with pytest.raises(AuthError, match="damaged"):
        AudibleSession.from_json(data)
