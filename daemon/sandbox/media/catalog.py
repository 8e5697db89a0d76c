"""Catalog metadata: artists, albums, tracks, a playlist and a station (no PyAV, no numpy).

`build_catalog(kind, seed)` is deterministic: the same kind and seed give the same ids,
titles, musical parameters, keys and formats. What the generator could actually produce
is decided later by ContentStore (see `TrackContent.formats`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Literal

from daemon.sandbox.media.formats import FORMATS

CatalogKind = Literal["small", "default"]
Scheme = Literal["cenc", "cbcs"]
#: How Representations address their segments (spec/drm-and-media.md §9.5-9.8).
Addressing = Literal["list", "base", "template"]

_ASIN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def derive(seed: int, *parts: str, size: int = 16) -> bytes:
    """Deterministic bytes for (seed, parts): the catalog's only source of 'randomness'."""
    h = hashlib.sha256(f"speakerd-sandbox-media/{seed}/{'/'.join(parts)}".encode())
    return h.digest()[:size]


def asin(seed: int, *parts: str) -> str:
    """An ASIN-like id: 'B0' followed by 8 characters of [0-9A-Z]."""
    raw = derive(seed, "asin", *parts, size=8)
    return "B0" + "".join(_ASIN_ALPHABET[b % len(_ASIN_ALPHABET)] for b in raw)


@dataclass(frozen=True, slots=True)
class Artist:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Music:
    """Parameters of the synthesized piece (notes and chords)."""

    seed: int
    #: MIDI note of the tonic.
    tonic: int
    minor: bool
    bpm: int
    #: chord roots as scale degrees (0-based), one chord per bar.
    progression: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    title: str
    artist: Artist
    album_id: str
    album_title: str
    track_number: int
    #: exact length in seconds (TrackDefinition.duration is this, rounded: AM-C16).
    duration_s: float
    #: cover image id (the album's), see images.cover_image().
    image_id: str
    #: format ids this track is authored in (before what the generator can produce).
    planned_formats: tuple[str, ...]
    scheme: Scheme
    addressing: Addressing
    kid: bytes
    key: bytes = field(repr=False)
    music: Music = field(repr=False)

    @property
    def duration(self) -> int:
        return round(self.duration_s)


@dataclass(frozen=True, slots=True)
class Album:
    id: str
    title: str
    artist: Artist
    year: int
    image_id: str
    track_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Playlist:
    id: str
    title: str
    description: str
    image_id: str
    track_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Station:
    """A seeded radio station: the server walks `track_ids` (cycling) as an endless queue."""

    id: str
    title: str
    seed_artist_id: str
    image_id: str
    track_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    kind: CatalogKind
    seed: int
    artists: tuple[Artist, ...]
    albums: tuple[Album, ...]
    tracks: tuple[Track, ...]
    playlists: tuple[Playlist, ...]
    stations: tuple[Station, ...]

    def track(self, track_id: str) -> Track:
        for t in self.tracks:
            if t.id == track_id:
                return t
        raise KeyError(track_id)


_ALL = tuple(FORMATS)
_STD = ("OPUS_48", "OPUS_192", "OPUS_320")
_HIFI = (*_STD, "FLAC_16_44")
_HIRES96 = (*_HIFI, "FLAC_24_96")
_HIRES = (*_HIFI, "FLAC_24_96", "FLAC_24_192")

# (artist, album title, year, track titles)
_ALBUMS: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    (
        "The Sine Collective",
        "Phase Relations",
        2019,
        (
            "Carrier Wave",
            "Beat Frequency",
            "Zero Crossing",
            "Harmonic Series",
            "Nyquist Blues",
            "Overtone Walk",
            "Sideband",
            "Coda in A",
        ),
    ),
    (
        "Mira Okafor",
        "Quiet Intervals",
        2021,
        (
            "Perfect Fifth",
            "Minor Second Thoughts",
            "Suspended",
            "Leading Tone",
            "Deceptive Cadence",
            "Circle Of Fourths",
            "Pedal Point",
            "Resolution",
        ),
    ),
    (
        "Lattice & Lowpass",
        "Sample Rate",
        2023,
        (
            "Forty-Four One",
            "Ninety-Six",
            "One Ninety-Two",
            "Dither",
            "Bit Depth",
            "Headroom",
            "Noise Shaping",
            "Brickwall",
        ),
    ),
    (
        "Aurelio Brandt",
        "Night Transcriptions",
        2017,
        (
            "Nocturne For Test Tones",
            "Lullaby In Sixteen Bits",
            "Slow Attack",
            "Long Release",
            "Counterpoint",
            "Etude No. 5",
            "Fughetta",
            "Postlude",
        ),
    ),
)

