"""What a service lends one track's DASH stream: one object, not a bag of callbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from daemon.core.errors import MediaError
from daemon.drm.flow import LicencePost
from daemon.playback.fetcher import ByteRange, Get


class DashService(Protocol):
    """What a service lends one track's DASH stream."""

    async def fetch(self, url: str, byte_range: ByteRange | None) -> bytes:
        """The bytes of a segment URL (a byte range of it when given)."""
        ...

    async def post_licence(self, challenge: bytes) -> bytes:
        """The licence for a CDM challenge."""
        ...

    async def refresh_manifest(self) -> tuple[bytes, str] | None:
        """A fresh (MPD, MPD URL) when the signed segment URLs expired mid-track (AM-C23);
        None when the service cannot renew them."""
        ...


class CallbackService:
    """A `DashService` over plain callables (tools, tests, benchmarks)."""

    def __init__(self, get: Get, licence_post: LicencePost | None = None,
                 refresh: Callable[[], Awaitable[tuple[bytes, str]]] | None = None) -> None:
        self._get = get
        self._licence_post = licence_post
        self._refresh = refresh

    async def fetch(self, url: str, byte_range: ByteRange | None) -> bytes:
        return await self._get(url, byte_range)

    async def post_licence(self, challenge: bytes) -> bytes:
        if self._licence_post is None:
            raise MediaError("the track is encrypted and no licence path is configured")
        return await self._licence_post(challenge)

    async def refresh_manifest(self) -> tuple[bytes, str] | None:
        return await self._refresh() if self._refresh is not None else None
