"""HttpClient against a scripted loopback server: retries, backoff, translation, keep-alive."""

from __future__ import annotations

import random
import socket
from typing import Any

import pytest

from daemon.core.errors import AuthError, ProtocolError, RateLimited, TransportError
from daemon.core.redact import Secret
from daemon.core.retry import NO_RETRY, RetryPolicy
from daemon.services.http import HttpClient, Timeouts, safe_url
from tests.support.clock import FakeClock

SEED = 1234


def expected_delays(policy: RetryPolicy, n: int, seed: int = SEED) -> list[float]:
    rng = random.Random(seed)
    return [policy.backoff(i, rng.random()) for i in range(n)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(auto_advance=True)


def make_client(clock: FakeClock, **kw: Any) -> HttpClient:
    kw.setdefault("timeouts", Timeouts(connect=2, read=2, request=5))
    return HttpClient(clock=clock, rng=random.Random(SEED), **kw)


async def test_5xx_then_success_sleeps_exact_backoff(scripted: Any, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, factor=2.0, max_delay=60.0)
    scripted.script("/doc", ("status", 503), ("status", 500), ("status", 502))
    async with make_client(clock, retry=policy) as http:
        resp = await http.request("GET", scripted.base_url + "/doc")
    assert resp.status == 200
    assert resp.attempts == 4
    assert scripted.count("/doc") == 4
    assert clock.sleeps == pytest.approx(expected_delays(policy, 3))
    # full jitter: each delay lies within [0, base * 2**n]
    for n, delay in enumerate(clock.sleeps):
        assert 0.0 <= delay <= 2.0**n


async def test_proportional_jitter_stays_within_half(scripted: Any, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=4, full_jitter=False, jitter=0.5, total=1000)
    scripted.script("/doc", ("status", 503), ("status", 503), ("status", 503))
    async with make_client(clock, retry=policy) as http:
        assert (await http.request("GET", scripted.base_url + "/doc")).ok
    assert clock.sleeps == pytest.approx(expected_delays(policy, 3))
    for n, delay in enumerate(clock.sleeps):
        assert 0.5 * 2**n <= delay <= 1.5 * 2**n


async def test_gives_up_after_max_attempts(scripted: Any, clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=3)
    scripted.script("/doc", *[("status", 503)] * 10)
    async with make_client(clock, retry=policy) as http:
        with pytest.raises(TransportError) as info:
            await http.request("GET", scripted.base_url + "/doc?t=SIGNATURE")
    assert scripted.count("/doc") == 3
    assert len(clock.sleeps) == 2
    assert info.value.fields["status"] == 503
    assert info.value.fields["attempts"] == 3
    assert "SIGNATURE" not in str(info.value)


async def test_total_time_cap_stops_before_attempt_cap(scripted: Any, clock: FakeClock) -> None:
    # nominal delays 2, 4, 8 with zero jitter; a 5 s budget allows only the first wait
    policy = RetryPolicy(max_attempts=10, base_delay=2, full_jitter=False, jitter=0.0, total=5)
    scripted.script("/doc", *[("status", 500)] * 10)
    async with make_client(clock, retry=policy) as http:
        with pytest.raises(TransportError):
            await http.request("GET", scripted.base_url + "/doc")
    assert clock.sleeps == [2.0]
    assert scripted.count("/doc") == 2


async def test_reset_is_retried_for_get(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("reset",), ("reset",))
    async with make_client(clock) as http:
        resp = await http.request("GET", scripted.base_url + "/doc")
    assert resp.ok
    assert scripted.count("/doc") == 3
    assert len(clock.sleeps) == 2


async def test_reset_is_not_retried_for_post(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/event", ("reset",))
    async with make_client(clock) as http:
        with pytest.raises(TransportError):
            await http.request("POST", scripted.base_url + "/event", json_body={"a": 1})
    assert scripted.count("/event") == 1
    assert clock.sleeps == []


async def test_connect_refused_is_retried_even_for_post(clock: FakeClock) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    policy = RetryPolicy(max_attempts=3)
    async with make_client(clock, retry=policy) as http:
        with pytest.raises(TransportError) as info:
            await http.request("POST", f"http://127.0.0.1:{port}/x", data=b"x")
    assert "cannot connect" in str(info.value)
    assert len(clock.sleeps) == 2


async def test_429_honours_retry_after(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 429, {"Retry-After": "7"}))
    async with make_client(clock) as http:
        assert (await http.request("GET", scripted.base_url + "/doc")).ok
    assert clock.sleeps == [7.0]


async def test_429_http_date_retry_after(scripted: Any, clock: FakeClock) -> None:
    import email.utils

    when = email.utils.formatdate(clock.time() + 12, usegmt=True)
    scripted.script("/doc", ("status", 429, {"Retry-After": when}))
    async with make_client(clock) as http:
        assert (await http.request("GET", scripted.base_url + "/doc")).ok
    assert len(clock.sleeps) == 1
    assert 11.0 <= clock.sleeps[0] <= 12.0


async def test_429_without_retry_after_is_not_retried(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 429))
    async with make_client(clock) as http:
        with pytest.raises(RateLimited):
            await http.request("GET", scripted.base_url + "/doc")
    assert scripted.count("/doc") == 1


