"""The Music emulation's state and the request checks every Device API handler shares.

`MusicService` (routes, browse, playback) and the handlers split beside it (`extras`,
`licence_http`) all work on one `MusicState`, so none of them imports another.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.core.tiers import Capability
from daemon.sandbox import choices
from daemon.sandbox.amazon import docs
from daemon.sandbox.amazon.content import Content
from daemon.sandbox.amazon.events import Collectors, Streams
from daemon.sandbox.amazon.signing import UrlSigner
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.faults import FLAG_TOKEN_EXPIRED, FaultInjector
from daemon.sandbox.media.catalog import Album, Playlist, Track
from daemon.sandbox.ratelimit import TokenBuckets
from daemon.sandbox.web import HttpProblem

if TYPE_CHECKING:
    from daemon.sandbox.amazon.lwa import LwaService

_WHITESPACE = re.compile(r"\s")


class MusicState:
    """Catalog, streams, collectors and settings of the emulation; the shared checks."""

    def __init__(
        self, config: SandboxConfig, clock: Clock, lwa: LwaService, faults: FaultInjector
    ) -> None:
        self.config = config
        self.clock = clock
        self.lwa = lwa
        self.faults = faults
        self.content = Content(config)
        self.catalog = self.content.catalog
        self.collectors = Collectors()
        self.streams = Streams(config.max_streams)
        self.signer = UrlSigner()
        self.rate_limit = TokenBuckets(config.rate_limit_per_s, config.rate_limit_burst, clock)
        #: AM-C19: path -> redirect status for paths moved to their `/moved` alias.
        self.redirects: dict[str, int] = {}
        self._skips: dict[str, list[float]] = {}
        #: AM-C17: X-Amz-Music-Site values seen, with counts (at most 100 distinct).
        self.sites: dict[str, int] = {}
        self.tier = config.tier
        self.country = config.country
        self.licence_backend = config.licence_backend
        self.forced_denial: str | None = None
        self.lenient_drm = config.lenient_drm
        self.base_url = ""
        salt = hashlib.sha256(f"uri-salt/{config.seed}/{id(self)}".encode()).hexdigest()[:6]
        self.prefix = f"/m{salt}" if config.shuffle_uris else ""
        self._instance_salt = salt[:4]
        self._images: OrderedDict[tuple[str, int, int, str], bytes] = OrderedDict()
        self._image_ids = (
            {a.image_id for a in self.catalog.albums}
            | {p.image_id for p in self.catalog.playlists}
            | {s.image_id for s in self.catalog.stations}
        )

    # -- request checks -------------------------------------------------------------------

    def account(self, request: web.Request) -> str:
        """AM-C28: the bearer's account, or 401 in the documented shape."""
        header = request.headers.get(am.H_AUTHORIZATION, "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("missing bearer token in the Authorization header")
        account = None if request.get(FLAG_TOKEN_EXPIRED) else self.lwa.account_for(token)
        if account is None:
            raise _unauthorized("the access token is invalid or expired")
        site = request.headers.get(am.H_MUSIC_SITE)
        if site is not None:
            # AM-C17: any non-empty site id is accepted and recorded.
            if not site.strip():
                raise _header_problem(am.H_MUSIC_SITE, "must not be empty")
            if site.strip() in self.sites or len(self.sites) < 100:
                self.sites[site.strip()] = self.sites.get(site.strip(), 0) + 1
        wait = self.rate_limit.take(token)
        if wait is not None:
            retry_after = max(1, math.ceil(wait))
            raise HttpProblem(
                429,
                f"rate limit exceeded; retry after {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
        return account

    def playback_headers(self, request: web.Request) -> tuple[str, frozenset[Capability]]:
        """AM-C11/AM-C12 (and no whitespace in the capability list): device id and capabilities."""
        device_id = request.headers.get(am.H_DEVICE_ID, "").strip()
        if not device_id:
            raise _header_problem(am.H_DEVICE_ID, "is required on playback requests")
        drm = request.headers.get(am.H_DRM_TYPE)
        if not self.lenient_drm:
            if drm is None or not drm.strip():
                raise _header_problem(am.H_DRM_TYPE, "is required on playback requests")
            if not am.header_list_contains(drm, am.DRM_WIDEVINE):
                raise _header_problem(am.H_DRM_TYPE, "must be WIDEVINE")
        capability = request.headers.get(am.H_DEVICE_CAPABILITY)
        if (
            choices.CAPABILITY_HEADER_REJECTS_WHITESPACE
            and capability is not None
            and _WHITESPACE.search(capability)
        ):
            raise _header_problem(
                am.H_DEVICE_CAPABILITY, "must be a comma-separated list without spaces"
            )
        caps = am.parse_capabilities(capability)
        if self.lenient_drm and not am.header_list_contains(drm, am.DRM_WIDEVINE):
            caps = frozenset({Capability.STD_RES})
        return device_id, caps

    def doc_context(self, request: web.Request) -> docs.DocContext:
        return docs.DocContext(
            base_url=self.base_url or f"{request.scheme}://{request.host}",
            prefix=self.prefix,
            shrink=choices.parse_shrink_spec(request.headers.get(am.H_IMAGES_SHRINK)),
            style=choices.parse_image_style(request.headers.get(am.H_IMAGE_STYLE)),
            placeholder=choices.wants_image_placeholder(request.headers.get(am.H_IMAGE_STYLE)),
            image_ext=choices.image_extension(request.headers.get(am.H_IMAGES_ACCEPT)),
        )

    def absolute(self, request: web.Request, path: str) -> str:
        return (self.base_url or f"{request.scheme}://{request.host}") + path

    def concurrency_report(self, request: web.Request) -> dict[str, Any]:
        language = choices.negotiate_language(request.headers.get(am.H_ACCEPT_LANGUAGE))
        terse, brief, explanation = choices.CONCURRENCY_TEXTS.get(
            language, choices.CONCURRENCY_TEXTS[am.DEFAULT_LANGUAGE]
        )
        here, ok = choices.CONCURRENCY_OPTION_LABELS.get(
            language, choices.CONCURRENCY_OPTION_LABELS[am.DEFAULT_LANGUAGE]
        )
        return choices.general_error_document(
            terse,
            brief,
            explanation,
            [
                {"label": here, "resume": True, "uri": self.absolute(request, "/playback/resume")},
                {"label": ok, "resume": False},
            ],
        )

    # -- lookups --------------------------------------------------------------------------------

    def track(self, track_id: str) -> Track:
        try:
            return self.catalog.track(track_id)
        except KeyError:
            raise HttpProblem(404, "unknown track") from None

    def album(self, album_id: str) -> Album:
        for album in self.catalog.albums:
            if album.id == album_id:
                return album
        raise HttpProblem(404, "unknown album")

    def playlist(self, playlist_id: str) -> Playlist:
        for playlist in self.catalog.playlists:
            if playlist.id == playlist_id:
                return playlist
        raise HttpProblem(404, "unknown playlist")


def _unauthorized(message: str) -> HttpProblem:
    return HttpProblem(
        401,
        message,
        body=choices.unauthorized_body(message),
        headers={"WWW-Authenticate": choices.WWW_AUTHENTICATE_INVALID_TOKEN},
    )


def _header_problem(header: str, what: str) -> HttpProblem:
    message = f"header {header} {what}"
    return HttpProblem(400, message, body={"message": message, "header": header})
