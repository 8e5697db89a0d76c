"""The owner task never waits for the service: with a resolve or an open that never
answers, Pause, Stop, Volume and a new Play are still handled at once (the fake clock
never moves), and the stalled work is cancelled cleanly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from daemon.playback import commands as c
from daemon.playback.commands import CommandRejected, RejectReason
from daemon.playback.engine import Player
from daemon.playback.events import PlayerState
from daemon.playback.sinks.base import OutputCaps
from daemon.playback.source import PcmStream, PlaybackReport, QueueEntry
from tests.component.engine.fakes import CaptureSink, FakeCatalog, FakeCollector, FakeTrack
from tests.component.engine.test_engine import SETTINGS
from tests.support.clock import FakeClock

ANSWER_S = 1.0  # real seconds: an answer is immediate or the owner is blocked


def state_of(player: Player) -> PlayerState:
    """The state read afresh (mypy would keep an earlier narrowing across awaits)."""
    return player.state


class StallingSource:
    """Resolves "stall" and opens "t-stall" never; the rest from a catalogue."""

    def __init__(self) -> None:
        self.catalog = FakeCatalog({"a": [FakeTrack("t1", 30.0)],
                                    "b": [FakeTrack("t-stall", 30.0)]})
        self.collector = FakeCollector()
        self.never = asyncio.Event()
        self.waiting: list[str] = []    # stalled calls in progress
        self.cancelled: list[str] = []  # stalled calls that saw CancelledError

    async def _stall(self, what: str) -> None:
        self.waiting.append(what)
        try:
            await self.never.wait()
        except asyncio.CancelledError:
            self.cancelled.append(what)
            raise
        finally:
            self.waiting.remove(what)

    async def resolve(self, kind: c.PlayKind, service_id: str) -> list[QueueEntry]:
        if service_id.startswith("stall"):
            await self._stall(f"resolve:{service_id}")
        return await self.catalog.resolve(kind, service_id)

    async def open(self, entry: QueueEntry, start_ms: int, caps: OutputCaps) -> PcmStream:
        if entry.info.service_id == "t-stall":
            await self._stall("open:t-stall")
        return await self.catalog.open(entry, start_ms, caps)

    async def report(self, entry: QueueEntry, report: PlaybackReport) -> None:
        await self.collector.report(entry, report)


async def answered(coro: Any) -> None:
    """The command's answer (success or a rejection), within real time, fake clock still."""
    await asyncio.wait_for(coro, ANSWER_S)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_commands_are_answered_while_the_service_never_answers() -> None:
    clock = FakeClock()
    source = StallingSource()
    player = Player(source=source, sink=CaptureSink(clock), clock=clock, settings=SETTINGS)
    await player.start()
    before = asyncio.all_tasks()
    try:
        await answered(player.submit(c.Play(c.PlayKind.ALBUM, "a")))
        await clock.run_for(1.0, step=0.05)
        assert state_of(player) == PlayerState.PLAYING
        started_at = clock.monotonic()

        # A Play whose resolve never answers: its answer waits, the owner does not.
        stalled_play = asyncio.create_task(player.submit(c.Play(c.PlayKind.ALBUM, "stall-1")))
        await settle()
        assert source.waiting == ["resolve:stall-1"]
        assert not stalled_play.done()
        await answered(player.submit(c.Pause()))
        assert state_of(player) == PlayerState.PAUSED
        await answered(player.submit(c.SetVolume(55)))
        assert player.volume == 55

        # A newer Play supersedes and cancels the stalled one.
        await answered(player.submit(c.Play(c.PlayKind.ALBUM, "b")))  # its open stalls
        with pytest.raises(CommandRejected) as exc:
            await answered(stalled_play)
        assert exc.value.reason == RejectReason.SUPERSEDED
        await settle()
        assert source.cancelled == ["resolve:stall-1"]
        assert source.waiting == ["open:t-stall"]
        assert state_of(player) == PlayerState.BUFFERING

        # With the manifest never coming, the same commands are answered.
        await answered(player.submit(c.Pause()))
        assert state_of(player) == PlayerState.PAUSED
        await answered(player.submit(c.SetVolume(20)))
        assert player.volume == 20
        stalled_again = asyncio.create_task(player.submit(c.Play(c.PlayKind.ALBUM, "stall-2")))
        await settle()
        await answered(player.submit(c.Stop()))  # cancels the open and the pending Play
        assert state_of(player) == PlayerState.STOPPED
        with pytest.raises(CommandRejected) as exc:
            await answered(stalled_again)
        assert exc.value.reason == RejectReason.SUPERSEDED
        await settle()
        assert sorted(source.cancelled) == ["open:t-stall", "resolve:stall-1",
                                            "resolve:stall-2"]

        # One more of each left stalling, for close to cancel.
        await answered(player.submit(c.Play(c.PlayKind.ALBUM, "b")))
        pending = asyncio.create_task(player.submit(c.QueueAdd(c.PlayKind.ALBUM, "stall-3")))
        await settle()
        assert sorted(source.waiting) == ["open:t-stall", "resolve:stall-3"]
        assert clock.monotonic() == started_at  # nothing above needed time to pass
    finally:
        await asyncio.wait_for(player.aclose(), ANSWER_S + 2.0)
    with pytest.raises(CommandRejected) as exc:
        await pending
    assert exc.value.reason == RejectReason.SHUTTING_DOWN
    assert source.waiting == []
    assert sorted(source.cancelled) == ["open:t-stall", "open:t-stall", "resolve:stall-1",
                                        "resolve:stall-2", "resolve:stall-3"]
    await settle()
    left = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert left <= {asyncio.current_task()}, left


