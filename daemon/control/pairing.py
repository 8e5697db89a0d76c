"""The pairing window (spec §2.1–2.3): a time-limited, attempt-limited, one-at-a-time door.

State machine: closed -> open(code, deadline) -> [session pending] -> closed. The window
closes at its deadline, after `max_failures` failed proofs (an abandoned session counts as
one), or after a successful pairing. Once closed, the code is forgotten; even the right code
is refused until a new window opens. The code is held as `Secret` and never logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.control.limits import ControlLimits
from daemon.control.pake import DeviceSession, PakeError, b64d
from daemon.core.clock import Clock
from daemon.core.errors import ConfigError
from daemon.core.redact import Secret

log = logging.getLogger("daemon.control")

CODE_DIGITS = 8

#: Static label codes that a person could guess; refused at start (spec §2.2).
_TRIVIAL_CODES = frozenset({"12345678", "87654321", "12341234", "11223344", "01234567"})


def is_trivial_code(code: str) -> bool:
    """True for codes a block-list refuses: repeated, sequential or well-known."""
    if len(set(code)) <= 2 or code in _TRIVIAL_CODES:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    return len(steps) == 1


class PairingRefused(Exception):
    """A pairing step is refused; `code`/`status` go to the API error body."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def new_code() -> Secret:
    """A fresh 8-digit code from `secrets`, avoiding trivial patterns."""
    while True:
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        if not is_trivial_code(code):
            return Secret(code)


def check_static_code(code: Secret) -> None:
    text = code.reveal()
    if len(text) != CODE_DIGITS or not text.isdigit() or is_trivial_code(text):
        raise ConfigError("static pairing code must be 8 digits and not trivial",
                          path="control.pairing.static_code")


@dataclass(slots=True)
class _Pending:
    session: DeviceSession
    started: float
    source: str


class PairingWindow:
    """Owns the code, the deadline, the failure count and the single pending session."""

    def __init__(self, settings: ControlLimits, clock: Clock,
                 on_change: Callable[[dict[str, Any]], None] | None = None, *,
                 static_code: Secret | None = None) -> None:
        """`static_code`: the label's code (`control.setup_code`), else one per window."""
        if static_code is not None:
            check_static_code(static_code)
        self._static_code = static_code
        self._settings = settings
        self._clock = clock
        self._on_change = on_change
        self._code: Secret | None = None
        self._deadline = 0.0
        self._failures = 0
        self._pending: _Pending | None = None
        self._timer: asyncio.Task[None] | None = None
        self.windows_opened = 0
        self.failures_total = 0

    # --- state -----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        self._expire()
        return self._code is not None

    def status(self) -> dict[str, Any]:
        is_open = self.is_open
        remaining = max(0.0, self._deadline - self._clock.monotonic()) if is_open else 0.0
        return {"open": is_open, "seconds_left": round(remaining),
                "failures": self._failures if is_open else 0,
                "max_failures": self._settings.pairing_max_failures}

    def _expire(self) -> None:
        if self._code is None:
            return
        now = self._clock.monotonic()
        pending = self._pending
        timeout = self._settings.pairing_session_timeout_s
        if pending is not None and now - pending.started >= timeout:
            self._pending = None
            self._fail("abandoned")
        if self._code is not None and now >= self._deadline:
            self.close("expired")

    # --- opening and closing ---------------------------------------------------------

    def open(self) -> Secret:
        """Open (or re-open) the window for `pairing_window_s`; returns the code to show."""
        code = self._static_code or new_code()
        self._code = code
        self._deadline = self._clock.monotonic() + self._settings.pairing_window_s
        self._failures = 0
        self._pending = None
        self.windows_opened += 1
        self._arm_timer()
        log.info(f"pairing.window_opened seconds={self._settings.pairing_window_s:.0f}")
        self._notify()
        return code

    def close(self, reason: str) -> None:
        if self._code is None:
            return
        self._code = None
        self._pending = None
        self._failures = 0
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        log.info(f"pairing.window_closed reason={reason}")
        self._notify(reason)

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._timer = None  # no loop (sync tests): expiry is still checked lazily
            return
        self._timer = loop.create_task(self._expiry_timer(self._deadline))

    async def _expiry_timer(self, deadline: float) -> None:
        # the lazy check makes expiry exact; this task only publishes the close promptly
        while self._code is not None and self._deadline == deadline:
            await self._clock.sleep(max(0.05, deadline - self._clock.monotonic()))
            self._expire()

    async def aclose(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        self._code = None
        self._pending = None

    def _notify(self, reason: str | None = None) -> None:
        if self._on_change is not None:
            data = self.status()
            if reason is not None:
                data["reason"] = reason
            self._on_change(data)

    def _fail(self, why: str) -> None:
        self._failures += 1
        self.failures_total += 1
        log.warning(f"pairing.failed reason={why} failures={self._failures}")
        if self._failures >= self._settings.pairing_max_failures:
            self.close("too_many_failures")
        else:
            self._notify()

    # --- the two protocol steps ------------------------------------------------------

    async def begin(self, pake_b64: object, source: str) -> tuple[str, bytes]:
        """Step 1: returns (session id, device SPAKE2 message). One session at a time."""
        self._expire()
        if self._code is None:
            raise PairingRefused("pairing_closed", 403, "pairing is not open on this device")
        if self._pending is not None:
            raise PairingRefused("pairing_busy", 409, "another pairing is in progress")
        try:
            msg_a = b64d(pake_b64, max_len=256)
        except PakeError as exc:
            raise PairingRefused("bad_request", 400, str(exc)) from None
        session = DeviceSession(self._code.reveal(), secrets.token_hex(16))
        pending = _Pending(session, self._clock.monotonic(), source)
        self._pending = pending  # taken before the thread hop so a racer sees Busy
        try:
            msg_b = await asyncio.to_thread(session.respond, msg_a)
        except Exception as exc:  # whatever the message did, the slot is freed at once
            if self._pending is pending:
                self._pending = None
                self._fail("bad_pake_message")
            if not isinstance(exc, PakeError):
                log.error(f"pairing.pake_error error={type(exc).__name__}")
            raise PairingRefused("pairing_failed", 401, "pairing proof rejected") from None
        return session.session_id, msg_b

    async def complete(self, session_id: object, confirm_b64: object,
                       hello: object) -> tuple[dict[str, Any], DeviceSession]:
        """Step 2: verify the phone's proof; on success the window closes (one phone per window)."""
        self._expire()
        pending = self._pending
        if (self._code is None or pending is None or not isinstance(session_id, str)
                or not secrets.compare_digest(session_id, pending.session.session_id)):
            raise PairingRefused("pairing_no_session", 409, "no such pairing session")
        self._pending = None
        try:
            confirm = b64d(confirm_b64, max_len=64)
            opened = await asyncio.to_thread(pending.session.verify, confirm, hello)
        except PakeError:
            self._fail("wrong_proof")
            raise PairingRefused("pairing_failed", 401, "pairing proof rejected") from None
        return opened, pending.session

    def succeeded(self) -> None:
        self.close("paired")
