"""`login audible --email` in a pseudo-terminal: each sign-in step asked and answered."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp.test_utils import TestServer
from audible_account_helpers import base, hook

from daemon.sandbox.audible import choices
from daemon.services.audible import policy
from daemon.state.secrets import SecretStore


class Terminal:
    """A child process on a pty; `expect` reads until a pattern, `send` types a line."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.seen = ""

    def expect(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} in terminal output:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {pattern!r}:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace")
        return self.seen

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self, timeout: float = 30.0) -> int:
        try:
            while True:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if ready:
                    chunk = os.read(self.master, 4096)
                    if not chunk:
                        break
                    self.seen += chunk.decode("utf-8", "replace")
                elif self.proc.poll() is not None:
                    break
        except OSError:
            pass
        code = self.proc.wait(timeout)
        os.close(self.master)
        return code


def _argv(server: TestServer, secrets: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "daemon.services.audible.login_cli", "--base", base(server),
            "--secrets", str(secrets), "audible", *extra]


def _dialogue(server: TestServer, secrets: Path) -> tuple[int, str]:
    term = Terminal(_argv(server, secrets, "--email", "listener@example.com"))
    term.expect("Amazon password: ")
    term.send("sandbox-password")
    term.expect("CAPTCHA: ")
    assert re.search(r"http://127\.0\.0\.1:\d+/ap/captcha/\S+\.jpg", term.seen)
    term.send(choices.SANDBOX_CAPTCHA_ANSWER.upper())
    term.expect(r"2\. Text message to \*\*\*-\*\*\*-1234")
    term.expect("Number: ")
    term.send("1")
    term.expect("One-time code")
    term.send(choices.SANDBOX_OTP_CODE)
    term.expect("verification code by email or text message. Code: ")
    term.send(choices.SANDBOX_CVF_CODE)
    term.expect("approve it on your phone")
    request = urllib.request.Request(
        base(server) + "/_sandbox/audible/login/approve-alert", data=b"{}", method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert json.load(r)["approved"] == 1
    term.expect("Signed in to Audible")
    return term.finish(), term.seen


async def test_every_step_in_a_terminal(sandbox: TestServer, tmp_path: Path) -> None:
    await hook(sandbox, "toggles", {"captcha": True, "mfa_choice": True, "cvf": True,
                                    "approval": True})
    code, seen = await asyncio.to_thread(_dialogue, sandbox, tmp_path)
    assert code == 0, seen
    assert "sandbox-password" not in seen  # the password is not echoed
    store = SecretStore.open(tmp_path / "secrets", key_file=tmp_path / "device.key")
    assert store.load(policy.SESSION_SECRET_NAME) is not None


def _wrong_password(server: TestServer, secrets: Path) -> tuple[int, str]:
    term = Terminal(_argv(server, secrets, "--email", "listener@example.com"))
    term.expect("Amazon password: ")
    term.send("not-it")
    return term.finish(), term.seen


async def test_wrong_password_in_a_terminal_is_one_sentence(
    sandbox: TestServer, tmp_path: Path
) -> None:
    code, seen = await asyncio.to_thread(_wrong_password, sandbox, tmp_path)
    assert code != 0
    assert "speakerd: Amazon sign-in failed: " in seen
    assert "Traceback" not in seen
    store = SecretStore.open(tmp_path / "secrets", key_file=tmp_path / "device.key")
    assert store.load(policy.SESSION_SECRET_NAME) is None
