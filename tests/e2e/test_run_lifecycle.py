"""`speakerd run` as systemd runs it: sd_notify READY/STATUS/WATCHDOG/STOPPING, signals,
config reload, and one-line start-up failures with sysexits codes."""

from __future__ import annotations

import itertools
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import canary
from tests.support.daemon_proc import NotifyListener, spawn

WATCHDOG_USEC = 400_000  # the daemon must ping every 0.2 s


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    sock = NotifyListener(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture(autouse=True)
def _shared_content(content_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEAKERD_TEST_CONTENT", str(content_dir))


def _minimal_config(tmp_path: Path, extra: str = "") -> Path:
    import os

    config = tmp_path / "config.yaml"
    config.write_text("device:\n  name: Test Speaker\ncontrol:\n  enabled: false\n"
                      "discovery:\n  enabled: false\n"
                      f"sandbox:\n  data_dir: {os.environ['SPEAKERD_TEST_CONTENT']}\n" + extra)
    return config


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=5)  # systemd's budget: stop within 5 s
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"daemon did not stop within 5 s; stderr:\n{err}") from None
    return proc.returncode, err


def test_notify_ready_watchdog_stopping(tmp_path: Path, state_dir: Path,
                                        listener: NotifyListener) -> None:
    proc = spawn(["run", "--config", str(_minimal_config(tmp_path))],
                 env={"NOTIFY_SOCKET": str(listener.path), "STATE_DIRECTORY": str(state_dir),
                      "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    try:
        ready = listener.wait_for("READY", "1", timeout=60)
        assert ready.pid == proc.pid  # NotifyAccess=main: only the main PID may notify
        assert "STATUS" in ready.fields
        listener.poll(time.monotonic() + 2.0)
    finally:
        code, err = _stop(proc)
    listener.poll(time.monotonic() + 0.3)
    assert code == 0, err

    statuses = [n.fields["STATUS"] for n in listener.received if "STATUS" in n.fields]
    assert statuses[0].startswith("starting")
    assert any(s.startswith("ready") for s in statuses)
    pings = [n.at for n in listener.received if n.fields.get("WATCHDOG") == "1"]
    assert len(pings) >= 5
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    half = WATCHDOG_USEC / 2_000_000
    # Cadence: half of WATCHDOG_USEC (sd_watchdog_enabled(3)); median tolerates a loaded CI.
    assert half * 0.5 <= statistics.median(gaps) <= half * 2.0, gaps
    stopping = [i for i, n in enumerate(listener.received) if n.fields.get("STOPPING") == "1"]
    assert stopping, "no STOPPING=1 on shutdown"
    ready_index = next(i for i, n in enumerate(listener.received) if "READY" in n.fields)
    assert stopping[0] > ready_index
    assert canary.leaks(err) == []


def test_sigint_stops_cleanly_and_abstract_socket_works(tmp_path: Path, state_dir: Path) -> None:
    import socket as _socket

    name = f"speakerd-test-{time.monotonic_ns()}"
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(60)
    proc = spawn(["run", "--config", str(_minimal_config(tmp_path))],
                 env={"NOTIFY_SOCKET": "@" + name, "STATE_DIRECTORY": str(state_dir)})
    try:
        messages: list[bytes] = []
        while not any(b"READY=1" in m for m in messages):
            messages.append(sock.recv(4096))
    finally:
        code, err = _stop(proc, signal.SIGINT)
        sock.close()
    assert code == 0, err


def test_sighup_reloads_live_fields_and_reports_the_rest(tmp_path: Path, state_dir: Path,
                                                         listener: NotifyListener) -> None:
    config = _minimal_config(tmp_path)
    proc = spawn(["run", "--config", str(config)],
                 env={"NOTIFY_SOCKET": str(listener.path), "STATE_DIRECTORY": str(state_dir)})
    try:
        listener.wait_for("READY", "1", timeout=60)
        config.write_text(config.read_text().replace("Test Speaker", "Kitchen")
                          + "logging:\n  level: debug\naudio:\n  buffer_seconds: 12\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        config.write_text("audio:\n  buffer_seconds: -1\n")  # a broken edit is refused
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None, "a bad reload must not stop the daemon"
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert "config.reloaded applied=device.name,logging.level needs_restart=audio.buffer_seconds" \
        in err
    assert "config.reload.rejected" in err
    assert "audio.buffer_seconds: must be > 0" in err


def test_bad_config_exits_78_with_one_line_per_problem(tmp_path: Path, state_dir: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("audio:\n  buffer_seconds: -3\ndevice:\n  nmae: x\n")
    proc = spawn(["run", "--config", str(config)], env={"STATE_DIRECTORY": str(state_dir)})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 78
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"speakerd: {config}:2: audio.buffer_seconds: must be > 0, got -3",
        f"speakerd: {config}:4: device.nmae: unknown key (did you mean 'device.name'?);"
        " known keys: name, model",
    ]
    assert list(state_dir.iterdir()) == []  # nothing written before the config was valid


def test_loose_state_dir_exits_78(tmp_path: Path) -> None:
    state = tmp_path / "loose"
    state.mkdir()
    state.chmod(0o755)
    proc = spawn(["run", "--config", str(_minimal_config(tmp_path))],
                 env={"STATE_DIRECTORY": str(state)})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 78
    assert "accessible to group or others" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_second_daemon_on_same_state_dir_is_refused(tmp_path: Path, state_dir: Path,
                                                    listener: NotifyListener) -> None:
    config = _minimal_config(tmp_path)
    first = spawn(["run", "--config", str(config)],
                  env={"NOTIFY_SOCKET": str(listener.path), "STATE_DIRECTORY": str(state_dir)})
    try:
        listener.wait_for("READY", "1", timeout=60)
        second = spawn(["run", "--config", str(config)], env={"STATE_DIRECTORY": str(state_dir)})
        _, err = second.communicate(timeout=60)
        assert second.returncode == 78
        assert "another speakerd is already running" in err
    finally:
        code, _ = _stop(first)
    assert code == 0


def test_check_config_cli(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    ok = spawn(["check-config", str(root / "config.example.yaml")], env={})
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert out.strip().endswith(": OK")
    shown = spawn(["check-config", "--show", str(root / "config.example.yaml")], env={})
    out, _ = shown.communicate(timeout=60)
    assert "service: sandbox" in out


def test_missing_widevine_device_exits_78_and_check_config_reports_it(
        tmp_path: Path, state_dir: Path) -> None:
    # 78 (EX_CONFIG) tells systemd's RestartPreventExitStatus not to loop on a setup fault
    missing = tmp_path / "no-such-device.wvd"
    config = _minimal_config(tmp_path, f"drm:\n  cdm: widevine\n  widevine_device: {missing}\n")
    check = spawn(["check-config", str(config)], env={})
    _, err = check.communicate(timeout=60)
    assert check.returncode == 78, err
    assert "Widevine device file does not exist" in err
    assert str(missing) in err
    proc = spawn(["run", "--config", str(config)], env={"STATE_DIRECTORY": str(state_dir)})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 78, err
    assert "Widevine device file does not exist" in err
    assert "Traceback" not in err
