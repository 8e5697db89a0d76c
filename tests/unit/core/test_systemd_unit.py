"""The shipped unit passes systemd's own offline checks (spec: lan-security §5.5)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNIT = ROOT / "systemd" / "speakerd.service"
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def _verify_root(tmp_path: Path, unit_text: str) -> Path:
    """A root holding the stock unit tree, the unit, and stub executables for ExecStart."""
    root = tmp_path / "root"
    for tree in ("usr/lib/systemd", "lib/systemd", "etc/systemd"):
        src = Path("/") / tree
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, root / tree, symlinks=True, dirs_exist_ok=True)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system/speakerd.service").write_text(unit_text)
    for binary in ("usr/bin/speakerd", "bin/kill"):
        stub = root / binary
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, "verify", f"--root={root}", "speakerd.service"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_verify_prints_nothing(tmp_path: Path) -> None:
    result = _verify(_verify_root(tmp_path, UNIT.read_text()))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_verify_gate_catches_a_misspelt_key(tmp_path: Path) -> None:
    # The gate is stderr, because verify exits 0 on unknown keys: prove it can fail.
    broken = UNIT.read_text().replace("WatchdogSec=", "WatchdogSecs=")
    result = _verify(_verify_root(tmp_path, broken))
    assert "Unknown key 'WatchdogSecs'" in result.stderr


def test_security_exposure_at_most_2_0() -> None:
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=20", str(UNIT)],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "SYSTEMD_COLORS": "0"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Overall exposure level for speakerd.service" in result.stdout


def test_unit_keeps_what_the_product_needs() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "RestartPreventExitStatus=78", "StateDirectory=speakerd",
                 "StateDirectoryMode=0700", "SupplementaryGroups=audio",
                 "DeviceAllow=char-alsa rw", "Restart=on-failure"):
        assert line in text.splitlines(), line
    families = next(x for x in text.splitlines() if x.startswith("RestrictAddressFamilies="))
    for family in ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"):
        assert family in families.split("=", 1)[1].split()
    assert "WatchdogSec=" in text


def test_unit_bounds_the_malloc_arenas() -> None:
    """One arena per allocating thread would keep memory the decoder threads freed."""
    unit = (Path(__file__).parents[3] / "systemd" / "speakerd.service").read_text()
    assert "Environment=MALLOC_ARENA_MAX=2" in unit.splitlines()
