"""Smoke runs of the atheris targets (marked fuzz: not part of the default run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.fuzz
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("target", ["box", "decrypt", "mpd"])
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    runs = int(os.environ.get("SPEAKERD_FUZZ_RUNS", "20000"))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", target, f"-runs={runs}", "-max_len=65536",
         "-timeout=5", "-rss_limit_mb=512", f"-artifact_prefix={tmp_path}/"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {runs} runs" in proc.stderr


@pytest.mark.parametrize("target", ["box", "decrypt", "mpd"])
def test_targets_accept_their_seeds(target: str) -> None:
    """The harness itself works: every seed runs through its target without a finding."""
    from tests.fuzz import targets

    seeds = targets.seeds(target)
    assert seeds
    for seed in seeds:
        targets.TARGETS[target](seed)
