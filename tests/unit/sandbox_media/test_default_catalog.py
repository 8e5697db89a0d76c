"""The whole default catalog (slow: tens of seconds on two cores; run with -m slow)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from defusedxml import ElementTree

from daemon.sandbox.media import FORMATS, ContentStore
from tests.unit.sandbox_media.conftest import packet_md5s


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_default_catalog_generates_and_serves(tmp_path: Path) -> None:
    store = ContentStore(tmp_path, "default")
    report = store.ensure()
    assert len(report.generated) == len(store.catalog.tracks) >= 30
    print(f"default catalog generated in {report.seconds:.1f} s")
    produced = Counter(f for c in store.tracks.values() for f in c.formats)
    assert set(produced) == set(FORMATS)
    for content in store.tracks.values():
        assert set(content.formats) | set(content.unavailable) == set(content.track.planned_formats)
        root = ElementTree.fromstring(
            store.mpd(content.id, FORMATS, "http://127.0.0.1:1/m/", "http://127.0.0.1:1/l")
        )
        reps = [r.get("id") for r in root.iter("{urn:mpeg:dash:schema:mpd:2011}Representation")]
        assert reps == list(content.formats)
    # One cbcs track of each addressing mode present decrypts with PyAV.
    for content in store.tracks.values():
        if content.scheme == "cbcs":
            data = store.resource(content.id, "OPUS_48.mp4")
            decrypted = packet_md5s(data, {"decryption_key": content.key.hex()})
            assert decrypted == packet_md5s(store.clear_reference(content.id, "OPUS_48"))
    assert ContentStore(tmp_path, "default").ensure().generated == ()
