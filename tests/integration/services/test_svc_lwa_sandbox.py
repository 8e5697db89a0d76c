"""LwaClient against the sandbox: CBL end to end, slow_down, expiry, refresh, rotation."""

from __future__ import annotations

import asyncio
import random
from typing import cast

import pytest

from daemon.contracts import amazon_music as am
from daemon.core.retry import RetryPolicy
from daemon.services import amazon_policy
from daemon.services.lwa import (
    STORE_NAME,
    CodePair,
    CodePairExpired,
    LinkDenied,
    LinkState,
    LwaClient,
    LwaSettings,
    SignInRequired,
)

from .conftest import SEED, MakeEnv, wait_for


async def test_cbl_login_end_to_end(make_env: MakeEnv) -> None:
    env = await make_env()
    shown: list[CodePair] = []

    async def user_enters_code(pair: CodePair) -> None:
        shown.append(pair)
        await env.admin("lwa/approve", {"user_code": pair.user_code})

    await env.lwa.link(user_enters_code)
    assert env.lwa.state is LinkState.LINKED
    assert len(shown) == 1
    assert shown[0].verification_uri == env.sandbox.base_url + "/code"
    assert len(shown[0].user_code) == 6
    assert env.clock.sleeps == [5.0]  # first poll one interval after the code was shown
    stored = env.store.load(STORE_NAME)
    assert stored is not None
    assert stored["access_token"].startswith("Atza|")
    assert stored["refresh_token"].startswith("Atzr|")
    token = await env.lwa.token()
    assert env.sandbox.lwa.account_for(token.reveal()) == "sandbox-user"
    codepair = [r for r in env.requests if r.path == am.LWA_CODEPAIR_PATH]
    assert codepair[0].headers["Accept-Language"] == "en-us"  # AM-C01


async def test_cbl_pending_polls_at_interval_until_approved(make_env: MakeEnv) -> None:
    env = await make_env()
    env.clock.auto_advance = False
    shown: list[CodePair] = []
    task = asyncio.create_task(env.lwa.link(shown.append))
    await wait_for(lambda: len(env.clock.sleeps) == 1)
    for polls in (1, 2, 3):  # the user has not entered the code yet
        env.clock.advance(5)
        await wait_for(lambda n=polls: len(env.clock.sleeps) == n + 1)  # type: ignore[misc]
    await env.admin("lwa/approve", {"user_code": shown[0].user_code})
    env.clock.advance(5)
    await asyncio.wait_for(task, 10)
    assert env.clock.sleeps == [5.0] * 4
    token_polls = [r for r in env.requests if r.path == am.LWA_TOKEN_PATH]
    assert len(token_polls) == 4
    assert env.lwa.state is LinkState.LINKED


async def test_cbl_slow_down_doubles_within_bounds(make_env: MakeEnv) -> None:
    env = await make_env(auto_approve=True)
    await env.admin("lwa/settings", {"force_slow_down": 5})
    await env.lwa.link(lambda pair: None)
    assert env.clock.sleeps == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert env.lwa.state is LinkState.LINKED


async def test_cbl_expiry_stops_with_clear_error(make_env: MakeEnv) -> None:
    env = await make_env(codepair_lifetime_s=30)
    shown: list[CodePair] = []
    with pytest.raises(CodePairExpired) as info:
        await env.lwa.link(shown.append)
    assert "expired" in str(info.value)
    assert "speakerd login amazon" in str(info.value)
    assert env.clock.sleeps == [5.0] * 6
    assert len(shown) == 1
    assert env.lwa.state is LinkState.UNLINKED
    assert env.store.load(STORE_NAME) is None


async def test_cbl_expiry_with_renewal_shows_new_code(make_env: MakeEnv) -> None:
    env = await make_env(codepair_lifetime_s=12)
    shown: list[CodePair] = []
    with pytest.raises(CodePairExpired):
        await env.lwa.link(shown.append, max_code_pairs=3)
    assert len(shown) == 3
    assert len({p.user_code for p in shown}) == 3


async def test_cbl_denied(make_env: MakeEnv) -> None:
    env = await make_env()

    async def user_denies(pair: CodePair) -> None:
        await env.admin("lwa/deny", {"user_code": pair.user_code})

    with pytest.raises(LinkDenied, match="speakerd login amazon"):
        await env.lwa.link(user_denies)


async def test_refresh_rotates_and_persists_latest(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    first = env.store.load(STORE_NAME)
    new_access = await env.lwa.refresh()
    second = env.store.load(STORE_NAME)
    assert first is not None
    assert second is not None
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] == new_access.reveal()
    # the rotated-out refresh token is dead on the server
    resp = await env.http.request(
        "POST",
        env.sandbox.base_url + am.LWA_TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": env.sandbox.lwa_client_id,
        },
    )
    assert resp.status == 400
    assert resp.json_object()["error"] == "invalid_grant"


