"""Hardware profiles load through the config's schema loader: a problem in a profile reads
like one in the config, `file:line: dotted.path: message`, and all are reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.capabilities import load_board, load_output
from daemon.core.errors import ConfigError

BAD_OUTPUT = """\
kind: output
name: bad-dac
title: A DAC with mistakes
formats: [S16_LE, DSD_U8]
rates: [44100, 5]
channels: {min: 2, max: 2}
bit_depth: 20
mixer:
  control: Digital
  min_db: loud
alsa: {card: null, device: default}
"""


def _write(tmp_path: Path, kind: str, name: str, text: str) -> Path:
    (tmp_path / kind).mkdir(exist_ok=True)
    path = tmp_path / kind / f"{name}.yaml"
    path.write_text(text)
    return path


def test_a_bad_output_profile_names_file_line_and_path_of_every_problem(
        tmp_path: Path) -> None:
    path = _write(tmp_path, "outputs", "bad-dac", BAD_OUTPUT)
    with pytest.raises(ConfigError) as info:
        load_output("bad-dac", tmp_path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}:4: formats[1]: must be one of 'S16_LE'")
    assert lines[1] == f"{path}:5: rates[1]: must be between 8000 and 768000, got 5"
    assert lines[2].startswith(f"{path}:7: bit_depth: must be one of 16, 24, 32")
    assert lines[3] == f"{path}:10: mixer.min_db: expected a number, got 'loud'"
    assert len(lines) == 4
    assert info.value.fields == {"file": str(path), "key": "formats[1]", "line": 4}


def test_unknown_and_missing_keys_and_the_file_name_rule(tmp_path: Path) -> None:
    path = _write(tmp_path, "boards", "pi", "kind: board\nname: pi\ntitle: Pi\n"
                  "ram_mb: [512]\noutputs: [hdmi]\ncolour: red\n")
    with pytest.raises(ConfigError) as info:
        load_board("pi", tmp_path)
    assert str(info.value).splitlines() == [
        f"{path}:6: colour: unknown key; known keys: kind, name, title, soc, cpu, ram_mb,"
        " outputs, notes"]
    path = _write(tmp_path, "boards", "pi", "kind: board\nname: other\ntitle: Pi\n"
                  "ram_mb: [512]\noutputs: [hdmi]\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: name: must equal the file name$"):
        load_board("pi", tmp_path)
    path = _write(tmp_path, "boards", "pi", "kind: board\nname: pi\nram_mb: [512]\n"
                  "outputs: [hdmi]\n")
    with pytest.raises(ConfigError, match=rf"^{path}:1: title: missing key$"):
        load_board("pi", tmp_path)


def test_the_shipped_profiles_load() -> None:
    assert load_output("hifiberry-dacplus").caps.max_bits >= 24
    assert "hdmi" in load_board("rpi-4b").outputs
