"""The player's `Source` over the Amazon Music Device API client.

Service ids are what browse hands out: a node reference (album, playlist, station) or a
track pointer, as absolute URLs. For configuration (`playback.autoplay`) a stable form
`<kind>:<title or id>` is also accepted and found by walking the browse tree from the
root, since URIs are opaque and may change between runs (DOCUMENTED, §4.1).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.core.errors import ProtocolError, TransportError
from daemon.drm.errors import LicenseDenied
from daemon.drm.flow import LicenceFlow
from daemon.playback.abr import ThroughputEstimator
from daemon.playback.commands import CommandRejected, PlayKind, RejectReason
from daemon.playback.dash_stream import DashSession, DashStream, StreamRequest, open_dash_stream
from daemon.playback.events import TrackInfo
from daemon.playback.fetcher import ByteRange, FetchSettings
from daemon.playback.sinks.base import OutputCaps, PcmFormat
from daemon.playback.source import (
    DenialReason,
    LicenceDenied,
    PlaybackEvent,
    PlaybackReport,
    QueueEntry,
    StopReason,
)
from daemon.services.http import HttpClient, safe_url
from daemon.services.music import MusicClient, TrackDefinition, TrackInstance, TrackPointer

log = logging.getLogger("daemon.sources.amazon")

MAX_SEGMENT_BYTES = 64 * 1024 * 1024
#: Open tracks whose manifest, plans, init and keys are kept for a reopen: the current,
#: previous and next track (the service's cache window, spec/amazon-music.md §11).
SESSION_WINDOW = 3
_SEARCH_NODES = 64  # bound on nodes visited when resolving a `kind:name` id

# AM-C27's wire names for the player's neutral events and reasons.
_EVENTS: dict[PlaybackEvent, am.EventType] = {
    PlaybackEvent.STARTED: am.EventType.PLAYBACK_STARTED,
    PlaybackEvent.PAUSED: am.EventType.PLAYBACK_PAUSED,
    PlaybackEvent.RESUMED: am.EventType.PLAYBACK_RESUMED,
    PlaybackEvent.PROGRESS: am.EventType.PLAYBACK_PROGRESS,
    PlaybackEvent.FINISHED: am.EventType.PLAYBACK_FINISHED,
    PlaybackEvent.SKIPPED: am.EventType.PLAYBACK_SKIPPED,
    PlaybackEvent.STOPPED: am.EventType.PLAYBACK_STOPPED,
    PlaybackEvent.ERROR: am.EventType.PLAYBACK_ERROR,
}
_REASONS: dict[StopReason, am.EventReason] = {
    StopReason.USER_NEXT: am.EventReason.USER_NEXT,
    StopReason.USER_PREVIOUS: am.EventReason.USER_PREVIOUS,
    StopReason.USER_STOP: am.EventReason.USER_STOP,
    StopReason.DECODE_ERROR: am.EventReason.DECODE_ERROR,
    StopReason.LICENSE_ERROR: am.EventReason.LICENSE_ERROR,
    StopReason.NETWORK_ERROR: am.EventReason.NETWORK_ERROR,
}
_DENIALS: dict[str, DenialReason] = {
    am.DenialReason.CONCURRENCY_LIMIT.value: DenialReason.CONCURRENCY,
    am.DenialReason.NOT_ENTITLED.value: DenialReason.NOT_ENTITLED,
}


def wire_event(event: PlaybackEvent) -> am.EventType:
    """AM-C27's event type for a neutral playback event."""
    return _EVENTS[event]


def wire_reason(reason: StopReason | None) -> am.EventReason | None:
    return _REASONS[reason] if reason is not None else None


def _denied(exc: LicenseDenied) -> LicenceDenied:
    """The player acts on a structured reason, never on an error's text."""
    return LicenceDenied(exc.detail, denial=_DENIALS.get(exc.reason, DenialReason.OTHER),
                         **exc.fields)