async def test_retry_after_beyond_cap_gives_up(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 429, {"Retry-After": "3600"}))
    async with make_client(clock, retry=RetryPolicy(max_delay=60)) as http:
        with pytest.raises(RateLimited) as info:
            await http.request("GET", scripted.base_url + "/doc")
    assert info.value.fields["retry_after"] == 3600.0
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410])
async def test_other_4xx_returned_without_retry(
    scripted: Any, clock: FakeClock, status: int
) -> None:
    scripted.script("/doc", ("status", status))
    async with make_client(clock) as http:
        resp = await http.request("GET", scripted.base_url + "/doc")
    assert resp.status == status
    assert scripted.count("/doc") == 1
    assert clock.sleeps == []


class FakeAuth:
    def __init__(self) -> None:
        self.current = Secret("Atza|first")
        self.refreshes = 0

    async def token(self) -> Secret:
        return self.current

    async def refresh_rejected(self, rejected: Secret) -> Secret:
        self.refreshes += 1
        self.current = Secret(f"Atza|refreshed{self.refreshes}")
        return self.current

    def rejected_error(self, url: str) -> AuthError:
        return AuthError("sign in again", url=url)


async def test_401_refreshes_once_then_succeeds(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 401))
    auth = FakeAuth()
    async with make_client(clock) as http:
        resp = await http.request("GET", scripted.base_url + "/doc", auth=auth)
    assert resp.ok
    assert auth.refreshes == 1
    sent = [h.headers["Authorization"] for h in scripted.hits]
    assert sent == ["Bearer Atza|first", "Bearer Atza|refreshed1"]


async def test_second_401_is_auth_error(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 401), ("status", 401), ("status", 401))
    auth = FakeAuth()
    async with make_client(clock) as http:
        with pytest.raises(AuthError):
            await http.request("GET", scripted.base_url + "/doc", auth=auth)
    assert auth.refreshes == 1
    assert scripted.count("/doc") == 2


async def test_401_without_auth_is_returned(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 401))
    async with make_client(clock) as http:
        assert (await http.request("GET", scripted.base_url + "/doc")).status == 401


async def test_html_error_page_and_bad_json_are_protocol_errors(
    scripted: Any, clock: FakeClock
) -> None:
    scripted.script("/html", ("status", 200, {"Content-Type": "text/html"}, b"<html>oops</html>"))
    scripted.script("/bad", ("status", 200, {}, b'{"truncated": '))
    scripted.script("/list", ("status", 200, {}, b"[1, 2]"))
    async with make_client(clock) as http:
        for path in ("/html", "/bad", "/list"):
            resp = await http.request("GET", scripted.base_url + path)
            with pytest.raises(ProtocolError):
                resp.json_object()


