"""The daemon as a phone sees it: `speakerd pair --open` on the device, the reference client
pairs (PAKE, pinned certificate), then reads status and plays, pauses and sets the volume
over HTTPS while the daemon streams from its embedded sandbox."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from daemon.cli import build_parser
from daemon.control import remote_cli
from daemon.core.redact import Secret
from tests.support import canary
from tests.support.daemon_proc import NotifyListener, spawn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _remote(config_dir: Path, *args: str) -> dict[str, object]:
    proc = spawn(["remote", "--config-dir", str(config_dir), *args], env={})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return dict(json.loads(out)) if out.strip().startswith("{") else {"text": out}


def _status(config_dir: Path) -> dict[str, object]:
    return _remote(config_dir, "status")


def test_pair_then_control_playback_over_https(tmp_path: Path, content_dir: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"sandbox:\n  data_dir: {content_dir}\ncontrol:\n  port: {port}\n"
                      "discovery:\n  enabled: false\nplayback:\n  initial_volume: 25\n")
    # what a SIGKILL in the middle of an atomic write leaves behind (here and in a subdir)
    stale = [state / ".player.json.4242.deadbeef.tmp"]
    (state / "phones").mkdir(mode=0o700)
    stale.append(state / "phones" / ".phones.json.4242.0badf00d.tmp")
    for path in stale:
        path.write_bytes(b"{half")
    listener = NotifyListener(tmp_path / "notify.sock")
    env = {"STATE_DIRECTORY": str(state)}
    daemon = spawn(["run", "--config", str(config)],
                   env={**env, "NOTIFY_SOCKET": str(listener.path)})
    phone = tmp_path / "phone"
    try:
        listener.wait_for("READY", "1", timeout=120)

        # On the device: the local socket opens a window and tells the code.
        pair = spawn(["pair", "--open", "--config", str(config)], env=env)
        out, err = pair.communicate(timeout=60)
        assert pair.returncode == 0, err
        match = re.search(r"Setup code: (\d{4}) (\d{4})", out)
        assert match, out
        code = match.group(1) + match.group(2)

        # On the phone: pair with that code; the token and pin land in its config dir.
        args = build_parser().parse_args(["remote", "--config-dir", str(phone), "pair",
                                          f"127.0.0.1:{port}", "--name", "test phone"])
        assert remote_cli.run(args, code=Secret(code)) == 0
        stored = list(phone.rglob("*"))
        assert stored
        assert all(p.stat().st_mode & 0o077 == 0 for p in stored if p.is_file())

        status = _status(phone)
        assert status["state"] in ("idle", "stopped")
        assert status["volume"] == 25

        # Sign-in completes a few seconds after start (code-based linking polls); until
        # then a play is refused with a reason a phone can show, never a server error.
        deadline = time.monotonic() + 60
        while True:
            play = spawn(["remote", "--config-dir", str(phone), "play",
                          "album:Phase Relations", "--kind", "album"], env={})
            _, play_err = play.communicate(timeout=60)
            if play.returncode == 0:
                break
            assert "not_signed_in" in play_err, play_err
            assert time.monotonic() < deadline, "never signed in"
            time.sleep(1.0)
        deadline = time.monotonic() + 120
        seen = set()
        while time.monotonic() < deadline:
            status = _status(phone)
            seen.add(status["state"])
            if status["state"] == "stopped" and "playing" in seen:
                break
            time.sleep(0.3)
        assert "playing" in seen, seen
        _remote(phone, "volume", "40")
        assert _status(phone)["volume"] == 40
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            _, err = daemon.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            _, err = daemon.communicate()
        listener.close()
    assert daemon.returncode == 0, err
    assert canary.leaks(err) == []
    # every file the daemon and its sandbox left is private, and the stale temp files are gone
    assert [p for p in stale if p.exists()] == []
    exposed = [(str(p), oct(p.stat().st_mode & 0o777)) for p in [state, *state.rglob("*")]
               if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert exposed == []
    # the setup code went to the person who asked (`pair --open`), never to the journal
    assert code not in err.replace(" ", ""), err
    # The volume the phone set survives a restart (persisted, never 100 % by default).
    saved = json.loads((state / "player.json").read_text())
    assert saved["volume"] == 40
