"""The content cache: reuse, corruption detection, version change, readiness."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from daemon.sandbox.media import FORMATS, ContentError, ContentStore, NoRepresentationsError
from daemon.sandbox.media import store as store_module
from tests.unit.sandbox_media.conftest import SEED, tree_mtimes


def _copy(small_store: ContentStore, tmp_path: Path) -> Path:
    """A private copy of the session's generated data directory."""
    data_dir = small_store.root.parents[1]
    target = tmp_path / "data"
    shutil.copytree(data_dir, target)
    return target


def test_second_ensure_reuses_everything(small_store: ContentStore, tmp_path: Path) -> None:
    data_dir = _copy(small_store, tmp_path)
    store = ContentStore(data_dir, "small", seed=SEED)
    before = tree_mtimes(store.root)
    report = store.ensure()
    assert report.generated == ()
    assert set(report.reused) == {t.id for t in store.catalog.tracks}
    assert store.generated_count == 0
    assert tree_mtimes(store.root) == before
    assert store.tracks.keys() == small_store.tracks.keys()
    for tid, content in store.tracks.items():
        assert content.formats == small_store.tracks[tid].formats
        assert content.layouts == small_store.tracks[tid].layouts


def test_flipped_byte_is_detected_and_only_that_track_regenerated(
    small_store: ContentStore, tmp_path: Path
) -> None:
    data_dir = _copy(small_store, tmp_path)
    store = ContentStore(data_dir, "small", seed=SEED)
    # The cheapest track (HI_FI at most) keeps the test fast.
    victim = store.catalog.tracks[1].id
    others = [t.id for t in store.catalog.tracks if t.id != victim]
    path = store.root / victim / "OPUS_48.mp4"
    original = path.read_bytes()
    corrupt = bytearray(original)
    corrupt[len(corrupt) // 2] ^= 0x01
    path.write_bytes(bytes(corrupt))
    before = tree_mtimes(store.root)

    report = store.ensure()

    assert report.generated == (victim,)
    assert set(report.reused) == set(others)
    # Generation is deterministic (seeded audio and IVs): the same bytes come back.
    assert path.read_bytes() == original
    after = tree_mtimes(store.root)
    assert all(after[k] == v for k, v in before.items() if not k.startswith(victim))


def test_missing_file_or_manifest_is_regenerated(small_store: ContentStore, tmp_path: Path) -> None:
    data_dir = _copy(small_store, tmp_path)
    store = ContentStore(data_dir, "small", seed=SEED)
    _, first, second = (t.id for t in store.catalog.tracks)
    (store.root / first / "OPUS_192.mp4").unlink()
    (store.root / second / "manifest.json").write_text("{not json")
    report = store.ensure()
    assert set(report.generated) == {first, second}
    assert (store.root / first / "OPUS_192.mp4").is_file()


def test_manifest_from_another_generator_version_is_regenerated(
    small_store: ContentStore, tmp_path: Path
) -> None:
    data_dir = _copy(small_store, tmp_path)
    store = ContentStore(data_dir, "small", seed=SEED)
    victim = store.catalog.tracks[1].id
    manifest_path = store.root / victim / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    body = manifest["body"]
    body["params"]["generator"] = store_module.GENERATOR_VERSION - 1
    # A consistent manifest (checksum recomputed) written by an older generator.
    manifest["sha256"] = store_module._digest(body)
    manifest_path.write_text(json.dumps(manifest))
    report = store.ensure()
    assert report.generated == (victim,)
    assert json.loads(manifest_path.read_text())["body"]["params"]["generator"] == (
        store_module.GENERATOR_VERSION
    )


def test_edited_manifest_is_detected(small_store: ContentStore, tmp_path: Path) -> None:
    data_dir = _copy(small_store, tmp_path)
    store = ContentStore(data_dir, "small", seed=SEED)
    victim = store.catalog.tracks[1].id
    manifest_path = store.root / victim / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["body"]["layouts"]["OPUS_48"]["init_size"] += 1  # checksum left stale
    manifest_path.write_text(json.dumps(manifest))
    assert store.ensure().generated == (victim,)
    assert store.tracks[victim].layouts == small_store.tracks[victim].layouts


@pytest.mark.slow
def test_generator_version_change_regenerates(
    small_store: ContentStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = _copy(small_store, tmp_path)
    monkeypatch.setattr(store_module, "GENERATOR_VERSION", store_module.GENERATOR_VERSION + 1)
    store = ContentStore(data_dir, "small", seed=SEED)
    report = store.ensure()
    assert set(report.generated) == {t.id for t in store.catalog.tracks}
    assert store.generated_count == 3
    for track in store.catalog.tracks:
        manifest = json.loads((store.root / track.id / "manifest.json").read_text())
        assert manifest["body"]["params"]["generator"] == store_module.GENERATOR_VERSION
    # ...and the next start reuses what was just made.
    assert ContentStore(data_dir, "small", seed=SEED).ensure().generated == ()


def test_not_ready_before_ensure(tmp_path: Path) -> None:
    store = ContentStore(tmp_path, "small", seed=SEED)
    assert len(store.catalog.tracks) == 3  # metadata is there at once
    with pytest.raises(ContentError):
        _ = store.tracks
    with pytest.raises(ContentError):
        store.mpd(store.catalog.tracks[0].id, ["OPUS_48"], "http://x/", "http://x/l")


@pytest.mark.parametrize(
    ("kwargs", "word"), [({"catalog": "huge"}, "catalog"), ({"segment_seconds": 0.1}, "segment")]
)
def test_bad_parameters_are_refused(tmp_path: Path, kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ContentError, match=word):
        ContentStore(tmp_path, **kwargs)  # type: ignore[arg-type]


def test_concurrent_ensures_share_one_generation(small_store: ContentStore, tmp_path: Path) -> None:
    data_dir = _copy(small_store, tmp_path)
    victim = small_store.catalog.tracks[1].id
    relative = small_store.root.relative_to(small_store.root.parents[1])
    (data_dir / relative / victim / "manifest.json").unlink()
    stores = [ContentStore(data_dir, "small", seed=SEED) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda s: s.ensure(), stores))
    assert sorted(len(r.generated) for r in reports) == [0, 1]
    assert all(set(s.tracks) == set(small_store.tracks) for s in stores)
    assert not list(stores[0].root.glob(".tmp-*"))


def test_missing_encoder_means_the_format_is_omitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if PyAV's FFmpeg had only libopus (e.g. no eac3 encoder in a custom build).
    monkeypatch.setattr(
        store_module,
        "_encoder_missing",
        lambda encoder: None if encoder == "libopus" else f"no {encoder} encoder",
    )
    store = ContentStore(tmp_path, "small", seed=SEED)
    store.ensure()
    first = store.tracks[store.catalog.tracks[0].id]
    assert first.formats == ("OPUS_48", "OPUS_192", "OPUS_320")
    assert first.unavailable["EC3"] == "no eac3 encoder"
    assert set(first.unavailable) == {"FLAC_16_44", "FLAC_24_96", "FLAC_24_192", "EC3"}
    with pytest.raises(NoRepresentationsError):
        store.mpd(first.id, ["EC3", "FLAC_24_192"], "http://x/", "http://x/l")
    mpd = store.mpd(first.id, list(FORMATS), "http://x/", "http://x/l")
    assert "EC3" not in mpd
    assert "flac" not in mpd


def test_segment_length_is_configurable_and_the_clear_lead_stays_30_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(  # Opus only, to keep the test fast
        store_module, "_encoder_missing", lambda e: None if e == "libopus" else "skipped"
    )
    store = ContentStore(tmp_path, "small", segment_seconds=6.0, seed=SEED)
    store.ensure()
    content = store.tracks[store.catalog.tracks[0].id]
    layout = content.layouts["OPUS_192"]
    assert layout.timescale == 48000
    assert {s.duration for s in layout.segments[:-1]} == {6 * 48000}
    starts = [s.start / layout.timescale for s in layout.segments]
    assert [s.clear for s in layout.segments] == [t < 30 for t in starts]
    assert sum(s.clear for s in layout.segments) == 5
    mpd = store.mpd(content.id, ["OPUS_192"], "http://x/", "http://x/l")
    assert 'duration="288000"' in mpd  # SegmentList @duration in the 48 kHz timescale
