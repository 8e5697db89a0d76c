"""The Music API's view of the media engineer's ContentStore (daemon/sandbox/media/).

Blocking: `ensure()` generates or validates the cache (call it in a thread). Without a
store (the media package not installed or not yet complete) track formats come from the
catalog plan and manifests/segments answer 501 with a sentence saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.media.catalog import Catalog, Track
from daemon.sandbox.web import HttpProblem

log = logging.getLogger("daemon.sandbox")


def _store_class() -> Any:
    import importlib

    try:
        store = importlib.import_module("daemon.sandbox.media.store")
    except ImportError:
        return None
    return getattr(store, "ContentStore", None)


class Content:
    """Formats, MPDs and resource bytes per track."""

    def __init__(self, config: SandboxConfig, catalog: Catalog) -> None:
        self._config = config
        self._catalog = catalog
        self._store: Any = None

    def ensure(self) -> None:
        cls = _store_class()
        if cls is None:
            log.warning("sandbox.content_unavailable reason=no daemon.sandbox.media.store")
            return
        store = cls(self._config.resolved_data_dir / "media", self._catalog)
        store.ensure()
        self._store = store

    @property
    def available(self) -> bool:
        return self._store is not None

    def formats(self, track: Track) -> list[str]:
        """Format ids this track really has (what the generator produced)."""
        if self._store is None:
            return list(track.planned_formats)
        return list(self._store.formats(track.id))

    def mpd(self, track: Track, formats: Sequence[str], media_base: str,
            licence_url: str) -> str:
        if self._store is None:
            raise HttpProblem(501, "sandbox media content is not available in this build")
        return str(self._store.mpd(track.id, list(formats), media_base, licence_url))

    def resource(self, track: Track, name: str) -> bytes | None:
        if self._store is None:
            raise HttpProblem(501, "sandbox media content is not available in this build")
        try:
            data = self._store.resource(track.id, name)
        except KeyError:
            return None
        return None if data is None else bytes(data)

    def close(self) -> None:
        close = getattr(self._store, "close", None)
        if close is not None:
            close()
