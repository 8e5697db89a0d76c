"""Host/Origin policy, rate limiter, identity persistence, OpenAPI document in docs/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from daemon.control.api import ROUTES
from daemon.control.frontdoor import HostPolicy, RateLimiter, split_host
from daemon.control.identity import load_or_create_identity
from daemon.control.openapi import build_document
from tests.support.clock import FakeClock

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("value", "parsed"), [
    ("Kitchen.local", ("kitchen.local", None)), ("10.0.0.2:8443", ("10.0.0.2", 8443)),
    ("[fe80::1]:8443", ("[fe80::1]", 8443)), ("[::1]", ("[::1]", None)),
    ("localhost.", ("localhost", None)), ("", None), ("a b", None), ("::1", None),
    ("host:0", None), ("host:99999", None), ("host:x", None), ("evil/x", None),
    ("user@host", None), ("[::1", None),
])
def test_split_host(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(value) == parsed


def test_host_policy() -> None:
    policy = HostPolicy(ports=[8443], extra_hosts=["speaker.lan"])
    policy.update(names=["Kitchen-Speaker"], addresses=["192.168.1.5", "fe80::2%wlan0"])
    for ok in ("localhost", "127.0.0.1:8443", "[::1]", "kitchen-speaker.local:8443",
               "192.168.1.5", "[fe80::2]:8443", "speaker.lan"):
        assert policy.host_allowed(ok), ok
    for bad in (None, "", "evil.example", "192.168.1.5:80", "192.168.1.6",
                "kitchen-speaker.local.evil.example", "kitchen-speaker"):
        assert not policy.host_allowed(bad), bad
    assert policy.origin_allowed("https://kitchen-speaker.local:8443")
    assert policy.origin_allowed("https://192.168.1.5")
    for bad in ("null", "http://192.168.1.5:8443", "https://evil.example",
                "https://192.168.1.5:9", "https://192.168.1.5:8443/path", "https://x@localhost"):
        assert not policy.origin_allowed(bad), bad


def test_rate_limiter_refills_with_clock() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, rate=1.0, burst=3)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    clock.advance(1.0)
    assert limiter.allow("a")
    assert not limiter.allow("a")


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def save(self, name: str, value: dict[str, Any]) -> None:
        self.data[name] = json.loads(json.dumps(value))

    def load(self, name: str) -> dict[str, Any] | None:
        return self.data.get(name)


def test_identity_is_created_once_and_reloaded(tmp_path: Path) -> None:
    store = MemoryStore()
    first, created = load_or_create_identity(store, 1_700_000_000)
    again, created_again = load_or_create_identity(store, 1_800_000_000)
    assert created
    assert not created_again
    assert first.fingerprint == again.fingerprint
    assert first.short_id == again.short_id
    assert len(first.fingerprint) == 64
    assert "PRIVATE" not in repr(first)
    ctx = first.ssl_context(tmp_path / "scratch")
    assert ctx.minimum_version.name == "TLSv1_2"
    assert not list((tmp_path).rglob("*.pem"))  # the key never lands on disk


def test_docs_openapi_matches_the_route_table() -> None:
    doc = build_document(ROUTES, "/api/v1", "dev")
    shipped = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert shipped["paths"] == doc["paths"]
    assert shipped["components"] == doc["components"]
    assert doc["openapi"] == "3.1.0"
    public = {p for p, ops in doc["paths"].items() for op in ops.values() if op["security"] == []}
    assert public == {"/api/v1/info", "/api/v1/health", "/api/v1/pair/start",
                      "/api/v1/pair/finish"}
