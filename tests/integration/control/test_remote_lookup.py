"""`speakerd remote discover` and name resolution through mDNS, against the real announcer
on the loopback interface; network failures end in one sentence, never a traceback."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from daemon.cli import build_parser
from daemon.control import lookup, remote_cli
from daemon.control.client import RemoteError
from daemon.core.clock import SystemClock
from daemon.core.config import DiscoveryConfig
from daemon.core.redact import Secret
from daemon.discovery.announcer import SERVICE_TYPE, Announcer, AnnouncerTuning

LO = ["127.0.0.1"]


def test_the_client_browses_the_type_the_announcer_registers() -> None:
    assert lookup.SERVICE_TYPE == SERVICE_TYPE


async def test_discover_and_resolve_a_speaker_on_the_lan(tmp_path: Path) -> None:
    tag = secrets.token_hex(4)
    announcer = Announcer(tmp_path / "state", SystemClock(),
                          DiscoveryConfig(interfaces=("lo",), ip_version="v4"),
                          model="speakerd",
                          tuning=AnnouncerTuning(host_label=f"spk-{tag}", poll_interval_s=0.2),
                          name=f"Kitchen {tag}", port=7443, device_id=tag, pairing_open=True)
    try:
        await announcer.start()
        found = [f for f in await lookup.discover(2.0, interfaces=LO)
                 if f.name == f"Kitchen {tag}"]
        assert len(found) == 1
        assert found[0].port == 7443
        assert "127.0.0.1" in found[0].addresses
        assert found[0].properties["id"] == tag
        # an instance name and the speaker's .local host name both resolve without nss-mdns
        assert await lookup.resolve(f"Kitchen {tag}", interfaces=LO) == "127.0.0.1"
        assert await lookup.resolve(f"spk-{tag}.local", interfaces=LO) == "127.0.0.1"
    finally:
        await announcer.aclose()


async def test_an_unknown_name_is_one_sentence() -> None:
    assert await lookup.resolve("127.0.0.1") == "127.0.0.1"
    with pytest.raises(RemoteError, match="cannot find nobody-"):
        await lookup.resolve(f"nobody-{secrets.token_hex(3)}.local", 0.5, interfaces=LO)


def test_an_unreachable_speaker_is_one_sentence(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["remote", "--config-dir", str(tmp_path), "pair",
                                      "127.0.0.1:9"])
    assert remote_cli.run(args, code=Secret("48151623")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("speakerd remote: cannot reach the speaker at 127.0.0.1:9")
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
