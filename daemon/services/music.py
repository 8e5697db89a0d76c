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
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final
from urllib.parse import urldefrag, urlencode, urljoin

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.core.errors import ProtocolError, ServiceError
from daemon.core.retry import NO_RETRY
from daemon.services import amazon_policy
from daemon.services.http import Authenticator, HttpClient, HttpResponse, safe_url
from daemon.services.music_cache import TrackCache
from daemon.services.music_model import (
    Capabilities,
    Chunk,
    Document,
    EventRejected,
    Item,
    LicenceDenied,
    ManifestExpired,
    MusicSettings,
    NavigationNode,
    TrackDefinition,
    TrackInstance,
    TrackPointer,
    capability_header,
    field_value,
    header_value,
    parse_track_definition,
    raise_for_status,
    redirect_of,
    resolve,
    text_value,
)

log = logging.getLogger("daemon.services.music")

#: What callers outside `services/` use; the document model is in `music_model`.
__all__ = [
    "MusicClient",
    "MusicSettings",
    "TrackDefinition",
    "TrackInstance",
    "TrackPointer",
]

_JSON: Final = "application/json"
_MAX_REDIRECTS: Final = 5


# --- the client -----------------------------------------------------------------------------


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
        self._device_id = header_value(device_id, "device id")
        self._capabilities = capabilities
        self.settings = settings
        self._clock = clock
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._cache_size = cache_size
        self._tracks = TrackCache(clock)
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
            status, location = redirect_of(resp)
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
        raise_for_status(resp)
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
                title = text_value(summary.get("title"))
            except ProtocolError:
                title = ""
        items = []
        for item_ref in field_value(desc, "items", list, doc.url):
            _, obj = await self.lookup(doc, item_ref, "itemDescriptions")
            items.append(await self._item(doc, obj))
        return NavigationNode(url=doc.url, title=title, items=tuple(items))

    async def _item(self, doc: Document, obj: Mapping[str, Any]) -> Item:
        label = text_value(obj.get("itemLabel"))
        image = obj.get("image")
        image_uri = image.get("uri") if isinstance(image, dict) else None
        node = pointer = None
        if isinstance(obj.get("navigationNodeSummary"), str):
            _, summary = await self.lookup(
                doc, obj["navigationNodeSummary"], "navigationNodeSummaries"
            )
            description = field_value(summary, "description", str, doc.url)
            target, name = resolve(doc.url, description)
            node = f"{target}#{name}" if name else target
        elif isinstance(obj.get("playable"), str):
            _, playable = await self.lookup(doc, obj["playable"], "playables")
            natural = field_value(playable, "naturalTrackPointer", dict, doc.url)
            pointer = self._pointer(doc.url, natural)
        return Item(label, node, pointer, image_uri if isinstance(image_uri, str) else None)

    def _pointer(self, doc_url: str, obj: Any) -> TrackPointer | None:
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise ProtocolError("track pointer is not an object", url=safe_url(doc_url))
        target, name = resolve(doc_url, field_value(obj, "chunk", str, doc_url))
        index = field_value(obj, "indexWithinChunk", int, doc_url)
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
        raise_for_status(resp)
        answer = Document(resp.url, resp.json_object()).get(None, "trackRatingResponses")
        return answer.get("shouldSkip") is True, text_value(answer.get("message"))

    # -- queue -----------------------------------------------------------------------------------

    async def chunk(self, pointer: TrackPointer) -> Chunk:
        """The chunk a pointer names, with absolute pointers and instance references.
        Never cached: each GET mints fresh track instances, and an instance whose terminal
        event was sent takes no more events (a replay needs a new one)."""
        doc, obj = await self.lookup(
            pointer.chunk, pointer.chunk, "trackContainerChunkDescriptions"
        )
        refs = field_value(obj, "trackInstances", list, doc.url)
        instances = []
        for index, ref in enumerate(refs):
            idoc, inst = await self.lookup(doc, ref, "trackInstances")
            definition_ref = field_value(inst, "trackDefinition", str, idoc.url)
            target, name = resolve(idoc.url, definition_ref)
            collector_ref = field_value(inst, "playbackEventCollector", str, idoc.url)
            collector = urljoin(idoc.url, collector_ref)
            instances.append(
                TrackInstance(
                    TrackPointer(pointer.chunk, index),
                    f"{target}#{name}" if name else target,
                    collector,
                )
            )
        return Chunk(
            url=pointer.chunk,
            title=text_value(obj.get("title")),
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
        """Resolve an instance's TrackDefinition (a playback request: device headers); kept
        until its `audio.expires` (daemon.services.music_cache)."""
        cached = self._tracks.get(instance.definition)
        if cached is not None:
            return cached[0]
        doc, obj = await self.lookup(
            instance.pointer.chunk, instance.definition, "trackDefinitions", playback=True
        )
        definition = parse_track_definition(doc, obj)
        self._tracks.put(instance.definition, definition)
        return definition

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
        raise_for_status(resp)
        return resp.body

    async def manifest_for(
        self, instance: TrackInstance, *, fresh: bool = False
    ) -> tuple[TrackDefinition, bytes]:
        """TrackDefinition + MPD, from the cache while the definition holds (`fresh` asks
        the service again: its segment URLs ran out); an expired manifest URL is
        re-resolved once (AM-C23)."""
        key = instance.definition
        cached = None if fresh else self._tracks.get(key)
        if cached is not None and cached[1] is not None:
            return cached[0], cached[1]
        if fresh:
            self._tracks.drop(key)
        definition = await self.track_definition(instance)
        try:
            mpd = await self.manifest(definition)
        except ManifestExpired:
            log.info("music.manifest_expired action=refetch_definition")
            self._tracks.drop(key)
            definition = await self.track_definition(instance)
            mpd = await self.manifest(definition)
        self._tracks.put(key, definition, mpd)
        return definition, mpd

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
        raise_for_status(resp)
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
