"""Search, availability, ratings and the /_sandbox/music hooks of the Music emulation.

Handlers over the shared `MusicState` (spec §4.7-4.9, AM-C18, AM-C20, AM-C34), kept apart
from `music.py`, which is about browse and playback.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from daemon.contracts import amazon_music as am
from daemon.sandbox import choices
from daemon.sandbox.amazon import docs
from daemon.sandbox.media.catalog import Track
from daemon.sandbox.web import HttpProblem, json_response, read_json, read_json_object

if TYPE_CHECKING:
    from daemon.sandbox.amazon.music_state import MusicState

log = logging.getLogger("daemon.sandbox")

_MAX_KEYWORDS = 200
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
MOVED = "/moved"


class MusicExtras:
    """Handlers that only read the catalog or change sandbox settings."""

    def __init__(self, music: MusicState) -> None:
        self.m = music

    # -- ratings, search, availability ------------------------------------------------------

    async def post_rating(self, request: web.Request) -> web.Response:
        self.m.account(request)
        track = self.m.track(request.match_info["tid"])
        body = await read_json_object(request, self.m.config.max_body_bytes)
        thumb = body.get("thumbRating")
        if thumb not in am.THUMB_RATINGS:
            raise HttpProblem(400, "field 'thumbRating' must be thumbs_up, thumbs_down or "
                              "neutral")
        position = body.get("trackPosition")
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise HttpProblem(400, "field 'trackPosition' must be an integer >= 0 (ms)")
        if not isinstance(body.get("wallClockTime"), str) or am.parse_timestamp(
                body["wallClockTime"]) is None:
            raise HttpProblem(400, "field 'wallClockTime' must be ISO-8601 UTC with ms")
        skip = thumb in choices.SKIP_ON_RATING
        message = ("We'll play fewer songs like this" if skip
                   else "We'll play more songs like this" if thumb == "thumbs_up"
                   else "Rating cleared")
        log.info("sandbox.rating track=%s thumb=%s", track.id, thumb)
        return json_response({"result": "#rating", "trackRatingResponses": {
            "rating": {"shouldSkip": skip, "message": message}}})

    def _search(self, request: web.Request) -> list[Track]:
        self.m.account(request)
        keywords = request.query.get("keywords", "").strip().lower()
        if not keywords:
            raise HttpProblem(400, "query parameter 'keywords' is required")
        if len(keywords) > _MAX_KEYWORDS:
            raise HttpProblem(400, "query parameter 'keywords' is too long")
        count_raw = request.query.get("count", "50")
        if not count_raw.isdigit() or not 1 <= int(count_raw) <= 100:
            raise HttpProblem(400, "query parameter 'count' must be an integer 1..100")
        words = keywords.split()
        found = [t for t in self.m.catalog.tracks
                 if all(w in f"{t.title} {t.artist.name} {t.album_title}".lower()
                        for w in words)]
        return found[: int(count_raw)]

    def _search_items(self, tracks: list[Track], ctx: docs.DocContext) -> tuple[
            dict[str, Any], dict[str, Any]]:
        items: dict[str, Any] = {}
        playables: dict[str, Any] = {}
        for i, track in enumerate(tracks):
            album = self.m.album(track.album_id)
            playables[f"playable_{i}"] = {"naturalTrackPointer": {
                "chunk": f"{self.m.prefix}/catalog/albums/{album.id}/chunk/#chunk",
                "indexWithinChunk": album.track_ids.index(track.id)}}
            items[f"item_{i}"] = {"itemLabel": track.title, "playable": f"#playable_{i}",
                                  "image": ctx.image(track.image_id, "item")}
        return items, playables

    async def get_flat_search(self, request: web.Request) -> web.Response:
        tracks = self._search(request)
        items, playables = self._search_items(tracks, self.m.doc_context(request))
        return json_response({
            "result": "#flat_search_desc",
            "navigationNodeSummaries": {"summary": {"title": "Search", "description": "#",
                                                    "numItemsOfInterest": len(tracks)}},
            "navigationNodeDescriptions": {"flat_search_desc": {
                "summary": "#summary", "items": list(f"#{k}" for k in items)}},
            "itemDescriptions": items, "playables": playables})

    async def get_search(self, request: web.Request) -> web.Response:
        tracks = self._search(request)
        items, playables = self._search_items(tracks, self.m.doc_context(request))
        return json_response({
            "result": "#search_desc",
            "navigationNodeSummaries": {
                "search_summary": {"title": "Search", "description": "#search_desc",
                                   "numItemsOfInterest": 1},
                "tracks_summary": {"title": "Songs",
                                   "description": "#catalog_tracks_search_desc",
                                   "numItemsOfInterest": len(tracks)}},
            "navigationNodeDescriptions": {
                "search_desc": {"summary": "#search_summary", "items": ["#item_tracks"]},
                "catalog_tracks_search_desc": {"summary": "#tracks_summary",
                                               "items": list(f"#{k}" for k in items)}},
            "itemDescriptions": {**items, "item_tracks": {
                "itemLabel": "Songs", "navigationNodeSummary": "#tracks_summary"}},
            "playables": playables})

    async def get_availability(self, request: web.Request) -> web.Response:
        self.m.account(request)
        country = request.query.get("country", "")
        if not COUNTRY_RE.match(country):
            raise HttpProblem(400, "query parameter 'country' must be an ISO 3166-1 alpha-2 "
                              "code")
        return json_response({"result": "#availability", "availabilityResponses": {
            "availability": {"available": country in choices.AVAILABLE_COUNTRIES,
                             "country": country}}})

    # -- hooks ------------------------------------------------------------------------------------

    async def hook_events(self, request: web.Request) -> web.Response:
        return json_response({"log": self.m.collectors.log, "sites": self.m.sites,
                              "instances": [i.summary() for i in self.m.collectors.all()
                                            if i.events]})

    async def hook_settings(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, self.m.config.max_body_bytes)
        if "tier" in body:
            if body["tier"] not in set(choices.Tier):
                raise HttpProblem(400, "field 'tier' must be FREE, PRIME or UNLIMITED")
            self.m.tier = choices.Tier(body["tier"])
        if "country" in body:
            if not isinstance(body["country"], str) or not COUNTRY_RE.match(body["country"]):
                raise HttpProblem(400, "field 'country' must be an ISO alpha-2 code")
            self.m.country = body["country"]
        if "licence_backend" in body:
            if body["licence_backend"] not in set(am.LicenceBackend):
                raise HttpProblem(400, "field 'licence_backend' must be one of "
                                  + ", ".join(am.LicenceBackend))
            self.m.licence_backend = am.LicenceBackend(body["licence_backend"])
        if "denial_reason" in body:
            reason = body["denial_reason"]
            if reason is not None and reason not in set(am.DenialReason):
                raise HttpProblem(400, "field 'denial_reason' must be null or one of "
                                  + ", ".join(am.DenialReason))
            self.m.forced_denial = reason
        if "max_streams" in body:
            value = body["max_streams"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HttpProblem(400, "field 'max_streams' must be an integer >= 1")
            self.m.streams.limit = value
        if "lenient_drm" in body:
            if not isinstance(body["lenient_drm"], bool):
                raise HttpProblem(400, "field 'lenient_drm' must be a boolean")
            self.m.lenient_drm = body["lenient_drm"]
        return json_response({"tier": self.m.tier, "country": self.m.country,
                              "licence_backend": self.m.licence_backend,
                              "denial_reason": self.m.forced_denial,
                              "max_streams": self.m.streams.limit,
                              "lenient_drm": self.m.lenient_drm})

    async def hook_compete(self, request: web.Request) -> web.Response:
        body = await read_json(request, self.m.config.max_body_bytes) if request.can_read_body \
            else {}
        if not isinstance(body, dict):
            raise HttpProblem(400, "request body must be a JSON object")
        device = body.get("device_id", "sandbox-device-b")
        if not isinstance(device, str) or not device:
            raise HttpProblem(400, "field 'device_id' must be a non-empty string")
        self.m.streams.claim(self.m.lwa.account, device)
        return json_response({"active": self.m.streams.active(self.m.lwa.account)})

    async def hook_redirect(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, self.m.config.max_body_bytes)
        path, status = body.get("path"), body.get("status", 301)
        if not isinstance(path, str) or not path.startswith("/") or path.startswith(MOVED):
            raise HttpProblem(400, "field 'path' must be an absolute path outside /moved")
        if status is None:
            self.m.redirects.pop(path, None)
        elif status not in am.REDIRECT_STATUSES or isinstance(status, bool):
            raise HttpProblem(400, "field 'status' must be 301, 303, 307 or null")
        else:
            self.m.redirects[path] = status
        return json_response({"redirects": self.m.redirects})

    async def hook_expire_manifests(self, request: web.Request) -> web.Response:
        self.m.signer.expire_all()
        return json_response({"generation": self.m.signer.generation})
