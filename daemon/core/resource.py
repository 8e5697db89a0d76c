"""The one resource contract: everything that holds sockets, tasks, files or devices.

`aclose()` releases what the resource holds and may be called any number of times; `async
with` closes it on the way out, also when the body raised. A `StartableResource` is also
started by `async with`, and its `start()` returns once it is ready (port bound, device
open), never after a sleep.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncResource(abc.ABC):
    """A resource released by an idempotent `aclose()`; an async context manager."""

    __slots__ = ()

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release everything held; a second call does nothing."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class StartableResource(AsyncResource):
    """A resource that is started before use; `async with` starts it, then closes it."""

    __slots__ = ()

    @abc.abstractmethod
    async def start(self) -> None:
        """Return once the resource is ready to use."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self
