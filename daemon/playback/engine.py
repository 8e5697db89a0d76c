"""The player: one task owns all player state (DESIGN.md §2).

Commands arrive through `submit()`; the renderer, the stream openers, the resolvers and
the event sender post messages into the same inbox, so the owner task is the only code
that changes the queue, the current track, the state or the volume. The owner never
waits for the service: resolving an id and opening a stream run in helper tasks whose
results come back through the inbox, stamped with a generation; stale ones are dropped.

Play and QueueAdd are answered once their ids are resolved (so "nothing there" or "not
signed in" reaches the caller), but the owner goes on serving other commands meanwhile;
a newer Play, a Stop or closing the player cancels a pending Play and answers it with
`SUPERSEDED` (or `SHUTTING_DOWN`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from daemon.core.clock import Clock
from daemon.core.errors import DaemonError, PlaybackError
from daemon.core.resource import StartableResource
from daemon.playback import commands as c
from daemon.playback import inbox as m
from daemon.playback.commands import CommandRejected, RejectReason
from daemon.playback.events import (
    PlayerState,
    Position,
    Subscription,
    TrackChanged,
    VolumeChanged,
)
from daemon.playback.persist import PlayerStore, SavedPlayer
from daemon.playback.render import RenderEnded, RenderFailed, RenderProgress, RenderStarted
from daemon.playback.sinks.base import Sink
from daemon.playback.source import PlaybackEvent, QueueEntry, Source, StopReason
from daemon.playback.tracks import PlayerCore, PlayerSettings
from daemon.playback.volume import VolumeControl

log = logging.getLogger("daemon.playback")

RESTART_THRESHOLD_MS = 3000  # "previous" restarts the track when further in than this
EVENT_DRAIN_S = 2.0  # how long closing waits for queued events to reach the service


@dataclass
class _Pending:
    """A resolve in flight: what asked for it, who waits for the answer, and the task."""

    purpose: c.Play | c.QueueAdd | SavedPlayer
    done: asyncio.Future[None] | asyncio.Future[bool]
    task: asyncio.Task[None]
    result: m.Resolved | None = None


class Player(PlayerCore, StartableResource):
    """The engine. Implements `PlayerCommands`; start() returns once the owner task runs."""

    name = "player"

    def __init__(self, *, source: Source, sink: Sink, clock: Clock,
                 store: PlayerStore | None = None, settings: PlayerSettings | None = None,
                 volume: VolumeControl | None = None,
                 rng: random.Random | None = None) -> None:
        super().__init__(source=source, sink=sink, clock=clock, store=store,
                         settings=settings, volume=volume, rng=rng)
        self._tasks: list[asyncio.Task[None]] = []
        self._owner: asyncio.Task[None] | None = None
        self._closed = False
        self._resolve_seq = 0
        self._resolves: dict[int, _Pending] = {}
        self._deferred: set[asyncio.Future[None]] = set()  # commands answered by a helper
        self._volume_task: asyncio.Task[None] | None = None

    # --- PlayerCommands -----------------------------------------------------------------

    async def submit(self, cmd: c.Command) -> None:
        if self._closed:
            raise CommandRejected("the player is shutting down", reason=RejectReason.SHUTTING_DOWN)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(m.CommandMsg(cmd, done))
        await done

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        return self._hub.subscribe(maxsize)

    def snapshot(self) -> dict[str, Any]:
        track = self._now.entry.info if self._now else None
        return {
            "state": self._state.value,
            "track": track.to_dict() if track else None,
            "position_ms": self.position_ms(),
            "duration_ms": track.duration_ms if track else None,
            "volume": self._volume,
            "queue": self._queue.to_dict(),
            "buffer_s": self._renderer.buffered_seconds() if self._renderer else 0.0,
            "underruns": self._sink.underruns,
        }

    @property
    def state(self) -> PlayerState:
        return self._state

    @property
    def volume(self) -> int:
        return self._volume

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._store is not None:
            saved = await asyncio.to_thread(self._store.load)
            if saved is not None:
                self._volume = saved.volume
        if self._volume_ctl is not None:
            await self._volume_ctl.set_level(self._volume)
        if self._saver is not None:
            await self._saver.start()
        self._owner = asyncio.create_task(self._run(), name="player-owner")
        self._tasks = [self._owner,
                       asyncio.create_task(self._sender.run(), name="player-reporter"),
                       asyncio.create_task(self._ticker(), name="player-ticker")]
        self._publish(VolumeChanged(self._volume))

    async def restore(self) -> bool:
        """Reload the saved queue, paused at the saved position (`playback.resume`);
        False when nothing was saved. Resume then plays from there."""
        if self._store is None or self._closed:
            return False
        saved = await asyncio.to_thread(self._store.load)
        if saved is None or not saved.container_kind or not saved.container_id:
            return False
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(m.Restore(saved, done))
        return await done

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owner is not None and not self._owner.done():
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._inbox.put_nowait(m.Close(done))
            await done  # the owner saved, reported the stop and cancelled its helpers
        if self._saver is not None:
            await self._saver.aclose()  # the last save is on disk
        await self._sender.drain(EVENT_DRAIN_S)
        for task in [*self._tasks, *self._helpers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._helpers, return_exceptions=True)
        await self._sink.aclose()
        self._hub.close()

    def health(self) -> str | None:
        for task in self._tasks:
            if task.done():
                return f"{task.get_name()} stopped"
        return None

    # --- the owner task -------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            msg = await self._inbox.get()
            if isinstance(msg, m.Close):
                await self._on_close()
                msg.done.set_result(None)
                return
            try:
                await self._dispatch(msg)
            except (CommandRejected, DaemonError) as exc:
                if not isinstance(exc, CommandRejected):
                    log.error("player.error %s", exc)
                if isinstance(msg, m.CommandMsg) and not msg.done.done():
                    msg.done.set_exception(exc)
            else:
                if isinstance(msg, m.CommandMsg) and not msg.done.done() \
                        and not self._is_pending(msg.done):
                    msg.done.set_result(None)

    async def _dispatch(self, msg: m.Message) -> None:
        if isinstance(msg, m.CommandMsg):
            await self._handle(msg.cmd, msg.done)
        elif isinstance(msg, m.Resolved):
            await self._on_resolved(msg)
        elif isinstance(msg, m.VolumeApplied):
            self._on_volume_applied(msg)
        elif isinstance(msg, m.Opened):
            await self._on_opened(msg)
        elif isinstance(msg, m.OpenFailed):
            if msg.gen == self._gen:
                await self._on_track_error(msg.entry, msg.error)
        elif isinstance(msg, m.Prefetched):
            await self._on_prefetched(msg)
        elif isinstance(msg, RenderStarted):
            self._on_render_started(msg)
        elif isinstance(msg, RenderProgress):
            if msg.gen == self._gen and self._now is not None \
                    and msg.entry.item_id == self._now.entry.item_id:
                self._check_progress()
        elif isinstance(msg, RenderEnded):
            await self._on_render_ended(msg)
        elif isinstance(msg, RenderFailed):
            if msg.gen == self._gen:
                await self._on_track_error(msg.entry, msg.error)
        elif isinstance(msg, m.ReportFailed):
            await self._on_report_failed(msg)
        elif isinstance(msg, m.Tick):
            await self._on_tick()
        elif isinstance(msg, m.Restore):
            self._begin_restore(msg)

    async def _on_close(self) -> None:
        self._supersede(lambda p: True, RejectReason.SHUTTING_DOWN)
        self._save()  # where we are, before stopping forgets it
        if self._now is not None and self._state in (PlayerState.PLAYING, PlayerState.PAUSED,
                                                     PlayerState.BUFFERING):
            self._terminal(PlaybackEvent.STOPPED, StopReason.USER_STOP)
        await self._stop_renderer()
        helpers = list(self._helpers)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        for done in self._deferred:
            if not done.done():
                done.set_exception(CommandRejected("the player is shutting down",
                                                   reason=RejectReason.SHUTTING_DOWN))
        self._deferred.clear()
        while not self._inbox.empty():  # what the helpers posted before they stopped
            await self._discard(self._inbox.get_nowait())

    async def _discard(self, msg: m.Message) -> None:
        if isinstance(msg, m.Opened | m.Prefetched) and msg.stream is not None:
            await msg.stream.aclose()
        elif isinstance(msg, m.CommandMsg) and not msg.done.done():
            msg.done.set_exception(CommandRejected("the player is shutting down",
                                                   reason=RejectReason.SHUTTING_DOWN))
        elif isinstance(msg, m.Restore) and not msg.done.done():
            msg.done.set_result(False)

    # --- resolving ids, in helper tasks -------------------------------------------------------

    def _request(self, purpose: c.Play | c.QueueAdd | SavedPlayer, kind: c.PlayKind,
                 service_id: str, done: asyncio.Future[None] | asyncio.Future[bool]) -> None:
        self._resolve_seq += 1
        seq = self._resolve_seq
        task = self._spawn(self._resolve(seq, kind, service_id))
        self._resolves[seq] = _Pending(purpose, done, task)

    def _is_pending(self, done: asyncio.Future[Any]) -> bool:
        return done in self._deferred or any(p.done is done for p in self._resolves.values())

    def _supersede(self, which: Callable[[_Pending], bool],
                   reason: RejectReason = RejectReason.SUPERSEDED) -> None:
        """Cancel the resolves `which(pending)` selects and answer whoever waits."""
        for seq, pending in list(self._resolves.items()):
            if not which(pending):
                continue
            del self._resolves[seq]
            pending.task.cancel()
            if pending.done.done():
                continue
            if isinstance(pending.purpose, SavedPlayer):
                pending.done.set_result(False)  # type: ignore[arg-type]
            else:
                pending.done.set_exception(CommandRejected(
                    "replaced by a newer command" if reason == RejectReason.SUPERSEDED
                    else "the player is shutting down", reason=reason))

    async def _on_resolved(self, msg: m.Resolved) -> None:
        """Results take effect in the order they were asked for (a QueueAdd after a Play
        lands in the new queue, as if each had waited for the one before)."""
        pending = self._resolves.get(msg.gen)
        if pending is None:
            return  # superseded: its answer was given already
        pending.result = msg
        while self._resolves:
            seq = min(self._resolves)
            head = self._resolves[seq]
            if head.result is None:
                return
            del self._resolves[seq]
            await self._finish_resolve(head, head.result)

    async def _finish_resolve(self, pending: _Pending, msg: m.Resolved) -> None:
        purpose, done = pending.purpose, pending.done
        if done.done():
            return
        if isinstance(purpose, SavedPlayer):
            done.set_result(self._apply_restore(purpose, msg))  # type: ignore[arg-type]
            return
        try:
            if msg.error is not None:
                raise msg.error
            if isinstance(purpose, c.Play):
                await self._apply_play(purpose, msg.entries)
            else:
                await self._apply_queue(purpose, msg.entries)
        except DaemonError as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)  # type: ignore[arg-type]

    # --- commands -------------------------------------------------------------------------

    async def _handle(self, cmd: c.Command, done: asyncio.Future[None]) -> None:
        if isinstance(cmd, c.Play):
            self._supersede(lambda p: isinstance(p.purpose, c.Play | SavedPlayer))
            self._request(cmd, cmd.kind, cmd.service_id, done)
        elif isinstance(cmd, c.QueueAdd):
            self._request(cmd, cmd.kind, cmd.service_id, done)
        elif isinstance(cmd, c.Pause):
            self._require_loaded()
            if self._state in (PlayerState.PLAYING, PlayerState.BUFFERING):
                if self._renderer is not None:
                    self._renderer.pause()
                self._set_state(PlayerState.PAUSED)
                self._report(PlaybackEvent.PAUSED)
                self._save()
        elif isinstance(cmd, c.Resume):
            self._require_loaded()
            if self._state == PlayerState.PAUSED:
                self._report(PlaybackEvent.RESUMED)
                if self._renderer is None:  # paused before audio or seeked while paused
                    self._reopen()
                else:
                    self._renderer.resume()
                    self._set_state(PlayerState.PLAYING)
        elif isinstance(cmd, c.Stop):
            self._supersede(lambda p: isinstance(p.purpose, c.Play | SavedPlayer))
            if self._now is not None:
                self._terminal(PlaybackEvent.STOPPED, StopReason.USER_STOP)
            await self._stop_renderer()
            self._now = None
            self._set_state(PlayerState.STOPPED, "user_stop")
            self._publish(TrackChanged(None))
            self._save()
        elif isinstance(cmd, c.Next):
            nxt = self._queue.neighbour(+1, user=True)
            if nxt is None:
                raise CommandRejected("no next track", reason=RejectReason.NO_NEXT)
            self._terminal(PlaybackEvent.SKIPPED, StopReason.USER_NEXT)
            await self._start(nxt, 0)
        elif isinstance(cmd, c.Previous):
            self._require_loaded()
            prev = self._queue.neighbour(-1, user=True)
            if self.position_ms() > RESTART_THRESHOLD_MS or prev is None:
                await self._seek(0)
            else:
                self._terminal(PlaybackEvent.SKIPPED, StopReason.USER_PREVIOUS)
                await self._start(prev, 0)
        elif isinstance(cmd, c.Seek):
            self._require_loaded()
            assert self._now is not None
            duration = self._now.entry.info.duration_ms
            if duration is not None and cmd.position_ms >= duration:
                raise CommandRejected("seek beyond the end of the track",
                                      reason=RejectReason.OUT_OF_RANGE, duration_ms=duration)
            await self._seek(cmd.position_ms)
        elif isinstance(cmd, c.SetVolume):
            self._volume = cmd.level
            if self._volume_ctl is None:
                self._on_volume_applied(m.VolumeApplied(cmd.level, done))
            else:  # a mixer may run a program: answered once it has
                self._deferred.add(done)
                self._volume_task = self._spawn(
                    self._apply_volume(self._volume_ctl, cmd.level, done, self._volume_task))
        else:
            await self._apply_queue(cmd, [])

    def _on_volume_applied(self, msg: m.VolumeApplied) -> None:
        self._deferred.discard(msg.done)
        if msg.error is not None:
            if not msg.done.done():
                msg.done.set_exception(msg.error)
            return
        self._publish(VolumeChanged(msg.level))
        self._save()
        if not msg.done.done():
            msg.done.set_result(None)

    async def _apply_play(self, cmd: c.Play, entries: list[QueueEntry]) -> None:
        if not entries:
            raise CommandRejected("nothing to play", reason=RejectReason.UNAVAILABLE,
                                  service_id=cmd.service_id)
        if cmd.start_index >= len(entries):
            raise CommandRejected("start index beyond the container",
                                  reason=RejectReason.OUT_OF_RANGE)
        if self._now is not None:
            self._terminal(PlaybackEvent.STOPPED, StopReason.USER_STOP)
        self._queue.replace_all(entries, (cmd.kind, cmd.service_id))
        await self._start(cmd.start_index, cmd.position_ms)
        self._publish(self._queue.changed())

    async def _apply_queue(self, cmd: c.Command, resolved: list[QueueEntry]) -> None:
        self._queue.apply(cmd, resolved, started=self._now is not None)
        self._drop_prefetch()
        self._publish(self._queue.changed())
        self._save()

    def _begin_restore(self, msg: m.Restore) -> None:
        saved = msg.saved
        if self._now is not None or self._resolves or not saved.container_kind \
                or not saved.container_id:
            msg.done.set_result(False)  # something already plays: the listener's choice wins
            return
        try:
            kind = c.PlayKind(saved.container_kind)
        except ValueError as exc:
            log.warning("player.restore_skipped reason=%s", exc)
            msg.done.set_result(False)
            return
        self._request(saved, kind, saved.container_id, msg.done)

    def _apply_restore(self, saved: SavedPlayer, msg: m.Resolved) -> bool:
        if msg.error is not None:
            log.warning("player.restore_skipped reason=%s", msg.error)
            return False
        if self._now is not None or not msg.entries:
            return False
        assert saved.container_kind is not None
        assert saved.container_id is not None
        index = min(saved.index, len(msg.entries) - 1)
        self._queue.replace_all(msg.entries, (c.PlayKind(saved.container_kind),
                                              saved.container_id))
        self._queue.index = index
        entry = self._queue.entries[index]
        self._now = self._fresh(entry, saved.position_ms)
        self._set_state(PlayerState.PAUSED, "restored")
        self._publish(TrackChanged(replace(entry.info, queue_index=index)))
        self._publish(Position(saved.position_ms, entry.info.duration_ms))
        self._publish(self._queue.changed())
        log.info("player.restored index=%s position_ms=%s", index, saved.position_ms)
        return True

    def _require_loaded(self) -> None:
        if self._now is None and not (self._state == PlayerState.PAUSED and self._queue.entries):
            raise CommandRejected("nothing is loaded", reason=RejectReason.NOTHING_LOADED)


__all__ = ["PlaybackError", "Player", "PlayerSettings"]
