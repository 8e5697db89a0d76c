"""LwaClient against a scripted server: bad answers, stored-credential safety, clock sanity."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest

from daemon.core.errors import ProtocolError
from daemon.core.redact import Secret
from daemon.core.retry import RetryPolicy
from daemon.services.http import HttpClient
from daemon.services.lwa import (
    STORE_NAME,
    LinkState,
    LwaClient,
    LwaConfigError,
    LwaSettings,
    SignInRequired,
)
from daemon.state.secrets import SecretStore
from tests.support.clock import FakeClock

WALL = 1_760_000_000.0  # a plausible wall clock (2025-10)
ACCESS = "Atza|" + "A" * 360
REFRESH = "Atzr|" + "R" * 100
NEW_ACCESS = "Atza|" + "N" * 360
NEW_REFRESH = "Atzr|" + "M" * 100
TOKEN_PATH = "/auth/o2/token"
CODEPAIR_PATH = "/auth/o2/create/codepair"


def good_token(access: str = NEW_ACCESS, refresh: str | None = NEW_REFRESH) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "expires_in": 3600}
    if refresh is not None:
        body["refresh_token"] = refresh
    return body


def lwa_error(code: str, status: int = 400) -> tuple[Any, ...]:
    return ("status", status, {}, json.dumps({"error": code, "error_description": "x"}).encode())


class Env:
    def __init__(self, tmp_path: Path, base_url: str, wall: float = WALL) -> None:
        self.clock = FakeClock(wall=wall, auto_advance=True)
        self.store = SecretStore.open(
            tmp_path / "secrets", key_file=tmp_path / "key" / "k", credentials_dir=tmp_path / "none"
        )
        self.http = HttpClient(
            clock=self.clock, rng=random.Random(1), retry=RetryPolicy(max_attempts=2)
        )
        self.lwa = LwaClient(
            http=self.http,
            store=self.store,
            clock=self.clock,
            settings=LwaSettings(client_id="cid", base_url=base_url),
            rng=random.Random(2),
        )

    def seed_tokens(self, expires_at: float | None, client_id: str = "cid") -> bytes:
        self.store.save(
            STORE_NAME,
            {
                "access_token": ACCESS,
                "refresh_token": REFRESH,
                "expires_at": expires_at,
                "client_id": client_id,
            },
        )
        return self.store.path_of(STORE_NAME).read_bytes()

    def stored_bytes(self) -> bytes:
        return self.store.path_of(STORE_NAME).read_bytes()


@pytest.fixture
async def env(tmp_path: Path, scripted: Any) -> Any:
    e = Env(tmp_path, scripted.base_url)
    await e.http.start()
    yield e
    await e.lwa.aclose()
    await e.http.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        ("status", 200, {"Content-Type": "text/html"}, b"<html>maintenance</html>"),
        ("status", 200, {}, b'{"user_code": "ABCDEF"'),
        ("json", {"user_code": "ABCDEF", "verification_uri": "https://x/code"}),
        (
            "json",
            {
                "user_code": 5,
                "device_code": "d",
                "verification_uri": "u",
                "expires_in": 600,
                "interval": 5,
            },
        ),
        (
            "json",
            {
                "user_code": "A",
                "device_code": "d",
                "verification_uri": "u",
                "expires_in": "600",
                "interval": 5,
            },
        ),
    ],
)
async def test_malformed_codepair_is_protocol_error(
    env: Any, scripted: Any, answer: tuple[Any, ...]
) -> None:
    scripted.script(CODEPAIR_PATH, answer)
    with pytest.raises(ProtocolError):
        await env.lwa.request_code_pair()


async def test_codepair_request_shape(env: Any, scripted: Any) -> None:
    scripted.script(
        CODEPAIR_PATH,
        (
            "json",
            {
                "user_code": "ABCDEF",
                "device_code": "dc",
                "verification_uri": "https://x/code",
                "expires_in": 600,
                "interval": 30,
            },
        ),
    )
    pair = await env.lwa.request_code_pair()
    assert pair.user_code == "ABCDEF"
    assert pair.interval == 30.0
    hit = scripted.hits[0]
    assert hit.headers["Accept-Language"] == "en-us"
    from urllib.parse import parse_qs

    form = parse_qs(hit.body.decode())
    assert form == {
        "response_type": ["device_code"],
        "client_id": ["cid"],
        "scope": ["amazon_music:access"],
    }
    assert "dc" not in repr(pair)


async def test_not_signed_in_message_is_actionable(env: Any) -> None:
    with pytest.raises(SignInRequired, match="speakerd login amazon"):
        await env.lwa.token()


async def test_valid_token_needs_no_request(env: Any, scripted: Any) -> None:
    env.seed_tokens(WALL + 3000)
    assert (await env.lwa.token()).reveal() == ACCESS
    assert scripted.hits == []
    assert env.lwa.expires_in() == pytest.approx(3000)


async def test_expired_token_is_refreshed_and_rotation_persisted(env: Any, scripted: Any) -> None:
    env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, ("json", good_token()))
    assert (await env.lwa.token()).reveal() == NEW_ACCESS
    stored = env.store.load(STORE_NAME)
    assert stored["refresh_token"] == NEW_REFRESH
    assert stored["expires_at"] == pytest.approx(WALL + 3600)
    from urllib.parse import parse_qs

    form = parse_qs(scripted.hits[0].body.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH],
        "client_id": ["cid"],
    }


async def test_refresh_without_new_refresh_token_keeps_old(env: Any, scripted: Any) -> None:
    env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, ("json", good_token(refresh=None)))
    await env.lwa.token()
    assert env.store.load(STORE_NAME)["refresh_token"] == REFRESH


@pytest.mark.parametrize(
    "answer",
    [
        ("status", 200, {"Content-Type": "text/html"}, b"<html>error</html>"),
        ("status", 200, {}, b"{not json"),
        ("json", {"access_token": NEW_ACCESS, "token_type": "bearer"}),
        ("json", {**good_token(), "token_type": "mac"}),
        ("json", {**good_token(), "expires_in": 0}),
        ("json", {**good_token(), "expires_in": "3600"}),
        ("json", [1, 2, 3]),
        ("status", 400, {"Content-Type": "text/html"}, b"<html>bad</html>"),
    ],
)
async def test_bad_refresh_answer_never_touches_stored_credentials(
    env: Any, scripted: Any, answer: tuple[Any, ...]
) -> None:
    before = env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, answer)
    with pytest.raises(ProtocolError):
        await env.lwa.refresh()
    assert env.stored_bytes() == before
    assert env.lwa.state is LinkState.LINKED


async def test_invalid_grant_means_sign_in_again_and_keeps_file(env: Any, scripted: Any) -> None:
    before = env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, lwa_error("invalid_grant"))
    with pytest.raises(SignInRequired, match="Amazon sign-in expired: run `speakerd login amazon`"):
        await env.lwa.token()
    assert env.lwa.state is LinkState.SIGN_IN_REQUIRED
    assert env.stored_bytes() == before
    # no retry loop: the next call answers at once without a request
    with pytest.raises(SignInRequired):
        await env.lwa.token()
    assert scripted.count(TOKEN_PATH) == 1


async def test_invalid_client_is_config_error(env: Any, scripted: Any) -> None:
    env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, lwa_error("invalid_client"))
    with pytest.raises(LwaConfigError) as info:
        await env.lwa.refresh()
    assert info.value.exit_code == 78


async def test_servererror_and_5xx_are_transient(env: Any, scripted: Any) -> None:
    from daemon.core.errors import TransportError

    before = env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, lwa_error("servererror", 500), lwa_error("servererror", 500))
    with pytest.raises(TransportError):
        await env.lwa.refresh()
    assert env.stored_bytes() == before


async def test_clock_in_the_past_refreshes_instead_of_purging(
    tmp_path: Path, scripted: Any
) -> None:
    """A Pi without RTC boots in 2000: stored expiry is unknown, so refresh, never delete."""
    e = Env(tmp_path, scripted.base_url, wall=946_684_800.0)
    e.store.save(
        STORE_NAME,
        {
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "expires_at": WALL + 3000,
            "client_id": "cid",
        },
    )
    scripted.script(TOKEN_PATH, ("json", good_token()))
    async with e.http:
        assert (await e.lwa.token()).reveal() == NEW_ACCESS
        stored = e.store.load(STORE_NAME)
    assert stored is not None
    assert stored["refresh_token"] == NEW_REFRESH
    assert stored["expires_at"] is None  # an implausible clock writes no expiry


async def test_clock_far_ahead_refreshes(tmp_path: Path, scripted: Any) -> None:
    e = Env(tmp_path, scripted.base_url, wall=WALL + 10 * 365 * 86400)
    e.seed_tokens(WALL + 3000)
    scripted.script(TOKEN_PATH, ("json", good_token()))
    async with e.http:
        assert (await e.lwa.token()).reveal() == NEW_ACCESS


async def test_tokens_of_another_client_id_are_not_used(env: Any, scripted: Any) -> None:
    before = env.seed_tokens(WALL + 3000, client_id="someone-else")
    with pytest.raises(SignInRequired):
        await env.lwa.token()
    assert env.stored_bytes() == before
    assert scripted.hits == []


async def test_sign_out_deletes(env: Any) -> None:
    env.seed_tokens(WALL + 3000)
    await env.lwa.token()
    await env.lwa.sign_out()
    assert env.store.load(STORE_NAME) is None
    assert env.lwa.state is LinkState.UNLINKED
    assert env.lwa.expires_in() is None


async def test_refresh_rejected_skips_when_already_refreshed(env: Any, scripted: Any) -> None:
    env.seed_tokens(WALL + 3000)
    current = await env.lwa.token()
    assert await env.lwa.refresh_rejected(Secret("Atza|older")) == current
    assert scripted.hits == []


async def test_unit_flows_leak_no_secret(
    env: Any, scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env.seed_tokens(WALL - 10)
    scripted.script(TOKEN_PATH, ("status", 500), ("json", good_token()))
    await env.lwa.token()
    scripted.script(TOKEN_PATH, lwa_error("invalid_grant"))
    with pytest.raises(SignInRequired) as info:
        await env.lwa.refresh()
    texts = [r.getMessage() for r in caplog.records] + [
        str(info.value),
        repr(info.value),
        repr(env.lwa),
    ]
    for canary in (ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH):
        for text in texts:
            assert canary not in text
            assert canary[5:40] not in text
    raw = b"".join(p.read_bytes() for p in env.store.directory.iterdir())
    for canary in (ACCESS, REFRESH, NEW_ACCESS, NEW_REFRESH):
        assert canary[5:40].encode() not in raw


def test_settings_validation() -> None:
    from daemon.core.errors import ConfigError

    assert LwaSettings(client_id="c", language="de_DE").language == "de-de"
    with pytest.raises(ConfigError):
        LwaSettings(client_id="")
    with pytest.raises(ConfigError):
        LwaSettings(client_id="c", language="klingon")
    with pytest.raises(ConfigError):
        LwaSettings(client_id="c", refresh_head_start_s=10)
