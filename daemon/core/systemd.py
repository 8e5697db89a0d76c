"""sd_notify without libsystemd: READY, STATUS, WATCHDOG, STOPPING as datagrams.

The protocol is one AF_UNIX datagram per message to $NOTIFY_SOCKET ('@' = abstract
namespace). Without NOTIFY_SOCKET every call is a no-op. The watchdog pings from the
event loop itself, so a blocked loop stops the pings, and only while `healthy()` holds.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

from daemon.core.clock import Clock

log = logging.getLogger("daemon.systemd")

HealthCheck = Callable[[], str | None]
"""Returns None when healthy, else a short reason (it goes into STATUS=)."""


class Notifier:
    """Sends sd_notify messages; silent when not run under systemd (or a test harness)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address.startswith("@"):
            self._address = "\0" + address[1:]
        elif address.startswith("/"):
            self._address = address
        self._sock: socket.socket | None = None
        self.watchdog_interval = _watchdog_interval(env)
        self.last_status = ""

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: str) -> None:
        """Send one message, e.g. send(READY="1", STATUS="idle")."""
        if self._address is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, self._address)
        except OSError as exc:  # systemd gone: nothing to tell, nothing to crash for
            log.debug("notify.failed reason=%s", exc.strerror)

    def ready(self, status: str) -> None:
        self.last_status = status
        self.send(READY="1", STATUS=status)

    def status(self, status: str) -> None:
        if status != self.last_status:
            self.last_status = status
            self.send(STATUS=status)

    def stopping(self) -> None:
        self.send(STOPPING="1", STATUS="stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env: os._Environ[str] | dict[str, str]) -> float | None:
    """Half of WATCHDOG_USEC, if the watchdog is meant for this process."""
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None


async def run_watchdog(notifier: Notifier, clock: Clock, health: HealthCheck) -> None:
    """Ping WATCHDOG=1 every half interval while `health()` says healthy; runs until cancelled."""
    interval = notifier.watchdog_interval
    if interval is None or not notifier.enabled:
        return
    unhealthy_reason: str | None = None
    while True:
        reason = health()
        if reason is None:
            notifier.send(WATCHDOG="1")
            if unhealthy_reason is not None:
                log.info("watchdog.recovered")
        elif reason != unhealthy_reason:
            log.error("watchdog.withheld reason=%s", reason)
            notifier.status(f"unhealthy: {reason}")
        unhealthy_reason = reason
        await clock.sleep(interval)
