"""The device-local admin channel behind `speakerd pair --open`.

A Unix socket `<state_dir>/control.sock` (0600 inside the 0700 state directory): only the
service user and root can reach it, which is what "physical access to the device" means
here. One JSON line in, one JSON line out. The code goes back to the local caller only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.core.errors import ControlError
from daemon.core.redact import Secret
from daemon.core.resource import StartableResource

SOCKET_NAME = "control.sock"
_MAX_LINE = 4096


class LocalAdmin(StartableResource):
    """Serves `{"cmd": "pair-open"}` -> `{"code": "...", "seconds_left": N}` and `status`."""

    def __init__(self, state_dir: Path, open_pairing: Callable[[], Secret],
                 status: Callable[[], dict[str, Any]]) -> None:
        self._path = state_dir / SOCKET_NAME
        self._open = open_pairing
        self._status = status
        self._server: asyncio.base_events.Server | None = None

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        if self._path.exists():
            try:
                _, writer = await asyncio.open_unix_connection(str(self._path))
            except OSError:
                with contextlib.suppress(FileNotFoundError):
                    self._path.unlink()  # a stale socket from a crashed run
            else:
                writer.close()
                raise ControlError("another speakerd is already running on this state"
                                   " directory", path=str(self._path))
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self._path),
                                                           limit=_MAX_LINE)
        finally:
            os.umask(old)
        self._path.chmod(0o600)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            try:
                cmd = json.loads(line).get("cmd")
            except (ValueError, AttributeError):
                cmd = None
            if cmd == "pair-open":
                code = self._open()
                reply: dict[str, Any] = {"code": code.reveal(), **self._status()}
            elif cmd == "status":
                reply = self._status()
            else:
                reply = {"error": "unknown command"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()


async def request_local(state_dir: Path, cmd: str) -> dict[str, Any]:
    """Client side for the CLI: send one command to the running daemon."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(state_dir / SOCKET_NAME))
    except OSError as exc:
        raise ControlError(f"the daemon is not running or not reachable: {exc.strerror}",
                           path=str(state_dir / SOCKET_NAME)) from None
    try:
        writer.write(json.dumps({"cmd": cmd}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    value = json.loads(line) if line else {}
    if not isinstance(value, dict) or "error" in value:
        raise ControlError("the daemon refused the command", cmd=cmd)
    return value

