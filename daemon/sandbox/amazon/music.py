"""Sandbox Amazon Music Device API: browse, track definitions, manifests, segments,
images, events, ratings, availability, search (spec/amazon-music.md §3-9).

DOCUMENTED rules are enforced strictly; the sandbox's own choices come from `choices`.
Authentication is checked first (401, AM-C28), then the playback headers (400 naming the
header, AM-C11/AM-C12). The licence endpoint lives in `licence_http.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.core.tiers import Capability
from daemon.sandbox import choices
from daemon.sandbox.amazon import docs, images
from daemon.sandbox.amazon.events import EventRejected, validate_event
from daemon.sandbox.amazon.extras import MOVED, MusicExtras
from daemon.sandbox.amazon.licence_http import LicenceEndpoint
from daemon.sandbox.amazon.music_state import MusicState
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.faults import FLAG_URL_EXPIRED, FaultInjector
from daemon.sandbox.media.catalog import Album, Playlist
from daemon.sandbox.web import (
    HttpProblem,
    json_response,
    read_body,
)

if TYPE_CHECKING:
    from daemon.sandbox.amazon.lwa import LwaService

log = logging.getLogger("daemon.sandbox")

_IMAGE_CACHE = 64
#: AM-C19: the alias prefix a redirected path moves to.
_MOVED = MOVED
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_WHITESPACE = re.compile(r"\s")


class MusicService(MusicState):
    """Routes and handlers of the Device API emulation."""

    def __init__(self, config: SandboxConfig, clock: Clock, lwa: LwaService,
                 faults: FaultInjector) -> None:
        super().__init__(config, clock, lwa, faults)
        self.licence = LicenceEndpoint(self)
        self.extras = MusicExtras(self)

    # -- lifecycle ------------------------------------------------------------------------

    async def prepare(self) -> None:
        await asyncio.to_thread(self.content.ensure)

    def bound(self, base_url: str) -> None:
        self.base_url = base_url

    async def aclose(self) -> None:
        self.content.close()

    # -- routes ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application, *, admin: bool) -> None:
        r = app.router
        moved = _MOVED + self.prefix
        for p in (self.prefix, moved):
            root = "/" if p == self.prefix else f"{moved}/"
            r.add_get(root, self._redirectable(self.get_root))
            r.add_get(f"{p}/catalog/albums/", self._redirectable(self.get_albums))
            r.add_get(f"{p}/catalog/albums/{{cid}}/", self._redirectable(self.get_album))
            r.add_get(f"{p}/catalog/albums/{{cid}}/chunk/",
                      self._redirectable(self.get_album_chunk))
            r.add_get(f"{p}/catalog/playlists/", self._redirectable(self.get_playlists))
            r.add_get(f"{p}/catalog/playlists/{{cid}}/", self._redirectable(self.get_playlist))
            r.add_get(f"{p}/catalog/playlists/{{cid}}/chunk/",
                      self._redirectable(self.get_playlist_chunk))
            r.add_get(f"{p}/catalog/stations/", self._redirectable(self.get_stations))
            r.add_get(f"{p}/catalog/stations/{{cid}}/chunks/{{n}}/",
                      self._redirectable(self.get_station_chunk))
            r.add_get(f"{p}/catalog/tracks/{{tid}}/", self._redirectable(self.get_track))
            r.add_post(f"{p}/catalog/rating/{{tid}}/", self.extras.post_rating)
        r.add_get(am.SEARCH_PATH, self.extras.get_search)
        r.add_get(am.FLAT_SEARCH_PATH, self.extras.get_flat_search)
        r.add_get(am.AVAILABILITY_PATH, self.extras.get_availability)  # aiohttp adds HEAD
        r.add_get("/images/{name}", self.get_image)
        r.add_get("/dash/{tid}.mpd", self.get_mpd)
        r.add_get("/media/{token}/{tail:.+}", self.get_media)
        r.add_post("/events/{iid}", self.post_event)
        r.add_post("/playback/resume", self.post_resume)
        self.licence.add_routes(app)
        if admin:
            r.add_get("/_sandbox/music/events", self.extras.hook_events)
            r.add_post("/_sandbox/music/settings", self.extras.hook_settings)
            r.add_post("/_sandbox/music/compete", self.extras.hook_compete)
            r.add_post("/_sandbox/music/expire-manifests", self.extras.hook_expire_manifests)
            r.add_post("/_sandbox/music/redirect", self.extras.hook_redirect)

    def _redirectable(self, handler: _Handler) -> _Handler:
        """AM-C19 / DOCUMENTED redirects: a moved path answers 301/303/307 to its alias, or
        200 with X-Amz-Redirect-* headers when the client sent `X-Amz-Workaround: redirect`."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            status = self.redirects.get(request.path)
            if status is None:
                return await handler(request)
            self.account(request)
            location = _MOVED + request.path_qs
            if am.header_list_contains(request.headers.get(am.H_WORKAROUND),
                                       am.WORKAROUND_REDIRECT):
                return web.Response(status=200, headers={
                    am.H_REDIRECT_STATUS: str(status), am.H_REDIRECT_LOCATION: location})
            return web.Response(status=status, headers={"Location": location})

        return wrapped

    # -- browse -----------------------------------------------------------------------------

    async def get_root(self, request: web.Request) -> web.Response:
        self.account(request)
        return json_response(docs.root_document(self.catalog, self.doc_context(request)))

    async def get_albums(self, request: web.Request) -> web.Response:
        self.account(request)
        return json_response(docs.albums_document(self.catalog, self.doc_context(request)))

    async def get_playlists(self, request: web.Request) -> web.Response:
        self.account(request)
        return json_response(docs.playlists_document(self.catalog, self.doc_context(request)))

    async def get_stations(self, request: web.Request) -> web.Response:
        self.account(request)
        return json_response(docs.stations_document(self.catalog, self.doc_context(request)))

    async def get_album(self, request: web.Request) -> web.Response:
        self.account(request)
        album = self.album(request.match_info["cid"])
        return json_response(docs.container_document(
            self.catalog, album, self.doc_context(request), "album_desc"))

    async def get_playlist(self, request: web.Request) -> web.Response:
        self.account(request)
        playlist = self.playlist(request.match_info["cid"])
        return json_response(docs.container_document(
            self.catalog, playlist, self.doc_context(request), "container_desc"))

    async def get_album_chunk(self, request: web.Request) -> web.Response:
        account = self.account(request)
        album = self.album(request.match_info["cid"])
        return json_response(self._container_chunk(request, account, album, "album"))

    async def get_playlist_chunk(self, request: web.Request) -> web.Response:
        account = self.account(request)
        playlist = self.playlist(request.match_info["cid"])
        return json_response(self._container_chunk(request, account, playlist, "playlist"))

    def _container_chunk(self, request: web.Request, account: str,
                         container: Album | Playlist, kind: str) -> dict[str, Any]:
        ids = list(container.track_ids)
        if request.query.get("shuffle") == "true":
            # AM-C21: a seeded shuffle, stable per container and sandbox seed.
            random.Random(f"{self.config.seed}/{container.id}").shuffle(ids)
        collectors = [self._collector(request, t, f"{kind}:{container.id}", account) for t in ids]
        return docs.chunk_document(
            container.title, "chunk", ids, collectors, "../../../tracks/{track_id}/#track_def",
            first={"chunk": "#chunk", "indexWithinChunk": 0},
            last={"chunk": "#chunk", "indexWithinChunk": len(ids) - 1},
            next_ptr=None, prev_ptr=None)

    async def get_station_chunk(self, request: web.Request) -> web.Response:
        account = self.account(request)
        station = next((s for s in self.catalog.stations
                        if s.id == request.match_info["cid"]), None)
        if station is None:
            raise HttpProblem(404, "unknown station")
        try:
            index = int(request.match_info["n"])
        except ValueError:
            raise HttpProblem(404, "unknown station chunk") from None
        if not 0 <= index < docs.STATION_MAX_CHUNKS:
            raise HttpProblem(404, "unknown station chunk")
        ids = docs.station_chunk_ids(station, index)
        collectors = [self._collector(request, t, f"station:{station.id}", account) for t in ids]
        key = f"chunk-{index}"
        nxt = ({"chunk": f"../{index + 1}/#chunk-{index + 1}", "indexWithinChunk": 0}
               if index + 1 < docs.STATION_MAX_CHUNKS else None)
        prev = ({"chunk": f"../{index - 1}/#chunk-{index - 1}", "indexWithinChunk": 0}
                if index > 0 else None)
        return json_response(docs.chunk_document(
            station.title, key, ids, collectors,
            "../../../../tracks/{track_id}/?ctx=station#track_def",
            first={"chunk": "../0/#chunk-0", "indexWithinChunk": 0}, last=None,
            next_ptr=nxt, prev_ptr=prev))

    def _collector(self, request: web.Request, track_id: str, container: str,
                   account: str) -> str:
        iid = self.collectors.create(track_id, container, account, self._instance_salt)
        return self.absolute(request, f"/events/{iid}")

    # -- track definitions and manifests ----------------------------------------------------

    async def get_track(self, request: web.Request) -> web.Response:
        self.account(request)
        device_id, _ = self.playback_headers(request)
        track = self.track(request.match_info["tid"])
        now = self.clock.time()
        expires = now + self.config.manifest_lifetime_s
        manifest = self.signer.issue("m", track.id, device_id, expires)
        licence = self.signer.issue("l", track.id, device_id, expires)
        audio = {
            "uri": self.absolute(request, f"/dash/{track.id}.mpd?t={manifest}"),
            "headers": {},
            "expires": am.format_timestamp(expires),
            am.AUDIO_LICENSE_URI_FIELD: self.absolute(
                request, f"/drm/widevine/{track.id}?t={licence}"),
        }
        rating = (f"../../rating/{track.id}/"
                  if request.query.get("ctx") == "station" else None)
        return json_response(docs.track_definition_document(
            track, self.doc_context(request), audio=audio, rating_uri=rating))

    async def get_mpd(self, request: web.Request) -> web.Response:
        account = self.account(request)
        device_id, caps = self.playback_headers(request)
        track = self.track(request.match_info["tid"])
        claims = self.signer.check(request.query.get("t", ""), "m", self.clock.time())
        if request.get(FLAG_URL_EXPIRED) or claims is None or claims.track_id != track.id:
            raise HttpProblem(403, "the manifest URL is invalid or expired; "
                              "fetch the TrackDefinition again")
        formats = choices.offered_formats(caps, self.tier, self.content.formats(track))
        if not formats:
            raise HttpProblem(am.GENERAL_ERROR_STATUS, "no playable representation",
                              body=self._unavailable_report(request, caps))
        self.streams.claim(account, device_id)
        expires = claims.expires_at
        segment_token = self.signer.issue("s", track.id, "", expires)
        licence_token = self.signer.issue("l", track.id, device_id, expires)
        text = await asyncio.to_thread(
            self.content.mpd, track, formats,
            self.absolute(request, f"/media/{segment_token}/"),
            self.absolute(request, f"/drm/widevine/{track.id}?t={licence_token}"))
        return web.Response(text=text, content_type="application/dash+xml")

    def _unavailable_report(self, request: web.Request,
                            caps: frozenset[Capability]) -> dict[str, Any]:
        if caps == {Capability.REAL_AUDIO_360}:
            explanation = "360 Reality Audio is not available for this track on this device."
        elif self.tier is not choices.Tier.UNLIMITED:
            explanation = ("Your plan includes standard quality only.<br>"
                           "Ask for STD_RES or upgrade to Amazon Music Unlimited.")
        else:
            explanation = "This track is not available in a quality this device can play."
        return choices.general_error_document("Not available", "Quality not available", explanation,
                                         [{"label": "OK", "resume": False}])

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        claims = self.signer.check(request.match_info["token"], "s", self.clock.time())
        if request.get(FLAG_URL_EXPIRED) or claims is None:
            raise HttpProblem(403, "the segment URL is invalid or expired; "
                              "fetch the manifest again")
        track = self.track(claims.track_id)
        tail = request.match_info["tail"]
        location = self.content.location(track, tail)
        if location is None:
            raise HttpProblem(404, "no such media resource")
        return await _ranged(request, location, "audio/mp4")

    # -- images -------------------------------------------------------------------------------

    async def get_image(self, request: web.Request) -> web.Response:
        match = choices.IMAGE_PATH_RE.match("/images/" + request.match_info["name"])
        if match is None or match.group("image_id") not in self._image_ids:
            raise HttpProblem(404, "no such image")
        image_id = match.group("image_id")
        if match.group("side") is not None:  # AM-C13b: a filled `*` placeholder, SL<n>
            width, height = choices.fit_within(images.ORIGINAL_SIZE,
                                               (int(match.group("side")),) * 2)
        else:
            width, height = int(match.group("width")), int(match.group("height"))
        if not (1 <= width <= images.MAX_SIDE and 1 <= height <= images.MAX_SIDE):
            raise HttpProblem(404, "no such image size")
        ext = match.group("ext")
        key = (image_id, width, height, ext)
        data = self._images.get(key)
        if data is None:
            data = await asyncio.to_thread(images.render, image_id, width, height, ext)
            self._images[key] = data
            while len(self._images) > _IMAGE_CACHE:
                self._images.popitem(last=False)
        return web.Response(body=data, content_type="image/png" if ext == "png" else "image/jpeg")

    # -- events and concurrency -----------------------------------------------------------

    async def post_event(self, request: web.Request) -> web.Response:
        account = self.account(request)
        device_id, _ = self.playback_headers(request)
        inst = self.collectors.get(request.match_info["iid"])
        if inst is None:
            raise HttpProblem(404, "unknown playback event collector")
        raw = await read_body(request, self.config.max_body_bytes)
        try:
            body: object = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            self.collectors.record(inst, None, 400, device_id, "malformed JSON")
            raise HttpProblem(400, "malformed JSON event body") from None
        try:
            event = validate_event(body)
        except EventRejected as exc:
            self.collectors.record(inst, body, exc.status, device_id, exc.message)
            raise HttpProblem(exc.status, exc.message) from None
        if event["eventType"] == am.EventType.PLAYBACK_STARTED:
            self.streams.claim(account, device_id)
        elif not self.streams.allowed(account, device_id):
            self.collectors.record(inst, body, 409, device_id, "playing elsewhere")
            raise HttpProblem(409, "playing elsewhere",
                              body=self.concurrency_report(request))
        if (event["eventType"] == am.EventType.PLAYBACK_SKIPPED and self.tier is choices.Tier.PRIME
                and inst.container.startswith("station:") and inst.state != "ended"
                and not self._skip_allowed(account)):
            self.collectors.record(inst, body, 409, device_id, "no more skips")
            raise HttpProblem(409, "no more skips", body=choices.general_error_document(
                "No more skips", "You have used your skips for now",
                f"Prime stations allow {choices.PRIME_SKIPS_PER_WINDOW} skips per hour.",
                [{"label": "OK", "resume": True}]))
        try:
            self.collectors.apply(inst, event)
        except EventRejected as exc:
            self.collectors.record(inst, body, exc.status, device_id, exc.message)
            if exc.status == 409:
                raise HttpProblem(409, exc.message, body=choices.general_error_document(
                    "Track ended", "This track already ended", exc.message, [])) from None
            raise HttpProblem(exc.status, exc.message) from None
        self.collectors.record(inst, body, am.EVENT_ACCEPTED_STATUS, device_id)
        return web.Response(status=am.EVENT_ACCEPTED_STATUS)

    def _skip_allowed(self, account: str) -> bool:
        """AM-C22: Prime station skips, at most 6 per 60 minutes per account."""
        now = self.clock.monotonic()
        recent = [t for t in self._skips.get(account, [])
                  if now - t < choices.PRIME_SKIP_WINDOW_S]
        if len(recent) >= choices.PRIME_SKIPS_PER_WINDOW:
            self._skips[account] = recent
            return False
        self._skips[account] = [*recent, now]
        return True

    async def post_resume(self, request: web.Request) -> web.Response:
        account = self.account(request)
        device_id, _ = self.playback_headers(request)
        self.streams.claim(account, device_id)
        return web.Response(status=204)

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _read(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    if len(data) != length:
        raise HttpProblem(500, "sandbox media file is truncated; delete the cache to rebuild")
    return data


async def _ranged(request: web.Request, location: tuple[Path, int, int],
                  content_type: str) -> web.Response:
    """Serve a resource honouring one `Range: bytes=a-b` (SegmentList/SegmentBase ranges).

    Only the requested slice is read, in a thread.
    """
    path, offset, size = location
    header = request.headers.get("Range")
    headers = {"Accept-Ranges": "bytes"}
    if header is None:
        data = await asyncio.to_thread(_read, path, offset, size)
        return web.Response(body=data, content_type=content_type, headers=headers)
    match = _RANGE_RE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        raise HttpProblem(416, "only a single bytes=a-b range is supported",
                          headers={"Content-Range": f"bytes */{size}"})
    if match.group(1):
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else size - 1
    else:
        start, end = max(0, size - int(match.group(2))), size - 1
    end = min(end, size - 1)
    if start > end or start >= size:
        raise HttpProblem(416, "range not satisfiable",
                          headers={"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    data = await asyncio.to_thread(_read, path, offset + start, end - start + 1)
    return web.Response(body=data, status=206, content_type=content_type, headers=headers)
