"""The daemon's real Amazon clients against a running sandbox, for integration tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from daemon.core.clock import SystemClock
from daemon.drm.flow import LicenceFlow
from daemon.playback.fetcher import FetchSettings
from daemon.services.http import HttpClient
from daemon.services.lwa import LwaClient, LwaSettings
from daemon.services.music import MusicClient, MusicSettings
from daemon.sources.amazon import AmazonPlayback
from daemon.state.secrets import open_secret_store


@contextlib.asynccontextmanager
async def amazon_playback(sandbox: Any, state: Path, cdm: Any, *,
                          tokens: Sequence[str] = ("STD_RES", "HI_FI"),
                          fetch: FetchSettings | None = None) -> AsyncIterator[AmazonPlayback]:
    """Signed in (the sandbox approves the code itself) and ready to expand and open."""
    clock = SystemClock()
    state.mkdir(mode=0o700, exist_ok=True)
    async with HttpClient(clock=clock) as http:
        lwa = LwaClient(http=http, store=open_secret_store(state), clock=clock,
                        settings=LwaSettings(client_id=sandbox.lwa_client_id,
                                             base_url=sandbox.base_url))
        await lwa.start()
        try:
            await lwa.link(lambda pair: None)
            music = MusicClient(http=http, auth=lwa, device_id="ab" * 16,
                                capabilities=lambda: list(tokens),
                                settings=MusicSettings(api_root=sandbox.base_url + "/"),
                                clock=clock)
            yield AmazonPlayback(music=lambda: music, http=http, clock=clock,
                                 licence_flow=LicenceFlow(cdm, clock=clock),
                                 capabilities=lambda: list(tokens), decoders=("flac", "opus"),
                                 fetch=fetch or FetchSettings())
        finally:
            await lwa.aclose()


def reference_pcm(content_dir: Path, track_id: str, fmt: str) -> bytes:
    """PyAV's own decode of the sandbox's clear reference (catalog small, seed 1)."""
    import io

    import av
    import numpy as np

    from daemon.sandbox.media import ContentStore

    store = ContentStore(content_dir, catalog="small", seed=1)
    store.ensure()
    out = []
    with av.open(io.BytesIO(store.clear_reference(track_id, fmt)), "r") as container:
        for frame in container.decode(audio=0):
            arr = frame.to_ndarray()
            out.append(np.ascontiguousarray(arr.T if frame.format.is_planar else arr).tobytes())
    return b"".join(out)
