"""Config loading: every problem at once with file, line and dotted path; secrets masked."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from daemon.core.config import Config, ConfigProblems, load_config, parse_config, resolve_state_dir
from daemon.core.configschema import iter_fields, to_plain
from daemon.core.errors import ConfigError
from daemon.core.redact import Secret
from tests.support import canary

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config.example.yaml"


def test_example_config_is_valid_and_uses_the_sandbox() -> None:
    config = load_config(EXAMPLE)
    assert config.service == "sandbox"


def test_every_config_field_is_documented_in_the_example() -> None:
    text = EXAMPLE.read_text()
    lines = text.splitlines()
    tree = yaml.safe_load(text)
    missing, undocumented = [], []
    for path, _field in iter_fields(Config):
        node = tree
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
        leaf = path.split(".")[-1]
        # The key's line must have a comment line right above it.
        for index, line in enumerate(lines):
            if re.match(rf"^\s*{re.escape(leaf)}:", line):
                if index == 0 or not lines[index - 1].lstrip().startswith("#"):
                    undocumented.append(path)
                break
    assert not missing, f"fields missing from config.example.yaml: {missing}"
    assert not undocumented, f"fields without a comment in config.example.yaml: {undocumented}"


def test_three_mistakes_are_all_reported_with_lines(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("service: sandbox\naudio:\n  buffer_seconds: -3\n  outptu: alsa\n"
                   "control:\n  port: eighty\n")
    with pytest.raises(ConfigProblems) as info:
        load_config(bad)
    lines = str(info.value).splitlines()
    assert lines == [
        f"{bad}:3: audio.buffer_seconds: must be > 0, got -3",
        f"{bad}:4: audio.outptu: unknown key (did you mean 'audio.output'?); known keys: "
        "output, device, file_path, pipe_path, board, dac, mixer, buffer_seconds, buffer_max_mb",
        f"{bad}:6: control.port: expected a whole number, got 'eighty'",
    ]
    assert info.value.exit_code == 78


@pytest.mark.parametrize(("text", "expected"), [
    ("device: [a, b]\n", "1: device: expected a mapping (a section), got a list"),
    ("service: spotify\n", "1: service: must be one of 'sandbox', 'amazon', got 'spotify'"),
    ("logging:\n  level: loud\n", "2: logging.level: must be one of"),
    ("quality:\n  allow: [HI_RESS]\n", "did you mean 'HI_RES'?"),
    ("playback:\n  initial_volume: 140\n", "2: playback.initial_volume: must be between 0"),
    ("device:\n  name: 'a.b'\n", "2: device.name: must be 1-63 characters without dots"),
    ("amazon:\n  accept_language: english\n", "amazon.accept_language: must look like"),
    ("- just\n- a list\n", "the top level must be a mapping"),
    ("control:\n  enabled: yes please\n", "control.enabled: expected true or false"),
    ("service: amazon\n", "amazon.client_id: required when service is 'amazon'"),
    ("drm:\n  cdm: remote\n", "remote_url, remote_secret and remote_device are required"),
    ("service: a\nservice: b\n", "service: given twice"),
])
def test_bad_values_name_path_and_expectation(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("c.yaml")


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("device:\n  name: [unclosed\n", "c.yaml")
    assert re.match(r"c\.yaml:\d+: YAML syntax error: ", str(info.value))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_tags_that_build_objects_are_refused() -> None:
    with pytest.raises(ConfigError):
        parse_config("service: !!python/object/apply:os.system ['true']\n", "c.yaml")


def test_empty_file_gives_defaults() -> None:
    assert parse_config("", "c.yaml") == Config()


def test_secrets_are_masked_in_repr_and_show() -> None:
    config = parse_config(
        f"control:\n  setup_code: '{canary.SETUP_CODE}'\n"
        f"drm:\n  cdm: remote\n  remote_url: http://cdm.local:8786\n"
        f"  remote_secret: {canary.REMOTE_SECRET}\n  remote_device: dev\n", "c.yaml")
    assert isinstance(config.drm.remote_secret, Secret)
    assert config.drm.remote_secret.reveal() == canary.REMOTE_SECRET
    for text in (repr(config), str(config), f"{config}", yaml.safe_dump(to_plain(config))):
        assert canary.leaks(text) == []


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.service = "amazon"  # type: ignore[misc]


def test_state_dir_resolution_order(tmp_path: Path) -> None:
    config = parse_config(f"state_dir: {tmp_path / 'cfg'}\n", "c.yaml")
    assert resolve_state_dir(config, {"STATE_DIRECTORY": "/var/lib/speakerd"}) == \
        Path("/var/lib/speakerd")
    assert resolve_state_dir(config, {}) == tmp_path / "cfg"
    assert resolve_state_dir(Config(), {"XDG_STATE_HOME": "/x"}) == Path("/x/speakerd")
    assert resolve_state_dir(Config(), {"HOME": "/home/u"}) == \
        Path("/home/u/.local/state/speakerd")
