"""The player on a fake clock: queue walking, gapless output, collector events and their
timing rules, pause/seek/next, errors, and persisted volume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from daemon.core.errors import LicenseError
from daemon.playback import commands as c
from daemon.playback.commands import CommandRejected, RejectReason
from daemon.playback.engine import Player, PlayerSettings
from daemon.playback.events import PlayerError, PlayerState, StateChanged, TrackInfo
from daemon.playback.persist import PlayerStore
from daemon.playback.source import QueueEntry
from tests.component.engine.fakes import (
    S16,
    S24,
    CaptureSink,
    CatalogSource,
    FakeCatalog,
    FakeCollector,
    FakeTrack,
    pcm_for,
)
from tests.support.clock import FakeClock

SETTINGS = PlayerSettings(progress_interval_s=2.0, tick_s=0.25, save_interval_s=1.0)


class Rig:
    def __init__(self, containers: dict[str, list[FakeTrack]], tmp_path: Path | None = None,
                 settings: PlayerSettings = SETTINGS) -> None:
        self.clock = FakeClock()
        self.catalog = FakeCatalog(containers)
        self.collector = FakeCollector()
        self.sink = CaptureSink(self.clock)
        self.store = PlayerStore(tmp_path) if tmp_path else None
        self.player = Player(source=CatalogSource(self.catalog, self.collector),
                             sink=self.sink, clock=self.clock,
                             store=self.store, settings=settings)
        self.events = self.player.subscribe(maxsize=10_000)

    async def __aenter__(self) -> Rig:
        await self.player.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.player.aclose()

    async def play_for(self, seconds: float) -> None:
        await self.clock.run_for(seconds, step=0.05)

    async def until(self, predicate: object, limit_s: float = 60.0) -> None:
        waited = 0.0
        while not predicate():  # type: ignore[operator]
            await self.play_for(0.25)
            waited += 0.25
            if waited > limit_s:
                raise AssertionError("condition not reached in fake time")

    def states(self) -> list[str]:
        out = []
        while (event := self.events.get_nowait()) is not None:
            if isinstance(event, StateChanged):
                out.append(event.state.value)
        return out


async def test_album_plays_gapless_with_events_in_order() -> None:
    album = {"album": [FakeTrack("t1", 3.0), FakeTrack("t2", 3.0)]}
    async with Rig(album) as rig:
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "album"))
        await rig.until(lambda: rig.player.state == PlayerState.STOPPED)
        # Zero gap: the output saw exactly track 1 then track 2, opened once.
        assert bytes(rig.sink.data) == pcm_for(1, 3.0) + pcm_for(2, 3.0)
        assert rig.sink.opens == [S16]
        assert rig.collector.kinds("t1") == ["STARTED", "PROGRESS", "FINISHED"]
        assert rig.collector.kinds("t2") == ["STARTED", "PROGRESS", "FINISHED"]
        order = [(e[0], e[1]) for e in rig.collector.events]
        assert order.index(("t1", "PLAYBACK_FINISHED")) < order.index(("t2", "PLAYBACK_STARTED"))
        finished = [e for e in rig.collector.events if e[1] == "PLAYBACK_FINISHED"]
        assert all(2900 <= e[3] <= 3000 for e in finished), finished  # played_ms
        assert rig.sink.underruns == 0
        assert rig.states()[-1] == "stopped"


async def test_format_change_reopens_the_output() -> None:
    mixed = {"mix": [FakeTrack("cd", 1.0, S16), FakeTrack("hires", 1.0, S24)]}
    async with Rig(mixed) as rig:
        await rig.player.submit(c.Play(c.PlayKind.PLAYLIST, "mix"))
        await rig.until(lambda: rig.player.state == PlayerState.STOPPED)
        assert rig.sink.opens == [S16, S24]
        assert bytes(rig.sink.data) == pcm_for(1, 1.0, S16) + pcm_for(2, 1.0, S24)


async def test_started_only_when_audio_reaches_output_and_progress_cadence() -> None:
    async with Rig({"one": [FakeTrack("t1", 7.0)]}) as rig:
        await rig.player.submit(c.Play(c.PlayKind.TRACK, "one"))
        assert rig.collector.events == []  # the request alone is not a start
        await rig.play_for(5.0)
        assert rig.collector.kinds() == ["STARTED", "PROGRESS", "PROGRESS"]
        progress = [e[3] for e in rig.collector.events if e[1] == "PLAYBACK_PROGRESS"]
        assert progress[0] >= 2000
        assert progress[1] >= 4000


async def test_pause_resume_and_position() -> None:
    async with Rig({"one": [FakeTrack("t1", 6.0)]}) as rig:
        await rig.player.submit(c.Play(c.PlayKind.TRACK, "one"))
        await rig.play_for(1.5)
        await rig.player.submit(c.Pause())
        await rig.play_for(1.0)  # the device plays out what it held, then stops
        held = rig.player.position_ms()
        assert 1400 <= held <= 2100
        await rig.play_for(3.0)
        assert rig.player.position_ms() == held
        assert rig.sink.underruns == 0
        assert rig.player.state == PlayerState.PAUSED
        await rig.player.submit(c.Resume())
        await rig.until(lambda: cast(PlayerState, rig.player.state) == PlayerState.STOPPED)
        kinds = rig.collector.kinds()
        assert kinds[:3] == ["STARTED", "PAUSED", "RESUMED"]
        assert kinds[-1] == "FINISHED"
        assert kinds.count("FINISHED") == 1


async def test_next_reports_skip_and_previous_restarts() -> None:
    album = {"a": [FakeTrack("t1", 5.0), FakeTrack("t2", 5.0)]}
    async with Rig(album) as rig:
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "a"))
        await rig.play_for(1.0)
        await rig.player.submit(c.Next())
        await rig.play_for(1.0)
        assert rig.collector.kinds("t1") == ["STARTED", "SKIPPED"]
        skipped = next(e for e in rig.collector.events if e[1] == "PLAYBACK_SKIPPED")
        assert skipped[4] == "USER_NEXT"
        assert rig.collector.kinds("t2") == ["STARTED"]
        with pytest.raises(CommandRejected) as info:
            await rig.player.submit(c.Next())
        assert info.value.reason == RejectReason.NO_NEXT


async def test_seek_lands_and_does_not_restart_the_instance() -> None:
    async with Rig({"one": [FakeTrack("t1", 10.0)]}) as rig:
        await rig.player.submit(c.Play(c.PlayKind.TRACK, "one"))
        await rig.play_for(1.0)
        await rig.player.submit(c.Seek(6000))
        await rig.play_for(0.5)
        assert rig.catalog.opened == [("t1", 0), ("t1", 6000)]
        assert 6000 <= rig.player.position_ms() <= 6600
        with pytest.raises(CommandRejected) as info:
            await rig.player.submit(c.Seek(10_000))
        assert info.value.reason == RejectReason.OUT_OF_RANGE
        await rig.until(lambda: rig.player.state == PlayerState.STOPPED)
        assert rig.collector.kinds().count("STARTED") == 1
        assert rig.collector.kinds()[-1] == "FINISHED"


async def test_collector_refusal_stops_playback_first() -> None:
    album = {"a": [FakeTrack("t1", 6.0), FakeTrack("t2", 6.0)]}
    async with Rig(album) as rig:
        rig.collector.refuse = ("t1", "PLAYBACK_PROGRESS")
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "a"))
        await rig.play_for(3.0)
        assert rig.player.state == PlayerState.STOPPED
        written = len(rig.sink.data)
        await rig.play_for(2.0)
        assert len(rig.sink.data) == written  # nothing more reaches the output
        assert rig.collector.kinds() == ["STARTED"]  # nothing after the refusal


async def test_licence_denial_skips_to_the_next_track() -> None:
    denied = LicenseError("licence denied", denialReason="NOT_ENTITLED")
    album = {"a": [FakeTrack("t1", 2.0, fail_open=denied), FakeTrack("t2", 1.0)]}
    async with Rig(album) as rig:
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "a"))
        await rig.until(lambda: rig.player.state == PlayerState.STOPPED)
        assert bytes(rig.sink.data) == pcm_for(2, 1.0)
        errors = []
        while (event := rig.events.get_nowait()) is not None:
            if isinstance(event, PlayerError):
                errors.append(event)
        assert [e.code for e in errors] == ["license"]
        assert rig.collector.kinds("t1") == []  # never started: no events at all


async def test_a_concurrency_denial_stops_the_whole_queue() -> None:
    from daemon.playback.source import DenialReason, LicenceDenied

    denied = LicenceDenied("licence denied", denial=DenialReason.CONCURRENCY)
    album = {"a": [FakeTrack("t1", 2.0, fail_open=denied), FakeTrack("t2", 1.0)]}
    async with Rig(album) as rig:
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "a"))
        await rig.until(lambda: rig.player.state == PlayerState.ERROR)
        await rig.play_for(2.0)
        assert rig.player.state == PlayerState.ERROR
        assert rig.catalog.opened == [("t1", 0)]  # t2 would be refused too: not tried
        assert bytes(rig.sink.data) == b""


async def test_commands_on_an_empty_player_are_rejected() -> None:
    async with Rig({}) as rig:
        for cmd in (c.Pause(), c.Seek(10), c.Previous()):
            with pytest.raises(CommandRejected) as info:
                await rig.player.submit(cmd)
            assert info.value.reason == RejectReason.NOTHING_LOADED
        with pytest.raises(CommandRejected):
            await rig.player.submit(c.Play(c.PlayKind.ALBUM, "missing"))


async def test_queue_operations() -> None:
    cat = {"a": [FakeTrack("t1", 5.0), FakeTrack("t2", 5.0)], "b": [FakeTrack("t3", 5.0)]}
    async with Rig(cat) as rig:
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "a"))
        await rig.player.submit(c.QueueAdd(c.PlayKind.ALBUM, "b", index=1))
        items = rig.player.snapshot()["queue"]["items"]
        assert [i["service_id"] for i in items] == ["t1", "t3", "t2"]
        await rig.player.submit(c.QueueMove(items[2]["item_id"], 1))
        items = rig.player.snapshot()["queue"]["items"]
        assert [i["service_id"] for i in items] == ["t1", "t2", "t3"]
        with pytest.raises(CommandRejected):
            await rig.player.submit(c.QueueRemove(items[0]["item_id"]))  # the current track
        await rig.player.submit(c.QueueRemove(items[1]["item_id"]))
        await rig.player.submit(c.QueueClear())
        assert [i["service_id"] for i in rig.player.snapshot()["queue"]["items"]] == ["t1"]


async def test_volume_is_persisted_and_restored(tmp_path: Path) -> None:
    async with Rig({}, tmp_path) as rig:
        assert rig.player.volume == SETTINGS.initial_volume  # first start: never 100 %
        await rig.player.submit(c.SetVolume(42))
    async with Rig({}, tmp_path) as rig:
        assert rig.player.volume == 42


async def test_stop_reports_once_and_shutdown_is_clean() -> None:
    async with Rig({"one": [FakeTrack("t1", 5.0)]}) as rig:
        await rig.player.submit(c.Play(c.PlayKind.TRACK, "one"))
        await rig.play_for(1.0)
        await rig.player.submit(c.Stop())
        await rig.play_for(0.5)
        assert rig.collector.kinds() == ["STARTED", "STOPPED"]
        assert rig.collector.events[-1][4] == "USER_STOP"
        assert all(s.closed for s in rig.catalog.streams)
    await asyncio.sleep(0)
    with pytest.raises(CommandRejected):
        await rig.player.submit(c.Stop())


async def test_restore_reloads_the_queue_paused_and_resumes_there(tmp_path: Path) -> None:
    album = {"a": [FakeTrack("t1", 5.0), FakeTrack("t2", 8.0)]}
    async with Rig(album, tmp_path) as rig:
        await rig.player.submit(c.Play(c.PlayKind.ALBUM, "a", start_index=1))
        await rig.play_for(3.0)
        await rig.player.submit(c.Pause())  # saves queue, track and position
        await rig.play_for(1.0)
        saved_at = rig.player.position_ms()
    async with Rig(album, tmp_path) as rig:
        assert await rig.player.restore()
        snap = rig.player.snapshot()
        assert snap["state"] == "paused"
        assert snap["track"]["service_id"] == "t2"
        assert snap["position_ms"] == saved_at
        assert rig.collector.events == []  # nothing reported before audio plays again
        await rig.player.submit(c.Resume())
        await rig.until(lambda: rig.player.state == PlayerState.STOPPED)
        assert rig.catalog.opened == [("t2", saved_at)]
        assert rig.collector.kinds("t2")[0] == "STARTED"
        assert rig.collector.kinds("t2")[-1] == "FINISHED"


async def test_restore_without_saved_state_does_nothing(tmp_path: Path) -> None:
    async with Rig({"a": [FakeTrack("t1", 1.0)]}, tmp_path) as rig:
        assert not await rig.player.restore()
        assert rig.player.state == PlayerState.IDLE


async def test_a_mid_track_format_change_reopens_the_output_and_keeps_position() -> None:
    from tests.component.engine.fakes import FakeStream

    class Switching(FakeStream):
        """Two seconds of S16, then (an ABR step to another codec) two seconds of S24.
        Like a DASH stream, `format` is that of the chunk `read` returned last."""

        def __init__(self, info: TrackInfo) -> None:
            self._split = len(pcm_for(1, 2.0))
            super().__init__(info, S16, pcm_for(1, 2.0) + pcm_for(2, 2.0, S24))
            self._last = S16

        @property
        def format(self) -> Any:
            return self._last

        async def read(self) -> bytes | None:
            if self._pos >= len(self._data):
                return None
            self._last = S16 if self._pos < self._split else S24
            end = self._split if self._pos < self._split else len(self._data)
            chunk = bytes(self._data[self._pos:min(end, self._pos + 4800 * 8)])
            self._pos += len(chunk)
            return chunk

    class Source(FakeCatalog):
        async def open(self, entry: QueueEntry, start_ms: int, caps: Any) -> Any:
            return Switching(entry.info)

    rig = Rig({})
    source = Source({"one": [FakeTrack("t1", 4.0)]})
    rig.player = Player(source=CatalogSource(source, rig.collector),
                        sink=rig.sink, clock=rig.clock, settings=SETTINGS)
    rig.events = rig.player.subscribe(maxsize=10_000)
    async with rig:
        await rig.player.submit(c.Play(c.PlayKind.TRACK, "one"))
        await rig.until(lambda: rig.player.state == PlayerState.STOPPED)
    assert rig.sink.opens == [S16, S24]
    assert bytes(rig.sink.data) == pcm_for(1, 2.0) + pcm_for(2, 2.0, S24)
    finished = next(e for e in rig.collector.events if e[1] == "PLAYBACK_FINISHED")
    assert 3900 <= finished[3] <= 4000  # played_ms spans both formats
