"""Hand-written fakes for the engine: a catalogue, PCM streams, a collector, a sink."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from daemon.core.errors import DaemonError
from daemon.playback.commands import PlayKind
from daemon.playback.events import AudioQuality, TrackInfo
from daemon.playback.sinks.base import OutputCaps, PcmFormat, SampleFormat
from daemon.playback.sinks.null import NullSink
from daemon.playback.source import PcmStream, PlaybackReport, QueueEntry
from tests.support.clock import FakeClock

S16 = PcmFormat(48_000, 2, SampleFormat.S16_LE)
S24 = PcmFormat(96_000, 2, SampleFormat.S32_LE)
CHUNK_FRAMES = 4800  # 0.1 s at 48 kHz


def pcm_for(track_no: int, seconds: float, fmt: PcmFormat = S16) -> bytes:
    """Distinct, checkable PCM: every frame carries (track number, frame index)."""
    frames = int(seconds * fmt.rate)
    if fmt.sample_format == SampleFormat.S16_LE:
        return b"".join(struct.pack("<hh", track_no, i % 32768) for i in range(frames))
    return b"".join(struct.pack("<ii", track_no, i) for i in range(frames))


@dataclass
class FakeTrack:
    service_id: str
    seconds: float
    fmt: PcmFormat = S16
    fail_open: DaemonError | None = None

    def pcm(self, number: int) -> bytes:
        return pcm_for(number, self.seconds, self.fmt)


class FakeStream:
    def __init__(self, info: TrackInfo, fmt: PcmFormat, data: bytes) -> None:
        self._info = info
        self._fmt = fmt
        self._data = memoryview(data)
        self._pos = 0
        self.closed = False

    @property
    def info(self) -> TrackInfo:
        return self._info

    @property
    def format(self) -> PcmFormat:
        return self._fmt

    async def read(self) -> bytes | None:
        if self._pos >= len(self._data):
            return None
        size = CHUNK_FRAMES * self._fmt.frame_bytes
        chunk = bytes(self._data[self._pos:self._pos + size])
        self._pos += size
        return chunk

    def buffered_seconds(self) -> float:
        return (len(self._data) - self._pos) / self._fmt.bytes_per_second

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeCatalog:
    """Queue source and media source over a dict of containers."""

    containers: dict[str, list[FakeTrack]]
    opened: list[tuple[str, int]] = field(default_factory=list)
    streams: list[FakeStream] = field(default_factory=list)

    async def resolve(self, kind: PlayKind, service_id: str) -> list[QueueEntry]:
        tracks = self.containers.get(service_id, [])
        return [QueueEntry(item_id=f"x{i}", handle=(n, t),
                           info=TrackInfo(service_id=t.service_id, title=t.service_id,
                                          duration_ms=int(t.seconds * 1000)))
                for i, (n, t) in enumerate(enumerate(tracks, start=1))]

    async def open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> FakeStream:
        number, track = entry.handle
        self.opened.append((track.service_id, start_ms))
        if track.fail_open is not None:
            raise track.fail_open
        data = track.pcm(number)
        skip = track.fmt.frame_bytes * (start_ms * track.fmt.rate // 1000)
        info = TrackInfo(service_id=track.service_id, title=track.service_id,
                         duration_ms=int(track.seconds * 1000), quality=AudioQuality.HD)
        stream = FakeStream(info, track.fmt, data[skip:])
        self.streams.append(stream)
        return stream


@dataclass
class FakeCollector:
    events: list[tuple[str, str, int, int, str | None]] = field(default_factory=list)
    refuse: tuple[str, str] | None = None  # (service_id, event) -> raise

    async def report(self, entry: QueueEntry, report: PlaybackReport) -> None:
        # Recorded under AM-C27's names, which the neutral events map to one to one.
        event = f"PLAYBACK_{report.event.name}"
        if self.refuse == (entry.info.service_id, event):
            from daemon.core.errors import ServiceError
            raise ServiceError("collector answered 409", status=409)
        self.events.append((entry.info.service_id, event, report.position_ms,
                            report.played_ms, report.reason.name if report.reason else None))

    def kinds(self, service_id: str | None = None) -> list[str]:
        return [e[1].removeprefix("PLAYBACK_") for e in self.events
                if service_id is None or e[0] == service_id]


class CatalogSource:
    """A `Source` over a catalogue (resolve, open) and a collector (report)."""

    def __init__(self, catalog: FakeCatalog, collector: FakeCollector) -> None:
        self.catalog = catalog
        self.collector = collector

    async def resolve(self, kind: PlayKind, service_id: str) -> list[QueueEntry]:
        return await self.catalog.resolve(kind, service_id)

    async def open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> PcmStream:
        return await self.catalog.open(entry, start_ms, caps)

    async def report(self, entry: QueueEntry, report: PlaybackReport) -> None:
        await self.collector.report(entry, report)


class CaptureSink(NullSink):
    """Paced like a device by the fake clock; keeps every byte and every (re)open."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, buffer_s=0.5, name="capture")
        self.data = bytearray()
        self.opens: list[PcmFormat] = []

    async def open(self, fmt: PcmFormat) -> None:
        await super().open(fmt)
        self.opens.append(fmt)

    async def write(self, data: bytes) -> None:
        self.data += data
        await super().write(data)
