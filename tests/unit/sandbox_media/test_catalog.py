"""Catalog metadata: shape, determinism, coverage of schemes and addressing modes."""

from __future__ import annotations

import re
import subprocess
import sys

from daemon.sandbox.media import FORMATS, build_catalog

ASIN = re.compile(r"^B0[0-9A-Z]{8}$")


def test_metadata_imports_without_pyav_or_numpy() -> None:
    code = (
        "import sys, daemon.sandbox.media as m; m.build_catalog('default', 1);"
        "print('av' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_default_catalog_shape() -> None:
    cat = build_catalog("default", 7)
    assert len(cat.albums) >= 3
    assert len(cat.tracks) >= 30
    assert len(cat.playlists) == 1
    assert len(cat.stations) == 1
    ids = [t.id for t in cat.tracks] + [a.id for a in cat.albums] + [a.id for a in cat.artists]
    assert all(ASIN.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    track_ids = {t.id for t in cat.tracks}
    assert set(cat.playlists[0].track_ids) <= track_ids
    assert set(cat.stations[0].track_ids) <= track_ids
    for album in cat.albums:
        numbers = [cat.track(t).track_number for t in album.track_ids]
        assert numbers == list(range(1, len(numbers) + 1))
        assert all(cat.track(t).album_id == album.id for t in album.track_ids)


def test_default_catalog_exercises_every_path() -> None:
    cat = build_catalog("default", 7)
    assert {t.addressing for t in cat.tracks} == {"list", "base", "template"}
    assert {t.scheme for t in cat.tracks} == {"cenc", "cbcs"}
    assert {f for t in cat.tracks for f in t.planned_formats} == set(FORMATS)
    # Long enough for encrypted segments after the 30 s clear lead.
    assert all(40 <= t.duration_s <= 60 for t in cat.tracks)
    assert all(t.planned_formats[:3] == ("OPUS_48", "OPUS_192", "OPUS_320") for t in cat.tracks)


def test_small_catalog_covers_the_test_cases() -> None:
    cat = build_catalog("small", 7)
    assert len(cat.tracks) == 3
    first, second, third = cat.tracks
    assert first.scheme == "cenc"
    assert set(first.planned_formats) == set(FORMATS)
    assert second.addressing != first.addressing
    assert third.scheme == "cbcs"
    assert len({t.addressing for t in cat.tracks}) == 3


def test_catalog_is_deterministic_per_seed() -> None:
    assert build_catalog("default", 3) == build_catalog("default", 3)
    a, b = build_catalog("small", 3), build_catalog("small", 4)
    assert [t.id for t in a.tracks] != [t.id for t in b.tracks]
    assert [t.key for t in a.tracks] != [t.key for t in b.tracks]
    assert len({t.key for t in a.tracks}) == 3  # a key per track


def test_key_is_not_in_repr() -> None:
    track = build_catalog("small", 3).tracks[0]
    assert track.key.hex() not in repr(track)
    assert repr(track.key) not in repr(track)