_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 2, 3, 4))


def _music(seed: int, track_id: str) -> Music:
    rng = random.Random(derive(seed, "music", track_id))
    return Music(
        seed=int.from_bytes(derive(seed, "audio", track_id, size=4), "big"),
        tonic=rng.choice((57, 58, 60, 62, 63, 64, 65, 67)),
        minor=rng.random() < 0.4,
        bpm=rng.choice((84, 92, 100, 108, 116, 126)),
        progression=rng.choice(_PROGRESSIONS),
    )


def _track(
    seed: int,
    *,
    artist: Artist,
    album_id: str,
    album_title: str,
    number: int,
    title: str,
    formats: tuple[str, ...],
    scheme: Scheme,
    addressing: Addressing,
) -> Track:
    tid = asin(seed, "track", album_id, str(number))
    # 40-48 s: long enough for encrypted segments after the 30 s clear lead.
    duration = 40.0 + (derive(seed, "duration", tid)[0] % 17) / 2
    return Track(
        id=tid,
        title=title,
        artist=artist,
        album_id=album_id,
        album_title=album_title,
        track_number=number,
        duration_s=duration,
        image_id=album_id,
        planned_formats=formats,
        scheme=scheme,
        addressing=addressing,
        kid=derive(seed, "kid", tid),
        key=derive(seed, "key", tid),
        music=_music(seed, tid),
    )


def _default_plan(album_index: int, number: int) -> tuple[tuple[str, ...], Scheme, Addressing]:
    """Spread formats, schemes and addressing modes over the catalog so every path is used."""
    n = album_index * 8 + number  # 1..32
    addressing: Addressing = ("list", "base", "template")[n % 3]
    scheme: Scheme = "cbcs" if n in (7, 20) else "cenc"
    if n in (1, 12, 27):
        formats = _ALL
    elif n % 8 == 4:
        formats = _HIRES
    elif n % 4 == 2:
        formats = _HIRES96
    elif n % 5 == 3:
        formats = _STD
    else:
        formats = _HIFI
    return formats, scheme, addressing


def build_catalog(kind: CatalogKind, seed: int) -> Catalog:
    """The deterministic catalog of `kind` ('small': 3 tracks; 'default': 32 tracks)."""
    albums: list[Album] = []
    artists: list[Artist] = []
    tracks: list[Track] = []
    album_specs = _ALBUMS if kind == "default" else _ALBUMS[:1]
    for a_index, (artist_name, album_title, year, titles) in enumerate(album_specs):
        artist = Artist(asin(seed, "artist", artist_name), artist_name)
        album_id = asin(seed, "album", album_title)
        album_tracks: list[Track] = []
        for number, title in enumerate(titles if kind == "default" else titles[:3], start=1):
            if kind == "default":
                formats, scheme, addressing = _default_plan(a_index, number)
            else:
                formats, scheme, addressing = _small_plan(number)
            album_tracks.append(
                _track(
                    seed,
                    artist=artist,
                    album_id=album_id,
                    album_title=album_title,
                    number=number,
                    title=title,
                    formats=formats,
                    scheme=scheme,
                    addressing=addressing,
                )
            )
        artists.append(artist)
        tracks.extend(album_tracks)
        albums.append(
            Album(album_id, album_title, artist, year, album_id, tuple(t.id for t in album_tracks))
        )
    rng = random.Random(derive(seed, "playlist"))
    picks = rng.sample(tracks, k=min(len(tracks), 12))
    playlist = Playlist(
        id=asin(seed, "playlist", "mix"),
        title="Sandbox Mix",
        description="A little of everything the sandbox can play.",
        image_id=asin(seed, "image", "playlist"),
        track_ids=tuple(t.id for t in picks),
    )
    first_artist = artists[0]
    station = Station(
        id=asin(seed, "station", first_artist.id),
        title=f"{first_artist.name} Radio",
        seed_artist_id=first_artist.id,
        image_id=asin(seed, "image", "station"),
        track_ids=tuple(t.id for t in rng.sample(tracks, k=len(tracks))),
    )
    return Catalog(
        kind=kind,
        seed=seed,
        artists=tuple(artists),
        albums=tuple(albums),
        tracks=tuple(tracks),
        playlists=(playlist,),
        stations=(station,),
    )


def _small_plan(number: int) -> tuple[tuple[str, ...], Scheme, Addressing]:
    # 1: cenc, every format, SegmentList (the AM-C23 default);
    # 2: cenc, SegmentTemplate; 3: cbcs, SegmentBase + sidx.
    if number == 1:
        return _ALL, "cenc", "list"
    if number == 2:
        return _HIFI, "cenc", "template"
    return (*_HIFI, "FLAC_24_96"), "cbcs", "base"
