"""Atomic private state files and the persisted device identity."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from daemon.core.errors import StateError
from daemon.state.files import atomic_write, ensure_private_dir, read_json, write_json
from daemon.state.identity import load_or_create_identity, primary_mac


def test_private_dir_created_0700_and_loose_dir_refused(tmp_path: Path) -> None:
    state = ensure_private_dir(tmp_path / "state")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    state.chmod(0o750)
    with pytest.raises(StateError, match="accessible to group or others") as info:
        ensure_private_dir(state)
    assert info.value.exit_code == 78


def test_atomic_write_is_0600_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_json(path) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_failed_write_keeps_the_old_content(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.json"
    write_json(path, {"good": True})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError, match="No space left"):
        atomic_write(path, b"{partial")
    monkeypatch.undo()
    assert read_json(path) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left behind


def test_corrupt_state_file_is_an_error_not_silently_reset(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="not valid JSON"):
        read_json(path)


def test_identity_is_stable_and_well_formed(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path, mac="dc:a6:32:01:02:03", machine_id="abc")
    again = load_or_create_identity(tmp_path, mac="00:11:22:33:44:55", machine_id="other")
    assert first == again  # persisted: a NIC change does not change the id
    assert len(first.device_id) == 32
    assert int(first.device_id, 16) >= 0
    assert first.device_id == first.device_id.lower()
    assert first.short_id == first.device_id[:8]
    assert stat.S_IMODE((tmp_path / "identity.json").stat().st_mode) == 0o600


def test_identity_is_salted(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = load_or_create_identity(tmp_path / "a", mac="dc:a6:32:01:02:03", machine_id="m")
    b = load_or_create_identity(tmp_path / "b", mac="dc:a6:32:01:02:03", machine_id="m")
    assert a != b  # same hardware, fresh salt: the id does not reveal the MAC


def test_damaged_identity_is_refused(tmp_path: Path) -> None:
    (tmp_path / "identity.json").write_text('{"device_id": "xyz"}')
    with pytest.raises(StateError, match="no valid device_id"):
        load_or_create_identity(tmp_path)


def test_primary_mac_prefers_wired(tmp_path: Path) -> None:
    for name, mac in [("wlan0", "b8:27:eb:00:00:02"), ("eth0", "b8:27:eb:00:00:01"),
                      ("lo", "00:00:00:00:00:00"), ("docker0", "02:42:00:00:00:09")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "address").write_text(mac + "\n")
    assert primary_mac(tmp_path) == "b8:27:eb:00:00:01"
    assert primary_mac(tmp_path / "missing") is None