async def test_concurrent_refreshes_share_one_request(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    before = len([r for r in env.requests if r.path == am.LWA_TOKEN_PATH])
    tokens = await asyncio.gather(*(env.lwa.refresh() for _ in range(8)))
    assert len({t.reveal() for t in tokens}) == 1
    after = len([r for r in env.requests if r.path == am.LWA_TOKEN_PATH])
    assert after - before == 1


async def test_background_refresh_ahead_of_expiry(make_env: MakeEnv) -> None:
    env = await make_env(access_token_lifetime_s=120)
    await env.login()
    linked_at = env.clock.monotonic()
    env.clock.auto_advance = False
    first = await env.lwa.token()
    await env.lwa.start()
    await wait_for(lambda: len(env.clock.sleeps) >= 2)
    assert env.clock.sleeps[-1] == pytest.approx(60.0)  # due 60 s before the 120 s expiry
    env.clock.advance(59)
    for _ in range(20):
        await asyncio.sleep(0)
    assert await env.lwa.token() == first  # valid token: no waiting, no refresh yet
    env.clock.advance(1.5)
    await wait_for(lambda: env.stored_token()["access_token"] != first.reveal())
    second = await env.lwa.token()
    assert second != first
    refreshed_at = env.clock.monotonic()
    assert (linked_at + 120) - refreshed_at >= 30  # AM-C03 / D6: at least 30 s ahead
    assert env.sandbox.lwa.account_for(second.reveal()) == "sandbox-user"


async def test_refresh_failure_backs_off_while_old_token_serves(make_env: MakeEnv) -> None:
    env = await make_env(retry=RetryPolicy(max_attempts=1), access_token_lifetime_s=120)
    await env.login()
    env.clock.auto_advance = False
    first = await env.lwa.token()
    await env.admin(
        "faults", {"kind": "status", "status": 503, "count": 3, "path_prefix": am.LWA_TOKEN_PATH}
    )
    await env.lwa.start()
    await wait_for(lambda: len(env.clock.sleeps) >= 2)
    mark = len(env.clock.sleeps)
    rng = random.Random(SEED)
    expected = [amazon_policy.LWA_RETRY.backoff(i, rng.random()) for i in range(3)]
    env.clock.advance(60)
    stored_before = env.stored_bytes()
    for _ in range(200):
        if env.stored_token()["access_token"] != first.reveal():
            break
        assert await env.lwa.token() == first  # the old token still serves
        assert env.stored_bytes() == stored_before  # failures never touch the store
        env.clock.advance(0.25)
        await asyncio.sleep(0.01)
    assert env.stored_token()["access_token"] != first.reveal()
    assert env.clock.sleeps[mark : mark + 3] == pytest.approx(expected)
    assert env.lwa.state is LinkState.LINKED


async def test_revoked_refresh_token_means_sign_in_again(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    await env.lwa.start()
    before = env.stored_bytes()
    await env.admin("lwa/revoke", {})
    with pytest.raises(SignInRequired, match="Amazon sign-in expired: run `speakerd login amazon`"):
        await env.lwa.refresh()
    assert env.lwa.state is LinkState.SIGN_IN_REQUIRED
    assert env.stored_bytes() == before
    with pytest.raises(SignInRequired):
        await env.lwa.token()
    # login again replaces the dead credentials
    await env.login()
    assert cast(LinkState, env.lwa.state) is LinkState.LINKED
    assert env.stored_bytes() != before


async def test_restart_with_clock_in_the_past_refreshes(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    env.clock.set_wall(946_684_800.0)  # booted without RTC: 2000-01-01
    restarted = LwaClient(
        http=env.http,
        store=env.store,
        clock=env.clock,
        settings=LwaSettings(client_id=env.sandbox.lwa_client_id, base_url=env.sandbox.base_url),
    )
    token = await restarted.token()
    stored = env.store.load(STORE_NAME)
    assert stored is not None
    assert stored["access_token"] == token.reveal()
    assert stored["expires_at"] is None
    await restarted.aclose()


async def test_terminal_login(make_env: MakeEnv) -> None:
    import io

    from daemon.services import login_amazon

    env = await make_env(auto_approve=True)
    out, err = io.StringIO(), io.StringIO()
    assert await login_amazon.run(env.lwa, out=out, err=err) == 0
    text = out.getvalue()
    assert env.sandbox.base_url + "/code" in text
    assert "Linked." in text
    env2 = await make_env(codepair_lifetime_s=10)
    out, err = io.StringIO(), io.StringIO()
    code = await login_amazon.run(env2.lwa, out=out, err=err)
    assert code != 0
    assert "expired" in err.getvalue()


def test_login_parser() -> None:
    import argparse

    from daemon.services import login_amazon

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what")
    login_amazon.add_parser(sub)
    assert parser.parse_args(["amazon", "--codes", "3"]).codes == 3