async def test_aclose_goes_through_the_owner_and_answers_a_waiting_restore(
        tmp_path: Any) -> None:
    from daemon.playback.persist import PlayerStore, SavedPlayer

    clock = FakeClock()
    source = StallingSource()
    store = PlayerStore(tmp_path)
    store.save(SavedPlayer(volume=40, container_kind="album", container_id="stall-r",
                           index=0, position_ms=1000))
    player = Player(source=source, sink=CaptureSink(clock), clock=clock, store=store,
                    settings=SETTINGS)
    await player.start()
    restore = asyncio.create_task(player.restore())
    for _ in range(200):  # restore() reads the store in a thread first
        if source.waiting:
            break
        await asyncio.sleep(0.01)
    assert source.waiting == ["resolve:stall-r"]
    await answered(player.submit(c.SetVolume(41)))
    await asyncio.wait_for(player.aclose(), ANSWER_S + 2.0)
    assert await restore is False
    assert source.cancelled == ["resolve:stall-r"]
    saved = store.load()
    assert saved is not None
    assert saved.volume == 41


async def test_a_queue_add_after_a_slow_play_lands_in_the_new_queue() -> None:
    clock = FakeClock()
    source = StallingSource()
    source.catalog.containers["slow"] = [FakeTrack("s1", 30.0)]
    release = asyncio.Event()
    plain = source.resolve

    async def resolve(kind: c.PlayKind, service_id: str) -> list[QueueEntry]:
        if service_id == "slow":
            await release.wait()
        return await plain(kind, service_id)

    source.resolve = resolve  # type: ignore[method-assign]
    player = Player(source=source, sink=CaptureSink(clock), clock=clock, settings=SETTINGS)
    await player.start()
    try:
        play = asyncio.create_task(player.submit(c.Play(c.PlayKind.ALBUM, "slow")))
        await settle()
        add = asyncio.create_task(player.submit(c.QueueAdd(c.PlayKind.ALBUM, "a")))
        await settle()
        assert not add.done()  # its entries wait for the Play asked before it
        release.set()
        await answered(play)
        await answered(add)
        items = player.snapshot()["queue"]["items"]
        assert [i["service_id"] for i in items] == ["s1", "t1"]
    finally:
        await player.aclose()
