"""Amazon Music Device API client: headers, hypermedia browse, queue chunks, track
definitions, manifests, licences and playback events (spec/amazon-music.md §3-9).

Contract: URIs are opaque; every object is reached from a document by a local (`#name`)
or remote (relative/absolute URI, optional fragment) reference through `resolve`.
Every request carries the bearer token, `Accept-Language` and the site; playback
requests add the device id, `X-Amzn-Audio-DRMType: WIDEVINE` and the capability list.
Malformed documents raise `ProtocolError`; a 409 raises `ServiceConflict` carrying the
GeneralErrorReport; licence denials raise `LicenseError`; any non-2xx from an event
collector raises `EventRejected` so the player stops.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urldefrag, urlencode, urljoin, urlsplit

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.core.errors import ConfigError, LicenseError, ProtocolError, ServiceError
from daemon.core.retry import NO_RETRY
from daemon.core.tiers import Capability
from daemon.services import amazon_policy
from daemon.services.http import Authenticator, HttpClient, HttpResponse, safe_url

log = logging.getLogger("daemon.services.music")

DEFAULT_API_ROOT: Final = "https://music-api.amazon.com/"
#: DOCUMENTED (Web API header table, older revision) plus "*" for a size placeholder.
IMAGE_STYLES: Final = ("SL500", "SL160", "SL110", "SL75", "SL30", "*")
_JSON: Final = "application/json"
_MAX_REDIRECTS: Final = 5
_HEADER_VALUE_RE: Final = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
_IMAGE_PLACEHOLDER_RE: Final = re.compile(r"\*|%2[aA]")


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportOption:
    label: str
    resume: bool
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class GeneralErrorReport:
    """DOCUMENTED: what the user must see; `explanation` is sanitised to A[href] and BR."""

    terse: str
    brief: str
    explanation: str
    options: tuple[ReportOption, ...] = ()


class ServiceConflict(ServiceError):
    """HTTP 409 with a GeneralErrorReport (subscription, playing elsewhere, ...)."""

    code = "service_conflict"

    def __init__(self, message: str, report: GeneralErrorReport | None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.report = report


class EventRejected(ServiceError):
    """A playback event collector answered non-2xx: playback must stop (DOCUMENTED)."""

    code = "event_rejected"

    def __init__(self, message: str, report: GeneralErrorReport | None = None, **fields: Any):
        super().__init__(message, **fields)
        self.report = report


class LicenceDenied(LicenseError):
    """The licence server said no; `reason` is its denialReason, `action` what to do (AM-C26)."""

    def __init__(self, message: str, reason: str, **fields: Any) -> None:
        super().__init__(message, reason=reason, **fields)
        self.reason = reason
        self.action = amazon_policy.denial_action(reason)


class ManifestExpired(ServiceError):
    """The manifest URL answered 403/410: re-fetch the TrackDefinition (AM-C23)."""

    code = "manifest_expired"


# --- pure helpers -------------------------------------------------------------------------


def normalize_language(value: str) -> str:
    """AM-C33: one supported code, lower-case and hyphenated (`es_MX` -> `es-mx`)."""
    code = value.strip().lower().replace("_", "-")
    if code not in am.SUPPORTED_LANGUAGES:
        raise ConfigError(
            f"unsupported Amazon Music language {value!r}; use one of "
            + ", ".join(am.SUPPORTED_LANGUAGES),
            path="amazon.language",
        )
    return code


def capability_header(capabilities: Iterable[str | Capability]) -> str:
    """AM-C07: known tokens only, canonical order, comma-separated without spaces.

    Unknown tokens are dropped (never advertised); an empty set means STD_RES.
    """
    known = {c.value: c for c in Capability}
    chosen: set[Capability] = set()
    for token in capabilities:
        cap = known.get(str(token).strip().upper())
        if cap is None:
            log.warning("music.capability_ignored token=%s", str(token)[:32])
        else:
            chosen.add(cap)
    return am.capability_header(chosen or {Capability.STD_RES})


def fill_image_size(url: str, size: int) -> str:
    """Replace the `*` placeholder (raw or %2A) in an image URL's path with `size`."""
    if size <= 0:
        raise ValueError("image size must be positive")
    parts = urlsplit(url)
    path = _IMAGE_PLACEHOLDER_RE.sub(str(size), parts.path)
    return parts._replace(path=path).geturl()


