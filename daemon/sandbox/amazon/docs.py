"""Device API documents built from the media catalog (spec/amazon-music.md §4-5).

Pure functions: catalog objects and a `DocContext` (base URL, URI prefix, image options)
in, JSON-ready dicts out. References inside a document are `#name`; links to other
documents are relative where the real service uses relative forms (AM-C14/AM-C15).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from daemon.contracts import amazon_music as am
from daemon.sandbox import choices
from daemon.sandbox.amazon import images
from daemon.sandbox.media.catalog import Album, Catalog, Playlist, Station, Track

#: Tracks per station chunk; stations are endless chains of chunks (spec §5.1).
STATION_CHUNK_TRACKS: Final = 4
#: Station chains stop growing here so a buggy client cannot walk forever.
STATION_MAX_CHUNKS: Final = 10_000


@dataclass(frozen=True, slots=True)
class DocContext:
    """What a document needs from the request: absolute base, URI prefix, image choices."""

    base_url: str
    prefix: str  # "" or "/<salt>" (AM-C14 URI shuffling)
    shrink: Mapping[str, tuple[int, int]]
    style: int | None
    image_ext: str
    placeholder: bool = False  # AM-C13b: `amzn-image-style: *`

    def image(self, image_id: str, role: str) -> dict[str, str]:
        if self.placeholder:
            return {"uri": self.base_url + choices.IMAGE_PLACEHOLDER_FORMAT.format(
                image_id=image_id, ext=self.image_ext)}
        width, height = choices.fit_within(images.ORIGINAL_SIZE,
                                      choices.image_bound(role, self.shrink, self.style))
        path = choices.IMAGE_PATH_FORMAT.format(image_id=image_id, width=width, height=height,
                                           ext=self.image_ext)
        return {"uri": self.base_url + path}


def _summary(title: str, description: str, count: int) -> dict[str, Any]:
    return {"title": title, "description": description, "numItemsOfInterest": count}


def root_document(cat: Catalog, ctx: DocContext) -> dict[str, Any]:
    """`GET /`: the catalog node; children are relative, prefixed catalog URIs."""
    p = ctx.prefix.lstrip("/")
    p = f"{p}/" if p else ""
    children = (
        ("albums", "Albums", f"{p}catalog/albums/#albums_desc", len(cat.albums)),
        ("playlists", "Playlists", f"{p}catalog/playlists/#prime_playlists", len(cat.playlists)),
        ("stations", "Stations", f"{p}catalog/stations/#prime_stations", len(cat.stations)),
    )
    summaries = {f"{key}_summary": _summary(title, ref, n) for key, title, ref, n in children}
    summaries["catalog_summary"] = _summary("Amazon Music (sandbox)", "#catalog_desc",
                                            len(children))
    items = {
        f"item_{key}": {"itemLabel": title, "navigationNodeSummary": f"#{key}_summary"}
        for key, title, _, _ in children
    }
    return {
        "result": "#catalog_desc",
        "navigationNodeSummaries": summaries,
        "navigationNodeDescriptions": {
            "catalog_desc": {"summary": "#catalog_summary",
                             "items": [f"#item_{key}" for key, _, _, _ in children]},
        },
        "itemDescriptions": items,
        "search": {"uri": am.SEARCH_PATH.lstrip("/"), "flat": am.FLAT_SEARCH_PATH.lstrip("/")},
    }


def _list_document(
    name: str, title: str, entries: Sequence[tuple[str, str, str, str]], ctx: DocContext
) -> dict[str, Any]:
    """A node listing containers: entries are (id, label, image id, relative ref)."""
    summaries = {f"{name}_summary": _summary(title, f"#{name}", len(entries))}
    items: dict[str, Any] = {}
    for index, (_, label, image_id, ref) in enumerate(entries):
        summaries[f"nns_{index}"] = _summary(label, ref, 0)
        items[f"item_{index}"] = {
            "itemLabel": label,
            "navigationNodeSummary": f"#nns_{index}",
            "image": ctx.image(image_id, "item"),
        }
    return {
        "result": f"#{name}",
        "navigationNodeSummaries": summaries,
        "navigationNodeDescriptions": {
            name: {"summary": f"#{name}_summary",
                   "items": [f"#item_{i}" for i in range(len(entries))]},
        },
        "itemDescriptions": items,
    }


def albums_document(cat: Catalog, ctx: DocContext) -> dict[str, Any]:
    return _list_document(
        "albums_desc", "Albums",
        [(a.id, a.title, a.image_id, f"{a.id}/#album_desc") for a in cat.albums], ctx)


def playlists_document(cat: Catalog, ctx: DocContext) -> dict[str, Any]:
    return _list_document(
        "prime_playlists", "Playlists",
        [(p.id, p.title, p.image_id, f"{p.id}/#container_desc") for p in cat.playlists], ctx)


def stations_document(cat: Catalog, ctx: DocContext) -> dict[str, Any]:
    """Stations are playable items: each points at its first chunk."""
    summaries = {"stations_summary": _summary("Stations", "#prime_stations", len(cat.stations))}
    items: dict[str, Any] = {}
    playables: dict[str, Any] = {}
    for index, station in enumerate(cat.stations):
        playables[f"playable_{index}"] = {"naturalTrackPointer": {
            "chunk": f"{station.id}/chunks/0/#chunk-0", "indexWithinChunk": 0}}
        items[f"item_{index}"] = {"itemLabel": station.title, "playable": f"#playable_{index}",
                                  "image": ctx.image(station.image_id, "item")}
    return {
        "result": "#prime_stations",
        "navigationNodeSummaries": summaries,
        "navigationNodeDescriptions": {"prime_stations": {
            "summary": "#stations_summary", "items": [f"#item_{i}" for i in range(len(items))]}},
        "itemDescriptions": items,
        "playables": playables,
    }


def container_document(
    cat: Catalog, container: Album | Playlist, ctx: DocContext, name: str
) -> dict[str, Any]:
    """An album or playlist node: one playable item per track, pointing into its chunk."""
    tracks = [cat.track(t) for t in container.track_ids]
    items: dict[str, Any] = {}
    playables: dict[str, Any] = {}
    for index, track in enumerate(tracks):
        playables[f"playable_{index}"] = {"naturalTrackPointer": {
            "chunk": "chunk/#chunk", "indexWithinChunk": index}}
        items[f"item_{index}"] = {"itemLabel": track.title, "playable": f"#playable_{index}",
                                  "image": ctx.image(track.image_id, "item")}
    return {
        "result": f"#{name}",
        "navigationNodeSummaries": {"summary": {
            **_summary(container.title, f"#{name}", len(tracks)),
            "image": ctx.image(container.image_id, "navigation-node")}},
        "navigationNodeDescriptions": {name: {
            "summary": "#summary", "items": [f"#item_{i}" for i in range(len(tracks))]}},
        "itemDescriptions": items,
        "playables": playables,
    }


def chunk_document(
    title: str,
    key: str,
    track_ids: Sequence[str],
    collectors: Sequence[str],
    track_ref: str,
    *,
    first: dict[str, Any] | None,
    last: dict[str, Any] | None,
    next_ptr: dict[str, Any] | None,
    prev_ptr: dict[str, Any] | None,
) -> dict[str, Any]:
    """A TrackContainerChunkDescription with its track instances.

    `track_ref` is a format string with `{track_id}` giving each instance's remote
    TrackDefinition reference; `collectors` are the per-instance collector URLs.
    """
    instances = {
        f"track_inst_{i}": {"trackDefinition": track_ref.format(track_id=tid),
                            "playbackEventCollector": collectors[i]}
        for i, tid in enumerate(track_ids)
    }
    return {
        "result": f"#{key}",
        "trackContainerChunkDescriptions": {key: {
            "firstTrackPointer": first,
            "lastTrackPointer": last,
            "nextTrackPointer": next_ptr,
            "prevTrackPointer": prev_ptr,
            "title": title,
            "trackInstances": [f"#track_inst_{i}" for i in range(len(track_ids))],
        }},
        "trackInstances": instances,
    }


def station_chunk_ids(station: Station, index: int) -> list[str]:
    ids = station.track_ids
    start = index * STATION_CHUNK_TRACKS
    return [ids[(start + i) % len(ids)] for i in range(STATION_CHUNK_TRACKS)]


def track_definition_document(
    track: Track,
    ctx: DocContext,
    *,
    audio: dict[str, Any],
    rating_uri: str | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "trackTag": track.id,
        "title": track.title,
        "artist": {"name": track.artist.name},
        "album": {"name": track.album_title, "asin": track.album_id},
        "duration": round(track.duration_s),  # AM-C16: integer seconds
        "image": ctx.image(track.image_id, "track"),
        "audio": audio,
        "autoSkipOnError": False,
    }
    doc: dict[str, Any] = {"result": "#track_def", "trackDefinitions": {"track_def": definition}}
    if rating_uri is not None:
        definition["trackRating"] = {"thumbRating": "neutral", "ratingURI": rating_uri}
    if error is not None:
        definition["error"] = f"#{choices.ERROR_REPORT_KEY}"
        doc["generalErrorReports"] = error["generalErrorReports"]
    return doc
