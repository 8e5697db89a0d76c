"""The Music API's view of the media engineer's ContentStore (daemon/sandbox/media/).

`ensure()` is blocking (generate or validate the cache; call it in a thread). Catalog
metadata is always available; if the store cannot be imported, manifests and segments
answer 501 with a sentence saying why.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.media.catalog import Catalog, CatalogKind, Track, build_catalog
from daemon.sandbox.web import HttpProblem

log = logging.getLogger("daemon.sandbox")


def _store_class() -> Any:
    try:
        store = importlib.import_module("daemon.sandbox.media.store")
    except ImportError as exc:
        log.warning("sandbox.content_unavailable reason=%s", exc)
        return None
    return getattr(store, "ContentStore", None)


class Content:
    """Formats, MPDs and resource locations per track."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        cls = _store_class()
        kind: CatalogKind = "small" if config.catalog == "small" else "default"
        self._store: Any = None
        self._ready = False
        if cls is not None:
            self._store = cls(config.resolved_data_dir, kind,
                              segment_seconds=float(config.segment_seconds), seed=config.seed)
            self.catalog: Catalog = self._store.catalog
        else:
            self.catalog = build_catalog(kind, config.seed)

    def ensure(self) -> None:
        if self._store is not None and self._config.generate_content:
            self._store.ensure()
            self._ready = True

    def _require(self) -> Any:
        if self._store is None or not self._ready:
            why = ("content generation is off (generate_content: false)"
                   if self._store is not None else "daemon.sandbox.media.store is missing")
            raise HttpProblem(501, f"sandbox media content is not available: {why}")
        return self._store

    def formats(self, track: Track) -> list[str]:
        """Format ids this track really has (what the generator produced)."""
        if self._store is None or not self._ready:
            return list(track.planned_formats)
        return list(self._store.track(track.id).formats)

    def mpd(self, track: Track, formats: Sequence[str], media_base: str,
            licence_url: str) -> str:
        return str(self._require().mpd(track.id, list(formats), media_base, licence_url))

    def location(self, track: Track, name: str) -> tuple[Path, int, int] | None:
        """(file, offset, length) of a named resource, or None when there is none."""
        store = self._require()
        from daemon.sandbox.media.errors import ContentNotFoundError

        try:
            path, offset, length = store.resource_location(track.id, name)
        except ContentNotFoundError:
            return None
        return Path(path), int(offset), int(length)

    def keys(self, track: Track) -> dict[bytes, bytes]:
        return {track.kid: track.key}

    def close(self) -> None:
        close = getattr(self._store, "close", None)
        if close is not None:
            close()
