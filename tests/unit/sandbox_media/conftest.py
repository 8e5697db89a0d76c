"""A small catalog generated once per test session (a few seconds), shared read-only."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox.media import ContentStore

SEED = 4242


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> ContentStore:
    store = ContentStore(tmp_path_factory.mktemp("media"), "small", seed=SEED)
    report = store.ensure()
    assert len(report.generated) == 3
    return store


def packet_md5s(data: bytes, options: dict[str, str] | None = None) -> list[str]:
    """Payload MD5 of every packet PyAV demuxes (decrypting when given a key)."""
    import av

    with av.open(io.BytesIO(data), options=options or {}) as container:
        c: Any = container
        stream = c.streams.audio[0]
        return [hashlib.md5(bytes(p)).hexdigest() for p in c.demux(stream) if p.size]


def tree_mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
