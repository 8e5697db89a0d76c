"""LWA code-based linking against the sandbox with a plain aiohttp client (spec §2)."""

from __future__ import annotations

import asyncio

import aiohttp

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.conftest import MakeSandbox
from tests.integration.sandbox_music.sbm_helpers import (
    SCOPE,
    admin,
    auth,
    codepair,
    poll,
    sign_in,
)


async def test_codepair_shape(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    pair = await codepair(http, sandbox)
    assert len(pair["user_code"]) == 6
    assert pair["user_code"].isalpha()
    assert pair["user_code"].isupper()
    assert pair["verification_uri"] == f"{sandbox.base_url}/code"
    assert pair["expires_in"] == 600
    assert pair["interval"] == 1
    assert pair["device_code"]


async def test_cbl_flow_pending_slow_down_approve_token(
        http: aiohttp.ClientSession, make_sandbox: MakeSandbox) -> None:
    sandbox = await make_sandbox(interval_s=2)
    pair = await codepair(http, sandbox)
    status, body = await poll(http, sandbox, pair)
    assert (status, body["error"]) == (400, "authorization_pending")
    status, body = await poll(http, sandbox, pair)  # immediately again: faster than interval
    assert (status, body["error"]) == (400, "slow_down")
    await admin(http, sandbox, "lwa/approve", {"user_code": pair["user_code"]})
    await asyncio.sleep(2.05)
    status, body = await poll(http, sandbox, pair)
    assert status == 200, body
    assert body["access_token"].startswith("Atza|")
    assert len(body["access_token"]) >= 350
    assert body["refresh_token"].startswith("Atzr|")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    async with http.get(sandbox.base_url + "/", headers=auth(body["access_token"])) as r:
        assert r.status == 200
    # The pair is used up.
    await asyncio.sleep(2.05)
    status, body = await poll(http, sandbox, pair)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_expired_pair_is_invalid_code_pair(
        http: aiohttp.ClientSession, make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(codepair_lifetime_s=0.3, interval_s=0.1)
    pair = await codepair(http, sb)
    assert pair["expires_in"] == 1  # at least one whole second on the wire
    await asyncio.sleep(0.4)
    status, body = await poll(http, sb, pair)
    assert (status, body["error"]) == (400, "invalid_code_pair")


async def test_verification_page_is_a_form_that_approves(
        http: aiohttp.ClientSession, make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(interval_s=0.1)
    pair = await codepair(http, sb)
    async with http.get(pair["verification_uri"]) as r:
        page = await r.text()
        assert r.status == 200
        assert r.content_type == "text/html"
        assert '<form method="post"' in page
        assert 'name="user_code"' in page
    async with http.post(pair["verification_uri"], data={"user_code": "ZZZZZZ"}) as r:
        assert r.status == 400
    async with http.post(pair["verification_uri"],
                         data={"user_code": pair["user_code"].lower(), "action": "approve"}) as r:
        assert r.status == 200
        assert "linked" in await r.text()
    status, body = await poll(http, sb, pair)
    assert status == 200, body


async def test_deny_ends_the_pair(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    pair = await codepair(http, sandbox)
    await admin(http, sandbox, "lwa/deny", {"user_code": pair["user_code"]})
    status, body = await poll(http, sandbox, pair)
    assert (status, body["error"]) == (400, "access_denied")


async def test_json_bodies_are_accepted(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    async with http.post(f"{sandbox.base_url}/auth/o2/create/codepair", json={
            "response_type": "device_code", "client_id": sandbox.lwa_client_id,
            "scope": SCOPE, "scope_data": {SCOPE: {"productID": "x"}}}) as r:
        assert r.status == 200
        pair = await r.json()
    async with http.post(f"{sandbox.base_url}/auth/o2/token", json={
            "grant_type": "device_code", "device_code": pair["device_code"],
            "user_code": pair["user_code"]}) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "authorization_pending"


async def test_client_id_allow_list_and_scope(http: aiohttp.ClientSession,
                                              sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/auth/o2/create/codepair"
    cases = [
        ({"response_type": "device_code", "client_id": "amzn1.other", "scope": SCOPE},
         "unauthorized_client"),
        ({"response_type": "device_code", "client_id": sandbox.lwa_client_id,
          "scope": "music::catalog"}, "invalid_scope"),
        ({"response_type": "code", "client_id": sandbox.lwa_client_id, "scope": SCOPE},
         "invalid_request"),
        ({"client_id": sandbox.lwa_client_id, "scope": SCOPE}, "invalid_request"),
    ]
    for data, error in cases:
        async with http.post(url, data=data) as r:
            assert r.status == 400
            body = await r.json()
            assert body["error"] == error, (data, body)
            assert body["error_description"]
    async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}
                         ) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "invalid_request"
    async with http.post(f"{sandbox.base_url}/auth/o2/token",
                         data={"grant_type": "password"}) as r:
        assert (await r.json())["error"] == "unsupported_grant_type"


async def test_refresh_rotates_and_old_token_fails(http: aiohttp.ClientSession,
                                                   sandbox: Sandbox) -> None:
    first = await sign_in(http, sandbox)
    url = f"{sandbox.base_url}/auth/o2/token"
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
            "client_id": sandbox.lwa_client_id}
    async with http.post(url, data=form) as r:
        assert r.status == 200
        second = await r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    async with http.post(url, data=form) as r:
        assert (r.status, (await r.json())["error"]) == (400, "invalid_grant")
    # A refresh token is bound to its client id.
    async with http.post(url, data={**form, "refresh_token": second["refresh_token"],
                                    "client_id": "amzn1.other"}) as r:
        assert (await r.json())["error"] == "unauthorized_client"


async def test_refresh_without_rotation_keeps_token(http: aiohttp.ClientSession,
                                                    make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(rotate_refresh=False)
    first = await sign_in(http, sb)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
            "client_id": sb.lwa_client_id}
    for _ in range(2):
        async with http.post(f"{sb.base_url}/auth/o2/token", data=form) as r:
            assert r.status == 200
            assert (await r.json())["refresh_token"] == first["refresh_token"]


async def test_revoke_makes_refresh_invalid_grant(http: aiohttp.ClientSession,
                                                  sandbox: Sandbox) -> None:
    tokens = await sign_in(http, sandbox)
    await admin(http, sandbox, "lwa/revoke", {"refresh_token": tokens["refresh_token"]})
    async with http.post(f"{sandbox.base_url}/auth/o2/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": sandbox.lwa_client_id}) as r:
        assert (r.status, (await r.json())["error"]) == (400, "invalid_grant")


async def test_short_access_token_lifetime_gives_401(http: aiohttp.ClientSession,
                                                    make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(access_token_lifetime_s=1.5)
    tokens = await sign_in(http, sb)
    assert tokens["expires_in"] == 1
    async with http.get(sb.base_url + "/", headers=auth(tokens["access_token"])) as r:
        assert r.status == 200
    await asyncio.sleep(1.6)
    async with http.get(sb.base_url + "/", headers=auth(tokens["access_token"])) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        body = await r.json()
        assert body["error"] == "invalid_token"
        assert body["message"]


async def test_forced_slow_down_and_settings_hook(http: aiohttp.ClientSession,
                                                  sandbox: Sandbox) -> None:
    pair = await codepair(http, sandbox)
    await admin(http, sandbox, "lwa/settings", {"force_slow_down": 1})
    _status, body = await poll(http, sandbox, pair)
    assert body["error"] == "slow_down"
    async with http.post(f"{sandbox.base_url}/_sandbox/lwa/settings",
                         json={"interval_s": "fast"}) as r:
        assert r.status == 400
        assert "interval_s" in (await r.json())["message"]


async def test_auto_approve_signs_in_without_a_person(http: aiohttp.ClientSession,
                                                      make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(auto_approve=True, admin_enabled=False)
    pair = await codepair(http, sb)
    status, body = await poll(http, sb, pair)
    assert status == 200, body
    async with http.post(f"{sb.base_url}/_sandbox/lwa/approve", json={}) as r:
        assert r.status == 404  # hooks are off unless enabled


async def test_oversized_body_is_413(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    async with http.post(f"{sandbox.base_url}/auth/o2/token",
                         data=b"a=" + b"x" * (1024 * 1024 + 10),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 413
        assert "message" in await r.json() or "error" in await r.json()


async def test_scope_data_must_be_a_json_object(http: aiohttp.ClientSession,
                                                sandbox: Sandbox) -> None:
    form = {"response_type": "device_code", "client_id": sandbox.lwa_client_id, "scope": SCOPE}
    async with http.post(f"{sandbox.base_url}/auth/o2/create/codepair", data={
            **form, "scope_data": '{"amazon_music:access": {"productID": "speaker"}}'}) as r:
        assert r.status == 200
    async with http.post(f"{sandbox.base_url}/auth/o2/create/codepair",
                         data={**form, "scope_data": "{broken"}) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "invalid_request"