class AmazonStream:
    """A `PcmStream` over one DASH stream whose licence refusals (at open or on the first
    encrypted segment) carry the player's `DenialReason`."""

    def __init__(self, dash: DashStream) -> None:
        self.dash = dash

    @property
    def info(self) -> TrackInfo:
        return self.dash.info

    @property
    def format(self) -> PcmFormat:
        return self.dash.format

    async def read(self) -> bytes | None:
        try:
            return await self.dash.read()
        except LicenseDenied as exc:
            raise _denied(exc) from exc

    def buffered_seconds(self) -> float:
        return self.dash.buffered_seconds()

    async def aclose(self) -> None:
        await self.dash.aclose()


class _TrackDash:
    """The `DashService` of one track instance: segments over plain HTTP, the licence
    from the definition's URI, and a fresh manifest by resolving the instance again."""

    def __init__(self, playback: AmazonPlayback, instance: TrackInstance,
                 definition: TrackDefinition) -> None:
        self._playback = playback
        self._instance = instance
        self._definition = definition

    async def fetch(self, url: str, byte_range: ByteRange | None) -> bytes:
        return await self._playback.fetch(url, byte_range)

    async def post_licence(self, challenge: bytes) -> bytes:
        uri = self._definition.license_uri
        if uri is None:
            raise ProtocolError("the track definition names no licence URI",
                                url=safe_url(self._definition.source))
        return await self._playback.music.license(uri, challenge)

    async def refresh_manifest(self) -> tuple[bytes, str] | None:
        # Signed URLs ran out mid-track: resolve the instance again (AM-C23).
        fresh, body = await self._playback.music.manifest_for(self._instance, fresh=True)
        return body, fresh.manifest_uri


@dataclass(frozen=True)
class _Handle:
    instance: TrackInstance


