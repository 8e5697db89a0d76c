"""The fetcher on a fake clock: buffer goal reached and held, byte cap, failover, and a
network stall shorter than the buffer that the listener never hears."""

from __future__ import annotations

import asyncio

import pytest

from daemon.core.errors import TransportError
from daemon.playback import commands as c
from daemon.playback.engine import Player
from daemon.playback.events import PlayerState, TrackInfo
from daemon.playback.fetcher import FetchSettings, SegmentFetcher, SegmentRef
from daemon.playback.sinks.base import OutputCaps
from daemon.playback.source import PlaybackReport, QueueEntry
from tests.component.engine.fakes import S16, CaptureSink, FakeCollector, pcm_for
from tests.component.engine.test_engine import SETTINGS
from tests.support.clock import FakeClock


class Network:
    """Serves numbered segments after a simulated transfer time; can stall or fail."""

    def __init__(self, clock: FakeClock, payloads: dict[str, bytes], seconds_per_get: float,
                 stall_at: str | None = None, stall_s: float = 0.0,
                 down: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.payloads = payloads
        self.seconds = seconds_per_get
        self.stall_at = stall_at
        self.stall_s = stall_s
        self.down = down
        self.fetched: list[str] = []

    async def get(self, url: str, byte_range: tuple[int, int] | None) -> bytes:
        host = url.split("/")[2]
        if host in self.down:
            raise TransportError("connection refused", url=url)
        await self.clock.sleep(self.seconds)
        if url == self.stall_at:
            await self.clock.sleep(self.stall_s)
        self.fetched.append(url)
        return self.payloads[url.split("/", 3)[3]]


def _refs(n: int, hosts: tuple[str, ...] = ("a",)) -> list[SegmentRef]:
    return [SegmentRef([f"http://{h}/{i}" for h in hosts], None, 1.0) for i in range(n)]


async def _settle(clock: FakeClock, seconds: float) -> None:
    await clock.run_for(seconds, step=0.05)


async def test_buffer_goal_is_reached_and_held() -> None:
    clock = FakeClock()
    net = Network(clock, {str(i): b"x" * 1000 for i in range(100)}, 0.05)
    fetcher = SegmentFetcher(net.get, _refs(100), clock, FetchSettings(buffer_seconds=30.0))
    fetcher.start()
    await _settle(clock, 10.0)
    assert len(net.fetched) == 30  # the goal, and not one segment more
    assert fetcher.buffered_seconds == 30.0
    for _ in range(5):
        assert await fetcher.next() == b"x" * 1000
    await _settle(clock, 2.0)
    assert len(net.fetched) == 35  # topped up to the goal again
    await fetcher.aclose()


async def test_byte_cap_bounds_the_buffer() -> None:
    clock = FakeClock()
    net = Network(clock, {str(i): b"y" * 4096 for i in range(100)}, 0.01)
    fetcher = SegmentFetcher(net.get, _refs(100), clock,
                             FetchSettings(buffer_seconds=60.0, buffer_bytes=10 * 4096))
    fetcher.start()
    await _settle(clock, 5.0)
    assert len(net.fetched) == 10
    assert fetcher.buffered_bytes == 10 * 4096
    await fetcher.aclose()


async def test_failover_to_the_next_base_url() -> None:
    clock = FakeClock(auto_advance=True)
    net = Network(clock, {str(i): bytes([i]) for i in range(3)}, 0.01,
                  down=frozenset({"primary"}))
    fetcher = SegmentFetcher(net.get, _refs(3, ("primary", "backup")), clock, FetchSettings())
    fetcher.start()
    got = [await fetcher.next() for _ in range(3)]
    assert got == [b"\x00", b"\x01", b"\x02"]
    assert net.fetched == ["http://backup/0", "http://backup/1", "http://backup/2"]
    assert await fetcher.next() is None
    await fetcher.aclose()


async def test_all_alternatives_down_raises() -> None:
    clock = FakeClock()
    net = Network(clock, {}, 0.01, down=frozenset({"a", "b"}))
    fetcher = SegmentFetcher(net.get, _refs(1, ("a", "b")), clock, FetchSettings())
    fetcher.start()
    with pytest.raises(TransportError):
        await fetcher.next()
    await fetcher.aclose()


class FetchedPcmStream:
    """PCM "segments" through a real SegmentFetcher: what the network does, the ear hears."""

    def __init__(self, fetcher: SegmentFetcher, info: TrackInfo) -> None:
        self._fetcher = fetcher
        self._info = info

    @property
    def info(self) -> TrackInfo:
        return self._info

    @property
    def format(self) -> object:
        return S16

    async def read(self) -> bytes | None:
        return await self._fetcher.next()

    def buffered_seconds(self) -> float:
        return self._fetcher.buffered_seconds

    async def aclose(self) -> None:
        await self._fetcher.aclose()


async def test_a_10s_stall_shorter_than_the_buffer_is_not_heard() -> None:
    clock = FakeClock()
    seconds = 60
    pcm = pcm_for(1, seconds)
    one_s = S16.bytes_per_second
    payloads = {str(i): pcm[i * one_s:(i + 1) * one_s] for i in range(seconds)}
    # Downloads take a tenth of real time, except segment 40, which stalls for 10 s.
    net = Network(clock, payloads, 0.1, stall_at="http://a/40", stall_s=10.0)
    info = TrackInfo(service_id="t1", title="t1", duration_ms=seconds * 1000)
    entry = QueueEntry("1", info)

    class Source:
        async def resolve(self, kind: object, service_id: str) -> list[QueueEntry]:
            return [entry]

        async def open(self, e: QueueEntry, start_ms: int, caps: OutputCaps
                       ) -> FetchedPcmStream:
            fetcher = SegmentFetcher(net.get, _refs(seconds), clock,
                                     FetchSettings(buffer_seconds=30.0))
            fetcher.start()
            return FetchedPcmStream(fetcher, info)

    sink = CaptureSink(clock)
    collector = FakeCollector()

    class Reporting(Source):
        async def report(self, e: QueueEntry, report: PlaybackReport) -> None:
            await collector.report(e, report)

    player = Player(source=Reporting(),  # type: ignore[arg-type]
                    sink=sink, clock=clock, settings=SETTINGS)
    await player.start()
    try:
        await player.submit(c.Play(c.PlayKind.TRACK, "t1"))
        while player.state != PlayerState.STOPPED:
            await clock.run_for(0.5, step=0.05)
            assert clock.monotonic() < 2000, "playback did not finish"
        assert "http://a/40" in net.fetched
        assert sink.underruns == 0
        assert bytes(sink.data) == pcm
    finally:
        await player.aclose()
    await asyncio.sleep(0)


async def test_abr_steps_down_under_a_cap_and_back_up_after() -> None:
    from daemon.playback.abr import AbrController, Rung, ThroughputEstimator

    clock = FakeClock()
    ladder = [Rung("OPUS_48", 48_000), Rung("OPUS_192", 192_000), Rung("OPUS_320", 320_000)]
    sizes = {"OPUS_48": 60_000, "OPUS_192": 240_000, "OPUS_320": 400_000}  # 10 s segments
    capped = {"on": False}

    class Link:
        """A link of 2 Mbit/s, or 150 kbit/s while capped."""

        def __init__(self) -> None:
            self.fetched: list[str] = []

        async def get(self, url: str, byte_range: tuple[int, int] | None) -> bytes:
            rep = url.split("/")[3]
            size = sizes[rep]
            bps = 150_000 if capped["on"] else 2_000_000
            await clock.sleep(size * 8 / bps)
            self.fetched.append(rep)
            return bytes(size)

    link = Link()
    estimator = ThroughputEstimator()
    controller = AbrController.for_rep(ladder, "OPUS_320")
    rungs = [[SegmentRef([f"http://cdn/{r.rep_id}/{i}"], None, 10.0) for i in range(40)]
             for r in ladder]

    def choose(buffered_s: float) -> int:
        return controller.decide(now=clock.monotonic(), estimate_bps=estimator.estimate_bps(),
                                 buffer_s=buffered_s).index

    fetcher = SegmentFetcher(link.get, rungs[2], clock, FetchSettings(buffer_seconds=30.0),
                             estimator.add, rungs=rungs, choose=choose,
                             rung=2)
    fetcher.start()

    async def take() -> tuple[bytes, int]:
        """The next segment; fake time runs while it is awaited (a download takes time)."""
        task = asyncio.ensure_future(fetcher.next_segment())
        while not task.done():
            await clock.run_for(0.1, step=0.05)
        got = task.result()
        assert got is not None
        return got

    async def consume(seconds: float) -> list[int]:
        """Play `seconds` of audio in real time, returning the rungs consumed."""
        taken = []
        for _ in range(int(seconds // 10)):
            taken.append((await take())[1])
            await clock.run_for(10.0, step=0.5)
        return taken

    start = await consume(60)
    capped["on"] = True
    during = await consume(120)
    capped["on"] = False
    after = await consume(150)
    await fetcher.aclose()
    assert start[0] == 2
    assert min(during) < 2  # stepped down when 320 kbit/s no longer fitted
    assert after[-1] == 2  # and climbed back once the link recovered
    assert controller.switches >= 2
