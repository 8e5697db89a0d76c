"""The daemon's Audible client against the sandbox on loopback."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_sandbox_helpers import OffsetClock

from daemon.core.errors import AuthError, LicenseError, TransportError
from daemon.core.redact import Secret
from daemon.sandbox.audible import STATE_KEY, choices
from daemon.services.audible import (
    AudibleClient,
    AudibleNotFound,
    Endpoints,
    LoginResult,
    form_login,
    get_locale,
    policy,
    start_external_login,
)
from daemon.services.audible.transport import AudibleBadRequest
from daemon.services.http import HttpClient
from daemon.state.secrets import SecretStore


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def hook(server: TestServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{base(server)}/_sandbox/audible/{path}", json=body) as r,
    ):
        assert r.status == 200, await r.text()
        result: dict[str, Any] = await r.json()
        return result


async def phone_login(server: TestServer, locale: str = "us") -> LoginResult:
    """The scripted phone: opens the sign-in URL, returns the maplanding URL."""
    pending = start_external_login(get_locale(locale), Endpoints.sandbox(base(server)))
    landed = await hook(server, "login/approve", {"signin_url": pending.signin_url})
    return pending.complete(base(server) + landed["maplanding_url"])


async def registered(
    server: TestServer,
    http: HttpClient,
    clock: OffsetClock,
    store: SecretStore | None = None,
    locale: str = "us",
) -> AudibleClient:
    login = await phone_login(server, locale)
    return await AudibleClient.register(
        login, http=http, clock=clock, endpoints=Endpoints.sandbox(base(server)), store=store
    )


async def test_register_saves_session_and_restore_signs(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    client = await registered(sandbox, http, client_clock, store)
    assert client.session.customer_id.startswith("amzn1.account.")
    saved = store.load(policy.SESSION_SECRET_NAME)
    assert saved is not None
    assert saved["adp_token"] == client.session.adp_token.reveal()
    restored = await AudibleClient.restore(
        store, http=http, clock=client_clock, endpoints=Endpoints.sandbox(base(sandbox))
    )
    items, token = await restored.library()
    assert {i["asin"] for i in items} == {"B0SPKRD001", "B0SPKRD002", "B0SPKRD003"}
    assert token is not None
    assert len(token) == 13


async def test_library_paging_collects_every_page(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    first = await client.library_page(page=1, num_results=1)
    assert first.total_count == 3
    assert len(first.items) == 1
    items, _ = await client.library(num_results=1)
    assert len(items) == 3
    assert len({i["asin"] for i in items}) == 3
    parts, _ = await client.library(parent_asin="B0SPKRD003")
    assert [p["asin"] for p in parts] == ["B0SPKRD03A", "B0SPKRD03B"]
    with pytest.raises(AudibleBadRequest, match="Invalid response group"):
        await client.library_page(response_groups=["nonsense"])


async def test_marketplace_comes_from_the_locale(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock, locale="uk")
    items, _ = await client.library()
    assert [i["asin"] for i in items] == ["B0SPKRD004"]
    with pytest.raises(AudibleNotFound):
        await client.library_item("B0SPKRD001")  # a `us` purchase


async def test_item_catalog_metadata(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    item = await client.library_item("B0SPKRD001")
    assert item["title"] == "The Quiet Tone"
    product = await client.catalog_product("B0SPKRD003")
    assert product["content_delivery_type"] == "MultiPartBook"
    meta = await client.content_metadata("B0SPKRD001")
    assert [ch["title"] for ch in meta["chapter_info"]["chapters"]] == [
        "Opening Credits",
        "Chapter 1",
        "Chapter 2",
    ]
    with pytest.raises(AudibleNotFound):
        await client.catalog_product("B0NOSUCH00")


async def test_refresh_before_the_hour_runs_out_single_flight(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    client = await registered(sandbox, http, client_clock, store)
    first = client.session.access_token
    assert await client.access_token() == first  # fresh: no refresh
    # 3350 s later the token has < REFRESH_MARGIN left: refresh, once for many callers.
    client_clock.offset = 3350
    sandbox.app[STATE_KEY].toggles.clock_offset = 3350
    tokens = await asyncio.gather(*(client.access_token() for _ in range(5)))
    assert len(set(tokens)) == 1
    assert tokens[0] != first
    saved = store.load(policy.SESSION_SECRET_NAME)
    assert saved is not None
    assert saved["access_token"] == tokens[0].reveal()
    profile = await client.user_profile()
    assert profile["user_id"] == client.session.customer_id


async def test_actor_mode_refresh(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    await hook(sandbox, "toggles", {"actor_mode": True})
    before = client.session.access_token
    await client.refresh_access_token()
    assert client.session.access_token != before
    assert client.session.access_token.reveal().startswith("Atna|")


async def test_failed_refresh_keeps_stored_credentials(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    client = await registered(sandbox, http, client_clock, store)
    before = store.load(policy.SESSION_SECRET_NAME)
    await hook(sandbox, "registrations/revoke", {})
    with pytest.raises(AuthError) as caught:
        await client.refresh_access_token()
    assert "run `speakerd login audible`" in str(caught.value)
    assert store.load(policy.SESSION_SECRET_NAME) == before
    with pytest.raises(AuthError, match="Audible sign-in expired"):
        await client.library_page()


async def test_licence_voucher_decrypts_to_the_served_key(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    import av

    client = await registered(sandbox, http, client_clock)
    licence = await client.licence_request("B0SPKRD001")
    assert licence.drm_type == "Adrm"
    assert licence.chapter_info is not None
    assert len(licence.chapter_info["chapters"]) == 3
    assert "B0SPKRD001" in repr(licence)
    assert licence.license_response is not None
    assert licence.license_response.reveal() not in repr(licence)
    key = await client.content_key(licence)
    served = sandbox.app[STATE_KEY].renditions["B0SPKRD001"]
    assert (key.key, key.iv) == (served.key, served.iv)
    assert licence.offline_url is not None
    async with aiohttp.ClientSession() as s, s.get(licence.offline_url) as r:
        aaxc = await r.read()
    with av.open(io.BytesIO(aaxc), "r", options=key.ffmpeg_options()) as container:
        frames = sum(f.samples for f in container.decode(audio=0))
    assert frames > 0
    # Another device (other serial) cannot decrypt this voucher.
    other = await registered(sandbox, http, client_clock)
    with pytest.raises(LicenseError):
        await other.content_key(licence)


async def test_multipart_parent_denied_parts_granted(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    with pytest.raises(LicenseError, match="ContentEligibility"):
        await client.licence_request("B0SPKRD003")
    part = await client.licence_request("B0SPKRD03B")
    assert part.drm_type == "Adrm"


async def test_throttled_licences_back_off(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    await hook(sandbox, "throttle", {"after": 0})
    with pytest.raises(LicenseError, match="CustomerThrottled"):
        await client.licence_request("B0SPKRD002")
    count = sandbox.app[STATE_KEY].registrations[client.session.adp_token.reveal()].licence_count
    with pytest.raises(LicenseError, match="throttling"):
        await client.licence_request("B0SPKRD002")
    after = sandbox.app[STATE_KEY].registrations[client.session.adp_token.reveal()].licence_count
    assert after == count  # the second call never reached the service


async def test_positions_push_and_read(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    licence = await client.licence_request("B0SPKRD002")
    before = await client.last_positions(["B0SPKRD002"])
    assert before["B0SPKRD002"].position_ms is None
    await client.set_last_position("B0SPKRD002", licence.acr, 1234)
    after = await client.last_positions([f"B0SPKRD{n:03d}" for n in range(30)] + ["B0SPKRD002"])
    assert after["B0SPKRD002"].position_ms == 1234
    assert after["B0SPKRD002"].last_updated is not None
    assert len(after) == 30  # 31 asked (one twice) in batches of 25
    with pytest.raises(AudibleBadRequest, match="acr"):
        await client.set_last_position("B0SPKRD002", "CR!NOTTHEFILE", 1)


async def test_clock_far_off_gives_a_clock_message(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    client_clock.offset = -20 * 60
    with pytest.raises(AuthError, match="clock is about 20 min off"):
        await client.library_page()
    client_clock.offset = 10 * 60  # inside the ±15 min tolerance
    page = await client.library_page()
    assert page.total_count == 3


@pytest.mark.parametrize("status", [200, 503])
async def test_html_page_and_server_errors_are_transport_errors(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, status: int
) -> None:
    client = await registered(sandbox, http, client_clock)
    await hook(sandbox, "faults", {"status": status, "count": 1})
    with pytest.raises(TransportError):
        await client.library_page()
    assert (await client.library_page()).total_count == 3  # the fault was transient


async def test_deregister_kills_the_registration(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    client = await registered(sandbox, http, client_clock)
    await client.deregister()
    with pytest.raises(AuthError, match="speakerd login audible"):
        await client.library_page()


async def test_form_login_with_captcha_and_otp_callbacks(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    await hook(sandbox, "toggles", {"captcha": True, "otp": True})
    asked: list[str] = []

    async def captcha(url: str) -> str:
        asked.append(url)
        return choices.SANDBOX_CAPTCHA_ANSWER

    def otp() -> str:
        asked.append("otp")
        return choices.SANDBOX_OTP_CODE

    endpoints = Endpoints.sandbox(base(sandbox))
    login = await form_login(
        http,
        get_locale("us"),
        endpoints,
        "listener@example.com",
        Secret("sandbox-password"),
        captcha_callback=captcha,
        otp_callback=otp,
    )
    assert asked[0].endswith(".jpg")
    assert asked[-1] == "otp"
    client = await AudibleClient.register(login, http=http, clock=client_clock, endpoints=endpoints)
    assert (await client.library_page()).total_count == 3


async def test_form_login_wrong_password_and_wrong_otp(
    sandbox: TestServer, http: HttpClient
) -> None:
    endpoints = Endpoints.sandbox(base(sandbox))
    with pytest.raises(AuthError, match="password is incorrect"):
        await form_login(http, get_locale("us"), endpoints, "listener@example.com", Secret("x"))
    await hook(sandbox, "toggles", {"otp": True})
    with pytest.raises(AuthError, match="one-time code"):
        await form_login(
            http,
            get_locale("us"),
            endpoints,
            "listener@example.com",
            Secret("sandbox-password"),
            otp_callback=lambda: "000000",
        )


async def test_expired_or_reused_code_is_a_person_readable_error(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    login = await phone_login(sandbox)
    endpoints = Endpoints.sandbox(base(sandbox))
    await AudibleClient.register(login, http=http, clock=client_clock, endpoints=endpoints)
    with pytest.raises(AuthError, match="paste the address within a few minutes"):
        await AudibleClient.register(login, http=http, clock=client_clock, endpoints=endpoints)


async def test_login_cli_runs_external_login(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    from daemon.services.audible import login_cli

    out, err = io.StringIO(), io.StringIO()

    async def phone(_prompt: str) -> str:
        urls = [line.strip() for line in out.getvalue().splitlines() if "/ap/signin?" in line]
        url = urls[-1]  # the address printed by this run
        landed: dict[str, str] = await hook(sandbox, "login/approve", {"signin_url": url})
        return base(sandbox) + landed["maplanding_url"]

    code = await login_cli.run(
        locale_code="us",
        http=http,
        clock=client_clock,
        endpoints=Endpoints.sandbox(base(sandbox)),
        store=store,
        prompt=phone,
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    assert "Signed in to Audible (us) as Alice Example" in out.getvalue()
    saved = store.load(policy.SESSION_SECRET_NAME)
    assert saved is not None
    assert saved["locale_code"] == "us"
    again = await login_cli.run(
        locale_code="us",
        http=http,
        clock=client_clock,
        endpoints=Endpoints.sandbox(base(sandbox)),
        store=store,
        prompt=phone,
        out=out,
        err=err,
    )
    assert again == 0
    assert "already signed in" in out.getvalue()
    bad = await login_cli.run(
        locale_code="us",
        http=http,
        clock=client_clock,
        endpoints=Endpoints.sandbox(base(sandbox)),
        store=store,
        force=True,
        prompt=lambda _p: asyncio.sleep(0, result="https://www.amazon.com/ap/maplanding?x=1"),
        out=out,
        err=err,
    )
    assert bad != 0
    assert "no authorization code" in err.getvalue()
    assert store.load(policy.SESSION_SECRET_NAME) == saved  # a failed login keeps the old data
    restored = await AudibleClient.restore(
        store, http=http, clock=client_clock, endpoints=Endpoints.sandbox(base(sandbox))
    )
    assert (await restored.library_page()).total_count == 3  # ...and it still works
    # --force with a good login replaces the session and retires the old registration.
    forced = await login_cli.run(
        locale_code="us",
        http=http,
        clock=client_clock,
        endpoints=Endpoints.sandbox(base(sandbox)),
        store=store,
        force=True,
        prompt=phone,
        out=out,
        err=err,
    )
    assert forced == 0, err.getvalue()
    new = store.load(policy.SESSION_SECRET_NAME)
    assert new is not None
    assert new["adp_token"] != saved["adp_token"]
    with pytest.raises(AuthError):
        await restored.library_page()


async def test_licence_cache_reuses_until_expiry(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore
) -> None:
    client = await registered(sandbox, http, client_clock, store)
    reg = sandbox.app[STATE_KEY].registrations[client.session.adp_token.reveal()]
    first = await client.licence("B0SPKRD002")
    assert reg.licence_count == 1
    again = await client.licence("B0SPKRD002")
    assert reg.licence_count == 1  # served from the encrypted cache
    assert again.license_response == first.license_response
    assert (await client.content_key(again)) == (await client.content_key(first))
    # Near the URL's expiry (1 h in the sandbox) the cache is not trusted any more.
    client_clock.offset = 3600 - 300
    sandbox.app[STATE_KEY].toggles.clock_offset = 3600 - 300
    await client.licence("B0SPKRD002")
    assert reg.licence_count == 2
    # Another device (same account) never reuses this device's voucher.
    other = await registered(sandbox, http, client_clock, store)
    licence = await other.licence("B0SPKRD002")
    assert sandbox.app[STATE_KEY].registrations[other.session.adp_token.reveal()].licence_count == 1
    await other.content_key(licence)  # decrypts: it was issued to `other`


async def test_form_login_init_cookies_avoid_the_captcha(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock
) -> None:
    await hook(sandbox, "toggles", {"captcha_without_init_cookies": True})

    def no_captcha(_url: str) -> str:
        raise AssertionError("CAPTCHA asked although the init cookies were sent")

    login = await form_login(
        http,
        get_locale("us"),
        Endpoints.sandbox(base(sandbox)),
        "listener@example.com",
        Secret("sandbox-password"),
        captcha_callback=no_captcha,
    )
    assert login.authorization_code.reveal()
    # A plain client without the cookies does get the CAPTCHA page.
    async with aiohttp.ClientSession() as s:
        pending = start_external_login(get_locale("us"), Endpoints.sandbox(base(sandbox)))
        async with s.get(pending.signin_url) as r:
            page = await r.text()
        session = page.split('name="session" value="', 1)[1].split('"', 1)[0]
        form = {"session": session, "email": "listener@example.com", "password": "sandbox-password"}
        async with s.post(f"{base(sandbox)}/ap/signin", data=form) as r:
            assert "CAPTCHA" in await r.text()
