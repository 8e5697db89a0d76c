"""The Audible form sign-in driven from a phone: each step asked over the LAN API.

`FormSignIn` runs one `form_login` at a time in a task of its own and turns its callbacks
into steps the phone sees and answers:

    POST /signin/audible/form {"email", "password", "username_account"?}  → step
    POST /signin/audible/form/answer {"answer"}                            → next step
    GET  /signin/audible/form                                              → current step

A step is `{"step": "captcha", "image_url"}`, `{"step": "mfa_choice", "options": [...]}`,
`{"step": "otp"}`, `{"step": "cvf"}`, `{"step": "approval"}` (nothing to answer: poll GET
until it changes), `{"step": "done"}` or `{"step": "failed", "message"}` (one sentence).
The password and answers are passed on and never kept, logged or echoed back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.core.errors import ControlError, DaemonError
from daemon.core.redact import Secret
from daemon.core.resource import AsyncResource


@dataclass(frozen=True, slots=True)
class StepCallbacks:
    """The callbacks `form_login` takes, bound to one phone-driven sign-in."""

    captcha: Callable[[str], Awaitable[str]]
    mfa_choice: Callable[[Sequence[str]], Awaitable[str]]
    otp: Callable[[], Awaitable[str]]
    cvf: Callable[[], Awaitable[str]]
    approval: Callable[[], Awaitable[None]]


# Runs the whole sign-in (form login + registration + saving) with these callbacks.
Runner = Callable[[str, Secret, bool, StepCallbacks], Awaitable[None]]

# How long a request waits for the sign-in to reach its next step before answering the
# current one (the phone then polls GET).
STEP_WAIT_SECONDS = 20.0
# A sign-in nobody answers is abandoned after this long.
SIGNIN_TIMEOUT_SECONDS = 600.0


class FormSignIn(AsyncResource):
    """One phone-driven Audible sign-in at a time (a new start replaces the old one)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._task: asyncio.Task[None] | None = None
        self._step: dict[str, Any] = {"step": "idle"}
        self._answer: asyncio.Future[str] | None = None
        self._version = 0
        self._changed = asyncio.Event()

    def _publish(self, step: dict[str, Any]) -> None:
        self._step = step
        self._version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def _ask(self, step: dict[str, Any]) -> str:
        self._answer = asyncio.get_running_loop().create_future()
        self._publish(step)
        try:
            return await self._answer
        finally:
            self._answer = None

    def _callbacks(self) -> StepCallbacks:
        async def captcha(url: str) -> str:
            return await self._ask({"step": "captcha", "image_url": url})

        async def mfa_choice(labels: Sequence[str]) -> str:
            return await self._ask({"step": "mfa_choice", "options": list(labels)})

        async def otp() -> str:
            return await self._ask({"step": "otp"})

        async def cvf() -> str:
            return await self._ask({"step": "cvf"})

        async def approval() -> None:
            self._publish({"step": "approval",
                           "message": "approve the sign-in notification on your phone"})

        return StepCallbacks(captcha, mfa_choice, otp, cvf, approval)

    async def _run(self, email: str, password: Secret, with_username: bool) -> None:
        try:
            async with asyncio.timeout(SIGNIN_TIMEOUT_SECONDS):
                await self._runner(email, password, with_username, self._callbacks())
        except DaemonError as exc:
            self._publish({"step": "failed", "message": str(exc)})
        except TimeoutError:
            self._publish({"step": "failed", "message": "the sign-in was abandoned; start again"})
        else:
            self._publish({"step": "done"})

    async def _next(self, since: int) -> dict[str, Any]:
        if self._version == since:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STEP_WAIT_SECONDS):
                    await self._changed.wait()
        return dict(self._step)

    async def start(self, email: str, password: Secret, with_username: bool) -> dict[str, Any]:
        await self._cancel()
        since = self._version
        self._publish({"step": "working"})
        since = self._version
        self._task = asyncio.create_task(self._run(email, password, with_username))
        return await self._next(since)

    async def answer(self, text: str) -> dict[str, Any]:
        if self._answer is None or self._answer.done():
            raise ControlError(f"the Audible sign-in is not waiting for an answer"
                               f" (step: {self._step['step']})")
        since = self._version
        self._answer.set_result(text)
        return await self._next(since)

    def state(self) -> dict[str, Any]:
        return dict(self._step)

    async def _cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        await self._cancel()


def parse_start(body: dict[str, Any]) -> tuple[str, Secret, bool]:
    """email, password, username_account from a start body (ControlError naming the field)."""
    email, password = body.get("email"), body.get("password")
    username = body.get("username_account", False)
    if not isinstance(email, str) or not 0 < len(email) <= 256:
        raise ControlError("email must be 1-256 characters")
    if not isinstance(password, str) or not 0 < len(password) <= 1024:
        raise ControlError("password must be 1-1024 characters")
    if not isinstance(username, bool):
        raise ControlError("username_account must be true or false")
    return email, Secret(password), username


def parse_answer(body: dict[str, Any]) -> str:
    answer = body.get("answer")
    if not isinstance(answer, str) or not 0 < len(answer) <= 256:
        raise ControlError("answer must be 1-256 characters")
    return answer
