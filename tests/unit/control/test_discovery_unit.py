"""Static checks of what the announcer publishes (battery F7) and name handling."""

from __future__ import annotations

import pytest

from daemon.discovery.announcer import (
    MAX_TXT_BYTES,
    DiscoveryError,
    build_txt,
    instance_name,
    numbered,
)
from daemon.discovery.netwatch import current_addresses


def test_txt_is_small_public_and_versioned() -> None:
    txt = build_txt("0a1b2c3d4e5f", pairing_open=True, model="speakerd")
    size = sum(1 + len(k) + 1 + len(v.encode()) for k, v in txt.items())
    assert size <= MAX_TXT_BYTES
    assert all(len(k) <= 9 for k in txt)
    assert txt["v"] == "1"
    assert txt["pair"] == "1"
    assert set(txt) == {"v", "id", "md", "path", "api", "pair"}
    assert build_txt("x", pairing_open=False, model="speakerd")["pair"] == "0"
    with pytest.raises(DiscoveryError):
        build_txt("x", pairing_open=False, model="m" * 250)


def test_instance_names_fit_63_bytes() -> None:
    long = "Küche " * 20
    assert len(instance_name(long).encode()) <= 63
    assert instance_name("  Living   room ") == "Living room"
    assert numbered("Kitchen", 2) == "Kitchen (2)"
    assert len(numbered(long, 12).encode()) <= 63
    assert numbered(long, 12).endswith(" (12)")


def test_interface_allowlist_excludes_unlisted_and_virtual() -> None:
    assert current_addresses(("no-such-if0",), "both") == {}
    everything = current_addresses("all", "both")
    assert not any(name.startswith(("lo", "docker", "veth")) for name in everything)
    assert all(a != "127.0.0.1" for addrs in everything.values() for a in addrs)
    assert current_addresses(("lo",), "v4").get("lo") == ["127.0.0.1"]