class AmazonPlayback:
    """The Amazon Music `Source` for the engine, over `MusicClient`."""

    def __init__(self, *, music: Callable[[], MusicClient], http: HttpClient, clock: Clock,
                 licence_flow: LicenceFlow | None, capabilities: Callable[[], Iterable[str]],
                 decoders: Iterable[str], fetch: FetchSettings,
                 station_tracks: int = 25) -> None:
        self._music = music  # late-bound: the client exists once its component started
        self._http = http
        self._clock = clock
        self._licence_flow = licence_flow
        self._capabilities = capabilities
        self._decoders = tuple(decoders)
        self._fetch = fetch
        self._station_tracks = station_tracks
        # One estimate across tracks: the next track's selection and every ABR read it.
        self._throughput = ThroughputEstimator()
        # A seek or a replay reopens a track from what its last stream learnt.
        self._sessions: OrderedDict[tuple[str, str], DashSession] = OrderedDict()

    @property
    def music(self) -> MusicClient:
        return self._music()

    # --- resolving ----------------------------------------------------------------------

    async def resolve(self, kind: PlayKind, service_id: str) -> list[QueueEntry]:
        pointer = await self._pointer(kind, service_id)
        limit = self._station_tracks if kind == PlayKind.STATION else 1000
        if kind == PlayKind.TRACK:
            limit = 1
        entries: list[QueueEntry] = []
        async for instance in self._music().instances(pointer, limit=limit):
            n = len(entries)
            entries.append(QueueEntry(
                item_id=str(n), handle=_Handle(instance),
                info=TrackInfo(service_id=instance.definition, title=f"track {n + 1}")))
        return entries

    async def _pointer(self, kind: PlayKind, service_id: str) -> TrackPointer:
        if service_id.startswith(("http://", "https://")):
            if "@" in service_id.rsplit("#", 1)[-1]:
                chunk, index = service_id.rsplit("@", 1)
                return TrackPointer(chunk, int(index))
            return await self._first_pointer(service_id)
        name = service_id.split(":", 1)[1] if ":" in service_id else service_id
        found = await self.find(kind, name)
        return found if isinstance(found, TrackPointer) else await self._first_pointer(found)

    async def _first_pointer(self, node_ref: str) -> TrackPointer:
        node = await self._music().node(node_ref)
        for item in node.items:
            if item.pointer is not None:
                return item.pointer
        raise CommandRejected("nothing playable there", reason=RejectReason.UNAVAILABLE,
                              node=safe_url(node_ref))

    async def find(self, kind: PlayKind, name: str) -> str | TrackPointer:
        """Breadth-first over the browse tree for an item labelled `name` or whose node
        URL has `name` as a path segment; bounded so a huge tree cannot stall a command."""
        wanted = name.casefold()
        root = await self._music().root()
        queue: deque[str] = deque(i.node for i in root.items if i.node)
        seen = 0
        while queue and seen < _SEARCH_NODES:
            ref = queue.popleft()
            seen += 1
            node = await self._music().node(ref)
            for item in node.items:
                target = item.node or (item.pointer.chunk if item.pointer else "")
                segments = [s.casefold() for s in urlsplit(target).path.split("/") if s]
                if item.label.casefold() == wanted or wanted in segments:
                    return item.node or item.pointer  # type: ignore[return-value]
                if item.node is not None:
                    queue.append(item.node)
        raise CommandRejected(f"no {kind.value} named {name[:80]!r}",
                              reason=RejectReason.UNAVAILABLE)

    # --- opening ------------------------------------------------------------------------

    async def open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> AmazonStream:
        try:
            return AmazonStream(await self._open(entry, start_ms, caps))
        except LicenseDenied as exc:
            raise _denied(exc) from exc

    async def _open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> DashStream:
        handle = entry.handle
        assert isinstance(handle, _Handle)
        definition, mpd = await self._music().manifest_for(handle.instance)
        info = TrackInfo(service_id=definition.track_tag, title=definition.title,
                         artist=definition.artist or None, album=definition.album or None,
                         image_url=definition.image_uri,
                         duration_ms=definition.duration_s * 1000
                         if definition.duration_s is not None else None)
        request = StreamRequest(
            mpd=mpd, mpd_url=definition.manifest_uri, info=info, start_ms=start_ms, caps=caps,
            capabilities=tuple(self._capabilities()), decoders=self._decoders)
        key = (handle.instance.definition, handle.instance.collector)
        stream = await open_dash_stream(
            request, service=_TrackDash(self, handle.instance, definition),
            licence_flow=self._licence_flow, clock=self._clock, settings=self._fetch,
            estimate=self._throughput, session=self._sessions.get(key), keep_session=True)
        self._keep(key, stream.session)
        return stream

    def _keep(self, key: tuple[str, str], session: DashSession) -> None:
        old = self._sessions.get(key)
        if old is not None and old is not session:
            old.drop()
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > SESSION_WINDOW:
            self._sessions.popitem(last=False)[1].drop()

    async def fetch(self, url: str, byte_range: ByteRange | None) -> bytes:
        headers = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else {}
        resp = await self._http.request("GET", url, headers=headers,
                                        max_body=MAX_SEGMENT_BYTES)
        if resp.status not in (200, 206):
            raise TransportError("segment request failed", url=safe_url(url),
                                 status=resp.status)
        body = resp.body
        if byte_range is not None and resp.status == 200:  # a server that ignored Range
            body = body[byte_range[0]:byte_range[1] + 1]
        return body

    # --- reporting ----------------------------------------------------------------------

    async def report(self, entry: QueueEntry, report: PlaybackReport) -> None:
        handle = entry.handle
        assert isinstance(handle, _Handle)
        body = am.playback_event(wire_event(report.event), track_position_ms=report.position_ms,
                                 wall_clock_s=self._clock.time(),
                                 played_duration_ms=report.played_ms,
                                 audio_quality=report.quality,
                                 reason=wire_reason(report.reason))
        await self._music().report_event(handle.instance.collector, body)
        log.debug("event.sent type=%s position_ms=%s", report.event.value, report.position_ms)
