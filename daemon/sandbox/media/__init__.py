"""The sandbox's content generator: the catalog and its encrypted DASH content.

Pure generation and storage (no HTTP): the sandbox server mounts it. Importing this
package needs neither PyAV nor numpy; generation imports them lazily.

Catalog metadata (``daemon.sandbox.media.catalog``, no PyAV)::

    build_catalog(kind: "small" | "default", seed: int) -> Catalog
    Catalog(kind, seed, artists, albums, tracks, playlists, stations); .track(id)
    Artist(id, name)
    Album(id, title, artist, year, image_id, track_ids)
    Track(id, title, artist, album_id, album_title, track_number, duration_s, image_id,
          planned_formats, scheme "cenc"|"cbcs", addressing "list"|"base"|"template",
          kid, key, music);  .duration -> int seconds (AM-C16)
    Playlist(id, title, description, image_id, track_ids)
    Station(id, title, seed_artist_id, image_id, track_ids)   # cycle track_ids endlessly

    'default': 4 albums x 8 tracks (32), 1 playlist (12 tracks), 1 station; 'small': 1 album
    of 3 tracks (1: cenc, every format, SegmentList; 2: cenc, SegmentTemplate; 3: cbcs,
    SegmentBase+sidx), 1 playlist, 1 station. Ids are ASIN-like ('B0' + 8 of [0-9A-Z]).
    Image ids name covers; the server renders them (daemon/sandbox/images.py, AM-C13).

Format ids (``FORMATS``; qualities per the contract's AM-C07 table)::

    OPUS_48, OPUS_192, OPUS_320 (SD), FLAC_16_44 (HD), FLAC_24_96, FLAC_24_192 (UHD),
    EC3 (ATMOS; channel-based E-AC-3, omitted if PyAV's FFmpeg lacks the eac3 encoder).
    REAL_AUDIO_360 is never produced.

Content (``ContentStore``)::

    store = ContentStore(data_dir: Path, catalog="default", segment_seconds=10.0,
                         seed=DEFAULT_SEED, *, workers=None, speech=True, clock=None)
        Files go under <data_dir>/sandbox-media/<catalog>-seed<seed>-seg<seconds>/.
        workers: generation threads (default min(2, CPUs)). speech: announce each track's
        title with espeak-ng when it is installed (optional; part of the cache key).
    store.catalog                    # metadata, available at once
    store.ensure() -> EnsureReport(generated, reused, seconds)
        Blocking (run it in a thread). Validates every cached track (generator version,
        parameters, PyAV and espeak-ng versions, per-file SHA-256, manifest checksum) and
        regenerates only the tracks that are missing, stale or corrupt. A lock file makes
        concurrent ensure() calls (threads or processes) on one directory safe.
    store.tracks -> Mapping[str, TrackContent]       # after ensure()
        TrackContent(track, formats, unavailable, layouts, clear_lead_s) + .id, .scheme,
        .addressing, .kid, .key
    store.mpd(track_id, formats: Collection[str], base_url: str, licence_url: str) -> str
        MPD with a Representation for each requested format the track has (the caller
        computes capabilities ∩ tier ∩ track, AM-C23). NoRepresentationsError when none is
        left. base_url becomes the MPD's BaseURL; resource names below are relative to it.
    store.resource(track_id, name) -> bytes
        "<FORMAT>.mp4" whole encrypted file (SegmentList / SegmentBase byte ranges; the
        server applies HTTP Range), "<FORMAT>/init.mp4", "<FORMAT>/<n>.m4s" (n from 1,
        SegmentTemplate). ContentNotFoundError for anything else (-> 404).
    store.resource_location(track_id, name) -> (path, offset, length)   # for sendfile
    store.keys(track_id) -> {kid: key}
    store.clear_reference(track_id, format_id) -> bytes   # clear fMP4, same packets
        (re-encoded on demand, deterministic; for tests)
    store.source_pcm(track_id, format_id) -> (ndarray, av sample format)  # encoder input

Content rules (AM-C23): static on-demand MPD, minBufferTime PT2S, one AdaptationSet per
codec family, mp4protection with cenc:default_KID, Widevine ContentProtection with
cenc:pssh and dashif:Laurl, amz-music:bitDepth on lossless Representations, ~10 s
segments, the first 30 s clear through a clear sample entry, one key per track, `cenc`
by default and `cbcs` (pattern 0:0, constant IV) on marked tracks. Encryption is
daemon.mp4.cenc's encryptor; PyAV only encodes and muxes clear fragmented MP4.

Errors: ContentError (MediaError) > NoRepresentationsError, ContentNotFoundError.
"""

from daemon.sandbox.media.catalog import (
    Addressing,
    Album,
    Artist,
    Catalog,
    CatalogKind,
    Playlist,
    Scheme,
    Station,
    Track,
    build_catalog,
)
from daemon.sandbox.media.errors import (
    ContentError,
    ContentNotFoundError,
    NoRepresentationsError,
)
from daemon.sandbox.media.formats import FORMATS, AudioFormat
from daemon.sandbox.media.store import (
    DEFAULT_SEED,
    GENERATOR_VERSION,
    ContentStore,
    EnsureReport,
    TrackContent,
)

__all__ = [
    "DEFAULT_SEED",
    "FORMATS",
    "GENERATOR_VERSION",
    "Addressing",
    "Album",
    "Artist",
    "AudioFormat",
    "Catalog",
    "CatalogKind",
    "ContentError",
    "ContentNotFoundError",
    "ContentStore",
    "EnsureReport",
    "NoRepresentationsError",
    "Playlist",
    "Scheme",
    "Station",
    "Track",
    "TrackContent",
    "build_catalog",
]
