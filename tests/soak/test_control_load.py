"""Soak (excluded by default; `-m soak`): 500 control requests per second for 30 s from a
second process while a HI_RES track plays cause no underrun and no server error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import bench_control


@pytest.mark.soak
@pytest.mark.timeout(600)
def test_api_load_while_playing_hi_res_causes_no_underrun(content_dir: Path) -> None:
    result = bench_control.run(rate=500.0, seconds=30.0, content_dir=content_dir)
    assert result["sent"] >= 14_000
    assert result["track"]["sample_rate"] == 192_000
    assert result["state_after"] == "playing"
    assert result["underruns_after"] == result["underruns_before"]
    server_errors = {k: v for k, v in result["statuses"].items() if k == "0" or k >= "500"}
    assert server_errors == {}
