"""`speakerd remote` against a real server: pair, then pinned verbs."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest

from daemon.control import remote_cli
from daemon.control.client import RemoteError
from daemon.core.redact import Secret
from daemon.playback.commands import SetVolume
from tests.integration.control.conftest import Rig


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="speakerd")
    remote_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


async def test_remote_pair_then_verbs(rig: Rig, tmp_path: Path) -> None:
    cfg = str(tmp_path / "cfg")
    args = parse("remote", "--config-dir", cfg, "pair", f"127.0.0.1:{rig.server.https_port}",
                 "--name", "laptop")
    result = await remote_cli._run(args, Secret(rig.code))
    assert result["fingerprint"] == rig.server.fingerprint
    stored = Path(result["stored"])
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    await remote_cli._run(parse("remote", "--config-dir", cfg, "volume", "42"), None)
    assert rig.player.commands == [SetVolume(42)]
    status = await remote_cli._run(parse("remote", "--config-dir", cfg, "status"), None)
    assert status["volume"] == 42
    phones = await remote_cli._run(parse("remote", "--config-dir", cfg, "phones"), None)
    assert [p["name"] for p in phones["phones"]] == ["laptop"]
    with pytest.raises(RemoteError, match="nothing_loaded"):
        await remote_cli._run(parse("remote", "--config-dir", cfg, "next"), None)


async def test_remote_without_pairing_explains(tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="remote pair"):
        await remote_cli._run(parse("remote", "--config-dir", str(tmp_path / "none"), "status"),
                              None)


def test_remote_run_reports_errors_with_status_1(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("remote", "--config-dir", str(tmp_path / "none"), "pause")
    assert remote_cli.run(args) == 1
    assert "remote pair" in capsys.readouterr().err