def resolve(doc_url: str, ref: str) -> tuple[str, str | None]:
    """DOCUMENTED reference rule: (document URL without fragment, object name or None).

    `#name` names an object in the same document, bare `#` its result; anything else is
    a URI relative to `doc_url` whose fragment (if any) names the object.
    """
    if not isinstance(ref, str) or not ref:
        raise ProtocolError("empty or non-string reference", url=safe_url(doc_url))
    base, _ = urldefrag(doc_url)
    if ref.startswith("#"):
        return base, ref[1:] or None
    target, fragment = urldefrag(urljoin(base, ref))
    if urlsplit(target).scheme not in ("http", "https"):
        raise ProtocolError("reference is not an http(s) URI", url=safe_url(doc_url))
    return target, fragment or None


def _header_value(value: str, what: str) -> str:
    if not _HEADER_VALUE_RE.match(value):
        raise ConfigError(f"{what} must be printable ASCII without surrounding spaces")
    return value


class _ExplanationCleaner(HTMLParser):
    """Keeps text, `<br>` and `<a href="http(s)…">`; drops every other tag (DOCUMENTED)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._open_a = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        import html

        if tag == "br":
            self.out.append("<br>")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if urlsplit(href).scheme in ("http", "https"):
                self.out.append(f'<a href="{html.escape(href, quote=True)}">')
                self._open_a += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open_a:
            self._open_a -= 1
            self.out.append("</a>")

    def handle_data(self, data: str) -> None:
        import html

        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        return "".join(self.out) + "</a>" * self._open_a


def sanitize_explanation(fragment: str) -> str:
    cleaner = _ExplanationCleaner()
    cleaner.feed(fragment)
    cleaner.close()
    return cleaner.result()


# --- documents ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """A fetched Document<T>: its URL (no fragment) and JSON body."""

    url: str
    body: Mapping[str, Any] = field(repr=False)

    def get(self, name: str | None, dictionary: str) -> dict[str, Any]:
        """The object `name` (None = the result) from `dictionary`; ProtocolError if absent."""
        if name is None:
            result = self.body.get("result")
            if not isinstance(result, str) or not result.startswith("#") or len(result) < 2:
                raise ProtocolError("document has no usable result", url=safe_url(self.url))
            name = result[1:]
        table = self.body.get(dictionary) or {}  # absent or null counts as empty
        obj = table.get(name) if isinstance(table, dict) else None
        if not isinstance(obj, dict):
            raise ProtocolError(
                "document lacks a referenced object",
                url=safe_url(self.url),
                dictionary=dictionary,
                name=name[:64],
            )
        return obj

    def report(self, name: str | None = None) -> GeneralErrorReport | None:
        try:
            return parse_report(self.get(name, "generalErrorReports"))
        except ProtocolError:
            return None


def parse_report(obj: Mapping[str, Any]) -> GeneralErrorReport:
    options = []
    for opt in obj.get("options") or []:
        if isinstance(opt, dict) and isinstance(opt.get("label"), str):
            uri = opt.get("uri")
            options.append(
                ReportOption(
                    opt["label"], opt.get("resume") is True, uri if isinstance(uri, str) else None
                )
            )
    return GeneralErrorReport(
        terse=_text(obj.get("terse")),
        brief=_text(obj.get("brief")),
        explanation=sanitize_explanation(_text(obj.get("explanation"))),
        options=tuple(options),
    )


def _sub(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _field(obj: Mapping[str, Any], key: str, kind: type, url: str, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"field {key!r} is missing or has the wrong type", url=safe_url(url), field=key
        )
    return value


@dataclass(frozen=True, slots=True)
class TrackPointer:
    """A position in a chunk chain: absolute chunk URL (with fragment) and index."""

    chunk: str
    index: int


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    #: absolute reference to a NavigationNodeDescription, for items leading to a node
    node: str | None
    #: where playback starts, for playable items
    pointer: TrackPointer | None
    image_uri: str | None


@dataclass(frozen=True, slots=True)
class NavigationNode:
    url: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class TrackInstance:
    """One playable instance: its TrackDefinition reference and its own event collector."""

    pointer: TrackPointer
    definition: str
    collector: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Chunk:
    url: str
    title: str
    instances: tuple[TrackInstance, ...]
    first: TrackPointer | None
    last: TrackPointer | None
    next: TrackPointer | None
    prev: TrackPointer | None


@dataclass(frozen=True, slots=True)
class TrackDefinition:
    """Where the audio is (manifest, licence) and what to show; URLs are signed: no repr."""

    source: str
    track_tag: str
    title: str
    artist: str
    album: str
    duration_s: int | None
    image_uri: str | None
    manifest_uri: str = field(repr=False)
    manifest_headers: Mapping[str, str] = field(repr=False)
    expires_at: float | None
    license_uri: str | None = field(repr=False)
    rating_uri: str | None = field(repr=False)
    thumb_rating: str | None
    error: GeneralErrorReport | None
    auto_skip_on_error: bool


# --- the client -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MusicSettings:
    """Music client configuration; `daemon/config.py` maps the YAML onto these fields."""

    api_root: str = DEFAULT_API_ROOT
    language: str = am.DEFAULT_LANGUAGE
    site: str = amazon_policy.DEFAULT_MUSIC_SITE
    #: `amzn-image-style` (SL500 … SL30, or "*" for URLs with a size placeholder); None: omit
    image_style: str | None = "SL500"
    #: `X-Amz-Music-Images-Shrink` (e.g. amazon_policy.DEFAULT_IMAGES_SHRINK); None: omit
    images_shrink: str | None = None
    #: `X-Amz-Music-Images-Accept` (`png` or `jpeg`); None: omit
    images_accept: str | None = None
    #: send `X-Amz-Workaround: redirect` (DOCUMENTED alternative redirect mechanism)
    redirect_workaround: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", normalize_language(self.language))
        if self.image_style is not None and self.image_style not in IMAGE_STYLES:
            raise ConfigError(
                f"image style must be one of {', '.join(IMAGE_STYLES)}", path="amazon.image_style"
            )
        if urlsplit(self.api_root).scheme not in ("http", "https"):
            raise ConfigError("Amazon Music API root must be an http(s) URL", path="amazon.api")
        _header_value(self.site, "X-Amz-Music-Site")


Capabilities = Iterable[str | Capability] | Callable[[], Iterable[str | Capability]]


class MusicClient:
    """The Device API client. Holds no sockets itself (the shared HttpClient does)."""

    def __init__(
        self,
        *,
        http: HttpClient,
        auth: Authenticator,
        device_id: str,
        capabilities: Capabilities,
        settings: MusicSettings,
        clock: Clock,
        cache_size: int = 64,
    ) -> None:
        self._http = http
        self._auth = auth
        self._device_id = _header_value(device_id, "device id")
        self._capabilities = capabilities
        self.settings = settings
        self._clock = clock
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._cache_size = cache_size
        #: 301 moves seen (old URL -> new URL): stored references are rewritten (DOCUMENTED)
        self.moved: dict[str, str] = {}

    # -- headers -----------------------------------------------------------------------------

    def common_headers(self) -> dict[str, str]:
        """Headers of every Device API request except Authorization (added per attempt)."""
        s = self.settings
        headers = {
            "Accept": amazon_policy.DEFAULT_ACCEPT,
            am.H_ACCEPT_LANGUAGE: s.language,
            am.H_MUSIC_SITE: s.site,
        }
        if s.image_style is not None:
            headers[am.H_IMAGE_STYLE] = s.image_style
        if s.images_shrink is not None:
            headers[am.H_IMAGES_SHRINK] = s.images_shrink
        if s.images_accept is not None:
            headers[am.H_IMAGES_ACCEPT] = s.images_accept
        if s.redirect_workaround:
            headers[am.H_WORKAROUND] = am.WORKAROUND_REDIRECT
        return headers

    def capability_value(self) -> str:
        caps = self._capabilities
        return capability_header(caps() if callable(caps) else caps)

    def playback_headers(self) -> dict[str, str]:
        """Common headers plus device id, DRM type and capabilities (AM-C07, C11, C12)."""
        return {
            **self.common_headers(),
            am.H_DEVICE_ID: self._device_id,
            am.H_DRM_TYPE: am.DRM_WIDEVINE,
            am.H_DEVICE_CAPABILITY: self.capability_value(),
        }

    # -- documents ---------------------------------------------------------------------------

    async def document(self, url: str, *, playback: bool = False, cache: bool = False) -> Document:
        """GET a Document, following redirects ourselves (301 recorded in `moved`)."""
        url, _ = urldefrag(self.moved.get(url, url))
        if cache and url in self._cache:
            self._cache.move_to_end(url)
            return self._cache[url]
        start = url
        for _ in range(_MAX_REDIRECTS + 1):
            headers = self.playback_headers() if playback else self.common_headers()
            resp = await self._http.request("GET", url, headers=headers, auth=self._auth)
            status, location = _redirect_of(resp)
            if status is None:
                break
            if location is None:
                raise ProtocolError("redirect without a location", url=safe_url(url))
            target, _ = urldefrag(urljoin(url, location))
            if status == 301:
                self.moved[url] = target
                log.info("music.moved from=%s to=%s", safe_url(url), safe_url(target))
            url = target
        else:
            raise ProtocolError("too many redirects", url=safe_url(start))
        self._raise_for(resp)
        doc = Document(url, resp.json_object())
        if cache:
            self._cache[url] = doc
            if start != url:
                self._cache[start] = doc
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return doc

    async def lookup(
        self,
        base: Document | str,
        ref: str,
        dictionary: str,
        *,
        playback: bool = False,
        cache: bool = False,
    ) -> tuple[Document, dict[str, Any]]:
        """Resolve `ref` seen in `base` and return (containing document, object)."""
        base_url = base.url if isinstance(base, Document) else base
        target, name = resolve(base_url, ref)
        if isinstance(base, Document) and target == base.url:
            doc = base
        else:
            doc = await self.document(target, playback=playback, cache=cache)
        return doc, doc.get(name, dictionary)

    # -- browse ------------------------------------------------------------------------------

    async def root(self) -> NavigationNode:
        """The root navigation node (DOCUMENTED entry point)."""
        return await self.node(self.settings.api_root)

    async def node(
        self, ref: str, base: str | None = None, *, cache: bool = True
    ) -> NavigationNode:
        """A NavigationNodeDescription by absolute reference (or `ref` relative to `base`)."""
        doc, desc = await self.lookup(base or ref, ref, "navigationNodeDescriptions", cache=cache)
        title = ""
        summary_ref = desc.get("summary")
        if isinstance(summary_ref, str):
            try:
                _, summary = await self.lookup(doc, summary_ref, "navigationNodeSummaries")
                title = _text(summary.get("title"))
            except ProtocolError:
                title = ""
        items = []
        for item_ref in _field(desc, "items", list, doc.url):
            _, obj = await self.lookup(doc, item_ref, "itemDescriptions")
            items.append(await self._item(doc, obj))
        return NavigationNode(url=doc.url, title=title, items=tuple(items))

    async def _item(self, doc: Document, obj: Mapping[str, Any]) -> Item:
        label = _text(obj.get("itemLabel"))
        image = obj.get("image")
        image_uri = image.get("uri") if isinstance(image, dict) else None
        node = pointer = None
        if isinstance(obj.get("navigationNodeSummary"), str):
            _, summary = await self.lookup(
                doc, obj["navigationNodeSummary"], "navigationNodeSummaries"
            )
            description = _field(summary, "description", str, doc.url)
            target, name = resolve(doc.url, description)
            node = f"{target}#{name}" if name else target
        elif isinstance(obj.get("playable"), str):
            _, playable = await self.lookup(doc, obj["playable"], "playables")
            natural = _field(playable, "naturalTrackPointer", dict, doc.url)
            pointer = self._pointer(doc.url, natural)
        return Item(label, node, pointer, image_uri if isinstance(image_uri, str) else None)

    def _pointer(self, doc_url: str, obj: Any) -> TrackPointer | None:
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise ProtocolError("track pointer is not an object", url=safe_url(doc_url))
        target, name = resolve(doc_url, _field(obj, "chunk", str, doc_url))
        index = _field(obj, "indexWithinChunk", int, doc_url)
        if index < 0:
            raise ProtocolError("negative indexWithinChunk", url=safe_url(doc_url))
        return TrackPointer(f"{target}#{name}" if name else target, index)

    async def search(
        self, keywords: str, *, flat: bool = True, count: int | None = None
    ) -> NavigationNode:
        """DOCUMENTED search; the path comes from the root document when it names one."""
        root = await self.document(self.settings.api_root, cache=True)
        paths = root.body.get("search")
        key = "flat" if flat else "uri"
        path = paths.get(key) if isinstance(paths, dict) else None
        if not isinstance(path, str):
            path = am.FLAT_SEARCH_PATH if flat else am.SEARCH_PATH
        query: dict[str, str] = {"keywords": keywords}
        if count is not None:
            query["count"] = str(count)
        url = urljoin(root.url, path) + "?" + urlencode(query)
        return await self.node(url, cache=False)

    async def rate(
        self, definition: TrackDefinition, thumb: str, position_ms: int
    ) -> tuple[bool, str]:
        """POST a thumb rating (DOCUMENTED); returns (shouldSkip, message)."""
        if definition.rating_uri is None:
            raise ProtocolError("this track cannot be rated", url=safe_url(definition.source))
        if thumb not in am.THUMB_RATINGS:
            raise ValueError(f"thumb must be one of {', '.join(sorted(am.THUMB_RATINGS))}")
        resp = await self._http.request(
            "POST",
            definition.rating_uri,
            headers={**self.common_headers(), "Content-Type": _JSON},
            json_body={
                "thumbRating": thumb,
                "trackPosition": max(0, int(position_ms)),
                "wallClockTime": am.format_timestamp(self._clock.time()),
            },
            auth=self._auth,
        )
        self._raise_for(resp)
        answer = Document(resp.url, resp.json_object()).get(None, "trackRatingResponses")
        return answer.get("shouldSkip") is True, _text(answer.get("message"))

    # -- queue -----------------------------------------------------------------------------------

    async def chunk(self, pointer: TrackPointer) -> Chunk:
        """The chunk a pointer names, with absolute pointers and instance references."""
        doc, obj = await self.lookup(
            pointer.chunk, pointer.chunk, "trackContainerChunkDescriptions"
        )
        refs = _field(obj, "trackInstances", list, doc.url)
        instances = []
        for index, ref in enumerate(refs):
            idoc, inst = await self.lookup(doc, ref, "trackInstances")
            definition_ref = _field(inst, "trackDefinition", str, idoc.url)
            target, name = resolve(idoc.url, definition_ref)
            collector = urljoin(idoc.url, _field(inst, "playbackEventCollector", str, idoc.url))
            instances.append(
                TrackInstance(
                    TrackPointer(pointer.chunk, index),
                    f"{target}#{name}" if name else target,
                    collector,
                )
            )
        return Chunk(
            url=pointer.chunk,
            title=_text(obj.get("title")),
            instances=tuple(instances),
            first=self._pointer(doc.url, obj.get("firstTrackPointer")),
            last=self._pointer(doc.url, obj.get("lastTrackPointer")),
            next=self._pointer(doc.url, obj.get("nextTrackPointer")),
            prev=self._pointer(doc.url, obj.get("prevTrackPointer")),
        )

    async def instances(
        self, start: TrackPointer, *, limit: int = 1000
    ) -> AsyncIterator[TrackInstance]:
        """Walk the chain from `start`, following nextTrackPointer (the Device API's paging)."""
        pointer: TrackPointer | None = start
        produced = 0
        while pointer is not None and produced < limit:
            chunk = await self.chunk(pointer)
            if pointer.index >= len(chunk.instances) and chunk.instances:
                raise ProtocolError("track pointer beyond its chunk", url=safe_url(chunk.url))
            for inst in chunk.instances[pointer.index :]:
                yield inst
                produced += 1
                if produced >= limit:
                    return
            pointer = chunk.next

    async def track_definition(self, instance: TrackInstance) -> TrackDefinition:
        """Resolve an instance's TrackDefinition (a playback request: device headers)."""
        doc, obj = await self.lookup(
            instance.pointer.chunk, instance.definition, "trackDefinitions", playback=True
        )
        return self._definition(doc, obj)

    def _definition(self, doc: Document, obj: Mapping[str, Any]) -> TrackDefinition:
        url = doc.url
        audio = _field(obj, "audio", dict, url)
        manifest = urljoin(url, _field(audio, "uri", str, url))
        extra = audio.get("headers") or {}
        if not isinstance(extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _HEADER_VALUE_RE.match(f"{k}{v}")
            for k, v in extra.items()
        ):
            raise ProtocolError("audio.headers is not a map of header strings", url=safe_url(url))
        expires = audio.get("expires")
        expires_at = am.parse_timestamp(expires) if expires is not None else None
        if expires is not None and expires_at is None:
            raise ProtocolError("audio.expires is not a timestamp", url=safe_url(url))
        licence = audio.get(am.AUDIO_LICENSE_URI_FIELD)
        rating = _sub(obj, "trackRating")
        error_ref = obj.get("error")
        report = None
        if isinstance(error_ref, str):
            _, name = resolve(url, error_ref)
            report = doc.report(name)
        duration = obj.get("duration")
        artist = _sub(obj, "artist")
        album = _sub(obj, "album")
        image = _sub(obj, "image")
        return TrackDefinition(
            source=url,
            track_tag=_field(obj, "trackTag", str, url),
            title=_text(obj.get("title")),
            artist=_text(artist.get("name")),
            album=_text(album.get("name")),
            duration_s=duration if isinstance(duration, int) and duration >= 0 else None,
            image_uri=image.get("uri") if isinstance(image.get("uri"), str) else None,
            manifest_uri=manifest,
            manifest_headers=dict(extra),
            expires_at=expires_at,
            license_uri=urljoin(url, licence) if isinstance(licence, str) else None,
            rating_uri=urljoin(url, rating["ratingURI"])
            if isinstance(rating.get("ratingURI"), str)
            else None,
            thumb_rating=rating.get("thumbRating")
            if isinstance(rating.get("thumbRating"), str)
            else None,
            error=report,
            auto_skip_on_error=obj.get("autoSkipOnError") is True,
        )

    async def manifest(self, definition: TrackDefinition) -> bytes:
        """GET the MPD; 403/410 (expired URL) raises `ManifestExpired`."""
        headers = {**self.playback_headers(), **definition.manifest_headers}
        headers["Accept"] = "application/dash+xml"
        resp = await self._http.request(
            "GET", definition.manifest_uri, headers=headers, auth=self._auth
        )
        if resp.status in amazon_policy.MEDIA_REFETCH_STATUSES:
            raise ManifestExpired(
                "manifest URL expired", url=safe_url(resp.url), status=resp.status
            )
        self._raise_for(resp)
        return resp.body

    async def manifest_for(self, instance: TrackInstance) -> tuple[TrackDefinition, bytes]:
        """TrackDefinition + MPD; an expired manifest URL is re-resolved once (AM-C23)."""
        definition = await self.track_definition(instance)
        try:
            return definition, await self.manifest(definition)
        except ManifestExpired:
            log.info("music.manifest_expired action=refetch_definition")
            definition = await self.track_definition(instance)
            return definition, await self.manifest(definition)

    # -- licence and events --------------------------------------------------------------------

    async def license(self, license_uri: str, challenge: bytes) -> bytes:
        """POST the raw challenge (AM-C24); licence bytes back, denial -> LicenseError."""
        headers = {**self.playback_headers(), "Content-Type": am.LICENCE_CONTENT_TYPE}
        headers["Accept"] = f"{am.LICENCE_CONTENT_TYPE}, {_JSON}"
        resp = await self._http.request(
            "POST", license_uri, headers=headers, data=challenge, auth=self._auth
        )
        where = safe_url(resp.url)
        if resp.ok:
            if resp.content_type == _JSON:
                body = resp.json_object()
                if am.LICENCE_JSON_LICENCE_KEY not in body:
                    # Not the AM-C24 wrapper: a licence that is JSON itself (ClearKey's JWK
                    # set) goes to the CDM as it came.
                    return resp.body
                wrapped = body.get(am.LICENCE_JSON_LICENCE_KEY)  # JSON-wrapped (AM-C24 flag)
                try:
                    return base64.b64decode(str(wrapped), validate=True)
                except (binascii.Error, ValueError):
                    raise ProtocolError("licence answer is not valid base64", url=where) from None
            if not resp.body:
                raise ProtocolError("licence answer is empty", url=where)
            return resp.body
        if resp.status == 403:
            reason = "UNKNOWN"
            try:
                body = resp.json_object()
                if isinstance(body.get("denialReason"), str):
                    reason = body["denialReason"][:64]
            except ProtocolError:
                pass
            raise LicenceDenied("Amazon denied the licence", reason, url=where, status=403)
        self._raise_for(resp)
        raise ProtocolError("unexpected licence answer", url=where, status=resp.status)

    async def report_event(self, collector: str, event: Mapping[str, Any]) -> None:
        """POST one event; any non-2xx raises `EventRejected` (stop playback first).

        A 401 refreshes the token and re-sends the event once (AM-C27), and still raises
        so the player stops; it resumes only with a fresh start event.
        """
        headers = {**self.playback_headers(), "Content-Type": _JSON}
        token = await self._auth.token()
        try:
            resp = await self._post_event(collector, headers, event, token.reveal())
            if resp.status == 401:
                fresh = await self._auth.refresh_rejected(token)
                again = await self._post_event(collector, headers, event, fresh.reveal())
                raise EventRejected(
                    "event collector refused the token; playback stopped",
                    url=safe_url(collector),
                    status=401,
                    resent_status=again.status,
                )
        except EventRejected:
            raise
        except ServiceError as exc:
            raise EventRejected(
                f"event collector failed: {exc.detail}",
                url=safe_url(collector),
                status=exc.fields.get("status"),
            ) from None
        if not resp.ok:
            report = None
            if resp.status == am.GENERAL_ERROR_STATUS:
                try:
                    report = Document(resp.url, resp.json_object()).report()
                except ProtocolError:
                    report = None
            raise EventRejected(
                "event collector rejected the event; playback stopped",
                report,
                url=safe_url(collector),
                status=resp.status,
            )

    async def _post_event(
        self, collector: str, headers: Mapping[str, str], event: Mapping[str, Any], token: str
    ) -> HttpResponse:
        return await self._http.request(
            "POST",
            collector,
            headers={**headers, am.H_AUTHORIZATION: am.bearer(token)},
            json_body=dict(event),
            retry=NO_RETRY,  # AM-C29: never retried while playing
        )

    # -- status handling ---------------------------------------------------------------------------

    def _raise_for(self, resp: HttpResponse) -> None:
        if resp.ok:
            return
        where = safe_url(resp.url)
        if resp.status == am.GENERAL_ERROR_STATUS:
            report = None
            try:
                report = Document(resp.url, resp.json_object()).report()
            except ProtocolError:
                report = None
            message = (report.brief or report.terse) if report else "Amazon Music refused"
            raise ServiceConflict(message or "Amazon Music refused", report, url=where, status=409)
        if resp.status == 404:
            raise ProtocolError("Amazon Music has no such resource", url=where, status=404)
        raise ProtocolError("unexpected answer from Amazon Music", url=where, status=resp.status)


def _redirect_of(resp: HttpResponse) -> tuple[int | None, str | None]:
    """(status, location) of a real or X-Amz-Workaround redirect, else (None, None)."""
    if resp.status in am.REDIRECT_STATUSES:
        return resp.status, resp.headers.get("Location")
    alt = resp.headers.get(am.H_REDIRECT_STATUS)
    if resp.status in (200, 204) and alt is not None and alt.strip().isdigit():
        status = int(alt.strip())
        if status in am.REDIRECT_STATUSES:
            return status, resp.headers.get(am.H_REDIRECT_LOCATION)
    return None, None