async def test_body_size_limit(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/big", ("status", 200, {}, b"x" * 5000))
    async with make_client(clock, max_body=1000) as http:
        with pytest.raises(ProtocolError):
            await http.request("GET", scripted.base_url + "/big")


async def test_read_timeout_is_transport_error(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/slow", ("sleep", 0.6))
    async with make_client(clock, timeouts=Timeouts(connect=1, read=0.1, request=1)) as http:
        with pytest.raises(TransportError) as info:
            await http.request("GET", scripted.base_url + "/slow", retry=NO_RETRY)
    assert "timed out" in str(info.value)


async def test_connections_are_kept_alive(scripted: Any, clock: FakeClock) -> None:
    async with make_client(clock) as http:
        for _ in range(3):
            assert (await http.request("GET", scripted.base_url + "/doc")).ok
    ports = {h.peer_port for h in scripted.hits}
    assert len(ports) == 1


async def test_redirects_are_not_followed(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/old", ("status", 301, {"Location": "/new"}))
    async with make_client(clock) as http:
        resp = await http.request("GET", scripted.base_url + "/old")
    assert resp.status == 301
    assert resp.headers["Location"] == "/new"
    assert scripted.count("/new") == 0


async def test_lifecycle_is_idempotent(clock: FakeClock) -> None:
    http = make_client(clock)
    await http.start()
    await http.start()
    await http.aclose()
    await http.aclose()
    with pytest.raises(RuntimeError):
        await http.start()


def test_safe_url_drops_query_fragment_and_userinfo() -> None:
    assert safe_url("https://u:p@h.example:8443/a/b?t=sig#frag") == "https://h.example:8443/a/b"


def test_api_policy_matches_am_c29() -> None:
    from daemon.services.amazon_policy import API_RETRY

    assert API_RETRY.max_attempts == 5
    for n, unit in enumerate([0.0, 0.25, 0.5, 0.99]):
        # AM-C29: 1 s doubling, ±50 % jitter, capped at 60 s
        nominal = min(60.0, 1.0 * 2.0**n)
        assert API_RETRY.backoff(n, unit) == pytest.approx(nominal * (1 + 0.5 * (2 * unit - 1)))
    assert API_RETRY.backoff(10, 0.99) == pytest.approx(60.0)
    assert API_RETRY.backoff(10, 0.99) <= API_RETRY.max_delay


async def test_stream_reads_incrementally(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/seg", ("status", 206, {"Content-Type": "audio/mp4"}, b"a" * 200_000))
    async with (
        make_client(clock) as http,
        http.stream(
            "GET", scripted.base_url + "/seg", headers={"Range": "bytes=0-"}, auth=FakeAuth()
        ) as resp,
    ):
        assert resp.status == 206
        sizes = [len(c) async for c in resp.iter_chunks(50_000)]
    assert sum(sizes) == 200_000
    assert max(sizes) <= 50_000
    assert scripted.hits[0].headers["Authorization"] == "Bearer Atza|first"
    assert scripted.hits[0].headers["Range"] == "bytes=0-"


async def test_stream_translates_failures(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/seg", ("reset",))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    async with make_client(clock) as http:
        with pytest.raises(TransportError):
            async with http.stream("GET", scripted.base_url + "/seg") as resp:
                await resp.read(10**6)
        with pytest.raises(TransportError, match="cannot connect"):
            async with http.stream("GET", f"http://127.0.0.1:{port}/x"):
                pass
        with pytest.raises(ProtocolError):
            async with http.stream("GET", scripted.base_url + "/big") as resp:
                await resp.read(1)
        with pytest.raises(KeyError):  # the caller's own errors pass through untouched
            async with http.stream("GET", scripted.base_url + "/ok"):
                raise KeyError("mine")


async def test_503_retry_after_is_honoured(scripted: Any, clock: FakeClock) -> None:
    scripted.script("/doc", ("status", 503, {"Retry-After": "3"}), ("status", 503))
    async with make_client(clock, retry=RetryPolicy(max_attempts=3)) as http:
        assert (await http.request("GET", scripted.base_url + "/doc")).ok
    rng = random.Random(SEED)
    assert clock.sleeps == pytest.approx([3.0, RetryPolicy().backoff(1, rng.random())])
