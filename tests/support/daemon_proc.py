"""Run `speakerd` as a subprocess with a fake sd_notify socket, as systemd would."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Notification:
    at: float
    pid: int
    fields: dict[str, str]


@dataclass
class NotifyListener:
    """An AF_UNIX datagram socket with SO_PASSCRED, like systemd's notify socket."""

    path: Path
    sock: socket.socket = field(init=False)
    received: list[Notification] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.05)

    def poll(self, until: float) -> None:
        """Collect datagrams until the monotonic deadline."""
        while time.monotonic() < until:
            try:
                data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except (TimeoutError, BlockingIOError):
                continue
            pid = -1
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            text = data.decode()
            pairs = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            self.received.append(Notification(time.monotonic(), pid, pairs))

    def wait_for(self, key: str, value: str | None = None, timeout: float = 30.0) -> Notification:
        deadline = time.monotonic() + timeout
        while True:
            for note in self.received:
                if key in note.fields and (value is None or note.fields[key] == value):
                    return note
            if time.monotonic() >= deadline:
                seen = [n.fields for n in self.received]
                raise AssertionError(f"no {key}={value} within {timeout}s; got {seen}")
            self.poll(min(deadline, time.monotonic() + 0.1))

    def close(self) -> None:
        self.sock.close()


def speakerd_argv() -> list[str]:
    exe = shutil.which("speakerd", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "daemon"]


def spawn(args: list[str], *, env: dict[str, str], cwd: Path | None = None
          ) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                             "STATE_DIRECTORY", "JOURNAL_STREAM")}
    full_env.update(env)
    return subprocess.Popen(speakerd_argv() + args, env=full_env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
