"""The one interface the daemon uses for licence work, and the session that wraps it.

Every CDM (ClearKey, local pywidevine, remote `pywidevine serve`, a maker's own hardware
CDM through the `speakerd.cdm` entry point) implements `Cdm`. Callers use `CdmSession`,
which guarantees the CDM session is closed, also when the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Protocol, TypeVar, runtime_checkable

from daemon.core.errors import DrmError
from daemon.core.resource import AsyncResource

T = TypeVar("T")
log = logging.getLogger("daemon.drm")


@runtime_checkable
class Cdm(Protocol):
    """A content decryption module. Session ids are opaque bytes; keys are KID -> key."""

    #: Short name for logs and errors (`clearkey`, `widevine`, a plug-in's name).
    name: str
    #: The DRM system whose PSSH boxes this CDM consumes.
    system_id: uuid.UUID

    async def start(self) -> None:
        """Get ready (load device, connect); raise DrmError naming what is unusable."""

    async def aclose(self) -> None:
        """Close every open session and release resources; idempotent."""

    async def open(self) -> bytes:
        """Open a session and return its id."""

    async def challenge(
        self, session: bytes, pssh: bytes, *, service_certificate: bytes | None = None
    ) -> bytes:
        """Build the licence request for `pssh` (a full pssh box), privately if a service
        certificate is given and the CDM supports privacy mode."""

    async def keys(self, session: bytes, licence: bytes) -> dict[bytes, bytes]:
        """Check the licence response against this session and return content keys by KID."""

    async def close(self, session: bytes) -> None:
        """Close a session; closing an unknown or closed session does nothing."""


class ContentKeys(Mapping[bytes, bytes]):
    """Content keys by 16-byte KID, in memory only. Never shows a key; `drop()` forgets them."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[bytes, bytes]) -> None:
        self._keys = dict(keys)

    def __getitem__(self, kid: bytes) -> bytes:
        return self._keys[kid]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"ContentKeys(kids=[{', '.join(k.hex() for k in self._keys)}], keys=***)"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("content keys are not picklable")

    def drop(self) -> None:
        """Forget every key (the track is done)."""
        self._keys.clear()

    def __enter__(self) -> ContentKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()


async def finish_despite_cancel(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` to its end even if we are cancelled meanwhile, then re-raise the
    cancellation. For short, bounded steps whose result must not be lost (an opened
    session) or that must not be abandoned half-way (closing one, a CDM call in a thread)."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise  # the step itself was cancelled
            cancelled = True
            continue
        except BaseException:
            if cancelled:  # our caller's cancellation wins over the step's failure
                raise asyncio.CancelledError from None
            raise
        if cancelled:
            raise asyncio.CancelledError
        return result


async def run_blocking(func: Callable[..., T], *args: object) -> T:
    """Run a blocking CDM call in a thread; a cancelled caller still waits for the thread,
    so the CDM never sees a session closed while a call on it is running."""
    return await finish_despite_cancel(asyncio.to_thread(func, *args))


async def _settled(task: asyncio.Future[T]) -> T | None:
    """Wait for `task` without being cancellable; its result, or None if it failed."""
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except Exception:  # its failure is reported by whoever owns it
            break
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()


class CdmSession(AsyncResource):
    """One CDM session as an async context manager: opened on entry, always closed on exit.

    async with CdmSession(cdm) as s:
        request = await s.challenge(pssh)
        keys = await s.keys(await post(request))
    """

    def __init__(self, cdm: Cdm) -> None:
        self._cdm = cdm
        self._id: bytes | None = None

    @property
    def id(self) -> bytes:
        if self._id is None:
            raise DrmError("CDM session is not open", cdm=self._cdm.name)
        return self._id

    async def __aenter__(self) -> CdmSession:
        if self._id is not None:
            raise DrmError("CDM session is already open", cdm=self._cdm.name)
        task = asyncio.ensure_future(self._cdm.open())
        try:
            self._id = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                # Our caller was cancelled while the CDM was opening: let the open
                # finish and close what it opened, so the session cannot leak.
                session = await _settled(task)
                if session is not None:
                    await finish_despite_cancel(self._cdm.close(session))
            raise
        return self

    async def aclose(self) -> None:
        session, self._id = self._id, None
        if session is None:
            return
        try:
            await finish_despite_cancel(self._cdm.close(session))
        except Exception as exc:
            # Closing is best effort: a failing close must not hide why the session ended.
            log.warning(
                "drm.session_close_failed cdm=%s error=%s", self._cdm.name, type(exc).__name__
            )

    async def challenge(self, pssh: bytes, *, service_certificate: bytes | None = None) -> bytes:
        return await self._cdm.challenge(self.id, pssh, service_certificate=service_certificate)

    async def keys(self, licence: bytes) -> ContentKeys:
        return ContentKeys(await self._cdm.keys(self.id, licence))
