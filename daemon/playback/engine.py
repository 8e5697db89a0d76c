"""The player: one task owns all player state (DESIGN.md §2).

Commands arrive through `submit()`; the renderer, the stream openers and the reporter
post messages into the same inbox, so the owner task is the only code that changes the
queue, the current track, the state or the volume. Each track start bumps a generation
number, and messages from an older generation are dropped (their streams closed).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, replace
from typing import Any

from daemon.core.clock import Clock
from daemon.core.errors import (
    AuthError,
    DaemonError,
    LicenseError,
    MediaError,
    PlaybackError,
    ServiceError,
)
from daemon.playback import commands as c
from daemon.playback.commands import CommandRejected, RejectReason, RepeatMode
from daemon.playback.events import (
    EventHub,
    PlayerError,
    PlayerState,
    Position,
    QueueChanged,
    StateChanged,
    Subscription,
    TrackChanged,
    Underrun,
    VolumeChanged,
)
from daemon.playback.persist import PlayerStore, SavedPlayer
from daemon.playback.render import (
    RenderEnded,
    Renderer,
    RenderFailed,
    RenderProgress,
    RenderStarted,
    Scale,
)
from daemon.playback.sinks.base import Sink
from daemon.playback.source import (
    EventReporter,
    EventType,
    MediaSource,
    PcmStream,
    PlaybackReport,
    QueueEntry,
    QueueSource,
    StopReason,
)
from daemon.playback.volume import VolumeControl

log = logging.getLogger("daemon.playback")

RESTART_THRESHOLD_MS = 3000  # "previous" restarts the track when further in than this


@dataclass(frozen=True)
class PlayerSettings:
    progress_interval_s: float = 30.0  # AM-C27: PROGRESS every 30 s of playing
    tick_s: float = 1.0                # position events and health checks
    save_interval_s: float = 5.0       # persistence while playing
    initial_volume: int = 30


# --- inbox messages --------------------------------------------------------------------

@dataclass
class _Command:
    cmd: c.Command
    done: asyncio.Future[None]


@dataclass
class _Opened:
    gen: int
    entry: QueueEntry
    stream: PcmStream
    start_ms: int


@dataclass
class _OpenFailed:
    gen: int
    entry: QueueEntry
    error: DaemonError


@dataclass
class _Prefetched:
    gen: int
    entry: QueueEntry
    stream: PcmStream | None
    error: DaemonError | None = None


@dataclass
class _ReportFailed:
    entry: QueueEntry
    error: DaemonError


class _Tick:
    pass


@dataclass
class _Restore:
    saved: SavedPlayer
    done: asyncio.Future[bool]


_Message = (_Command | _Opened | _OpenFailed | _Prefetched | _ReportFailed | _Tick | _Restore
            | RenderStarted | RenderProgress | RenderEnded | RenderFailed)


@dataclass
class _Now:
    """What is playing: the entry, where it started, and what has been reported for it."""

    entry: QueueEntry
    start_ms: int
    played_before_ms: int = 0     # played audio of earlier renderers (before a seek)
    started_reported: bool = False
    next_progress_ms: int = 0


class Player:
    """The engine. Implements `PlayerCommands`; start() returns once the owner task runs."""

    name = "player"

    def __init__(self, *, queue_source: QueueSource, media_source: MediaSource,
                 reporter: EventReporter, sink: Sink, clock: Clock,
                 store: PlayerStore | None = None, settings: PlayerSettings | None = None,
                 volume: VolumeControl | None = None,
                 rng: random.Random | None = None) -> None:
        self._queue_source = queue_source
        self._media = media_source
        self._reporter = reporter
        self._sink = sink
        self._clock = clock
        self._store = store
        self._settings = settings or PlayerSettings()
        self._volume_ctl = volume
        self._rng = rng or random.Random()  # shuffle order, not a secret
        self._hub = EventHub()
        self._inbox: asyncio.Queue[_Message] = asyncio.Queue()
        self._reports: asyncio.Queue[tuple[QueueEntry, PlaybackReport]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._helpers: set[asyncio.Task[None]] = set()
        # --- state owned by the owner task ---
        self._state = PlayerState.IDLE
        self._queue: list[QueueEntry] = []
        self._index: int | None = None
        self._repeat = RepeatMode.OFF
        self._shuffle = False
        self._volume = self._settings.initial_volume
        self._gen = 0
        self._now: _Now | None = None
        self._renderer: Renderer | None = None
        self._prefetch: tuple[int, QueueEntry] | None = None  # (index, entry) handed over
        self._last_underruns = 0
        self._last_save = 0.0
        self._closed = False
        self._item_seq = 0
        self._container: tuple[c.PlayKind, str] | None = None

    # --- PlayerCommands -----------------------------------------------------------------

    async def submit(self, cmd: c.Command) -> None:
        if self._closed:
            raise CommandRejected("the player is shutting down", reason=RejectReason.SHUTTING_DOWN)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Command(cmd, done))
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
            "queue": {"items": [e.as_item().to_dict() for e in self._queue],
                      "index": self._index, "repeat": self._repeat.value,
                      "shuffle": self._shuffle},
            "buffer_s": self._renderer.buffered_seconds() if self._renderer else 0.0,
            "underruns": self._sink.underruns,
        }

    @property
    def state(self) -> PlayerState:
        return self._state

    @property
    def volume(self) -> int:
        return self._volume

    def position_ms(self) -> int:
        if self._now is None:
            return 0
        if self._renderer is None:
            return self._now.start_ms
        return self._now.start_ms + self._renderer.played_ms()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._store is not None:
            saved = await asyncio.to_thread(self._store.load)
            if saved is not None:
                self._volume = saved.volume
        if self._volume_ctl is not None:
            await self._volume_ctl.set_level(self._volume)
        self._tasks = [asyncio.create_task(self._run(), name="player-owner"),
                       asyncio.create_task(self._send_reports(), name="player-reporter"),
                       asyncio.create_task(self._ticker(), name="player-ticker")]
        self._publish(VolumeChanged(self._volume))

    async def restore(self) -> bool:
        """Reload the saved queue, paused at the saved position (`playback.resume`);
        False when nothing was saved. Resume then plays from there."""
        if self._store is None:
            return False
        saved = await asyncio.to_thread(self._store.load)
        if saved is None or not saved.container_kind or not saved.container_id:
            return False
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Restore(saved, done))
        return await done

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._save()  # where we are, before stopping forgets it
        if self._now is not None and self._state in (PlayerState.PLAYING, PlayerState.PAUSED,
                                                     PlayerState.BUFFERING):
            self._terminal(EventType.PLAYBACK_STOPPED, StopReason.USER_STOP)
        await self._stop_renderer()
        try:  # give queued events a moment to reach their collectors
            await asyncio.wait_for(self._reports.join(), 2.0)
        except TimeoutError:
            log.warning("player.events_dropped count=%s", self._reports.qsize())
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
            try:
                await self._dispatch(msg)
            except CommandRejected as exc:
                if isinstance(msg, _Command) and not msg.done.done():
                    msg.done.set_exception(exc)
            except DaemonError as exc:
                log.error("player.error %s", exc)
                if isinstance(msg, _Command) and not msg.done.done():
                    msg.done.set_exception(exc)
            else:
                if isinstance(msg, _Command) and not msg.done.done():
                    msg.done.set_result(None)

    async def _dispatch(self, msg: _Message) -> None:
        if isinstance(msg, _Command):
            await self._handle(msg.cmd)
        elif isinstance(msg, _Opened):
            await self._on_opened(msg)
        elif isinstance(msg, _OpenFailed):
            if msg.gen == self._gen:
                await self._on_track_error(msg.entry, msg.error)
        elif isinstance(msg, _Prefetched):
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
        elif isinstance(msg, _ReportFailed):
            await self._on_report_failed(msg)
        elif isinstance(msg, _Tick):
            await self._on_tick()
        elif isinstance(msg, _Restore):
            msg.done.set_result(await self._on_restore(msg.saved))

    # --- commands -------------------------------------------------------------------------

    async def _handle(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.Play):
            entries = await self._expand(cmd.kind, cmd.service_id)
            if not entries:
                raise CommandRejected("nothing to play", reason=RejectReason.UNAVAILABLE,
                                      service_id=cmd.service_id)
            if cmd.start_index >= len(entries):
                raise CommandRejected("start index beyond the container",
                                      reason=RejectReason.OUT_OF_RANGE)
            if self._now is not None:
                self._terminal(EventType.PLAYBACK_STOPPED, StopReason.USER_STOP)
            self._queue = [self._renumber(e) for e in entries]
            self._container = (cmd.kind, cmd.service_id)
            await self._start(cmd.start_index, cmd.position_ms)
            self._publish_queue()
        elif isinstance(cmd, c.Pause):
            self._require_loaded()
            if self._state in (PlayerState.PLAYING, PlayerState.BUFFERING):
                if self._renderer is not None:
                    self._renderer.pause()
                self._set_state(PlayerState.PAUSED)
                self._report(EventType.PLAYBACK_PAUSED)
                await self._save()
        elif isinstance(cmd, c.Resume):
            self._require_loaded()
            if self._state == PlayerState.PAUSED:
                self._report(EventType.PLAYBACK_RESUMED)
                if self._renderer is None:  # paused before audio or seeked while paused
                    self._reopen()
                else:
                    self._renderer.resume()
                    self._set_state(PlayerState.PLAYING)
        elif isinstance(cmd, c.Stop):
            if self._now is not None:
                self._terminal(EventType.PLAYBACK_STOPPED, StopReason.USER_STOP)
            await self._stop_renderer()
            self._now = None
            self._set_state(PlayerState.STOPPED, "user_stop")
            self._publish(TrackChanged(None))
            await self._save()
        elif isinstance(cmd, c.Next):
            nxt = self._neighbour(+1, user=True)
            if nxt is None:
                raise CommandRejected("no next track", reason=RejectReason.NO_NEXT)
            self._terminal(EventType.PLAYBACK_SKIPPED, StopReason.USER_NEXT)
            await self._start(nxt, 0)
        elif isinstance(cmd, c.Previous):
            self._require_loaded()
            prev = self._neighbour(-1, user=True)
            if self.position_ms() > RESTART_THRESHOLD_MS or prev is None:
                await self._seek(0)
            else:
                self._terminal(EventType.PLAYBACK_SKIPPED, StopReason.USER_PREVIOUS)
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
            if self._volume_ctl is not None:
                await self._volume_ctl.set_level(cmd.level)
            self._publish(VolumeChanged(cmd.level))
            await self._save()
        else:
            await self._handle_queue(cmd)

    async def _handle_queue(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.QueueAdd):
            entries = [self._renumber(e) for e in await self._expand(cmd.kind, cmd.service_id)]
            at = len(self._queue) if cmd.index is None else min(cmd.index, len(self._queue))
            self._queue[at:at] = entries
            if self._index is not None and at <= self._index and self._queue_started():
                self._index += len(entries)
        elif isinstance(cmd, c.QueueRemove):
            pos = self._find(cmd.item_id)
            if pos == self._index:
                raise CommandRejected("the current track cannot be removed; use next",
                                      reason=RejectReason.NOT_ALLOWED)
            del self._queue[pos]
            if self._index is not None and pos < self._index:
                self._index -= 1
        elif isinstance(cmd, c.QueueMove):
            pos = self._find(cmd.item_id)
            if cmd.to_index >= len(self._queue):
                raise CommandRejected("target index out of range", reason=RejectReason.OUT_OF_RANGE)
            current = self._queue[self._index] if self._index is not None else None
            entry = self._queue.pop(pos)
            self._queue.insert(cmd.to_index, entry)
            if current is not None:
                self._index = self._queue.index(current)
        elif isinstance(cmd, c.QueueClear):
            if self._index is None:
                self._queue = []
            else:
                del self._queue[self._index + 1:]
        elif isinstance(cmd, c.SetRepeat):
            self._repeat = cmd.mode
        elif isinstance(cmd, c.SetShuffle):
            self._shuffle = cmd.enabled
            if cmd.enabled and self._index is not None:
                rest = self._queue[self._index + 1:]
                self._rng.shuffle(rest)  # AM-C21: the client shuffles its local order
                self._queue[self._index + 1:] = rest
        else:  # pragma: no cover - the command union is closed
            raise CommandRejected("unknown command", reason=RejectReason.UNKNOWN_COMMAND)
        self._drop_prefetch()
        self._publish_queue()
        await self._save()

    async def _on_restore(self, saved: SavedPlayer) -> bool:
        if self._now is not None or saved.container_kind is None or not saved.container_id:
            return False  # something already plays: the listener's choice wins
        try:
            kind = c.PlayKind(saved.container_kind)
            entries = await self._expand(kind, saved.container_id)
        except (ValueError, CommandRejected) as exc:
            log.warning("player.restore_skipped reason=%s", exc)
            return False
        if not entries:
            return False
        index = min(saved.index, len(entries) - 1)
        self._queue = [self._renumber(e) for e in entries]
        self._container = (kind, saved.container_id)
        self._index = index
        entry = self._queue[index]
        self._now = _Now(entry, saved.position_ms,
                         next_progress_ms=int(self._settings.progress_interval_s * 1000))
        self._set_state(PlayerState.PAUSED, "restored")
        self._publish(TrackChanged(replace(entry.info, queue_index=index)))
        self._publish(Position(saved.position_ms, entry.info.duration_ms))
        self._publish_queue()
        log.info("player.restored index=%s position_ms=%s", index, saved.position_ms)
        return True

    async def _expand(self, kind: c.PlayKind, service_id: str) -> list[QueueEntry]:
        """The service's track instances for an id; its failures become reasons a phone
        can act on (sign in, try again) rather than internal errors."""
        try:
            return await self._queue_source.expand(kind, service_id)
        except AuthError as exc:
            raise CommandRejected(exc.detail, reason=RejectReason.NOT_SIGNED_IN) from None
        except ServiceError as exc:
            raise CommandRejected(f"the service did not answer: {exc.detail}",
                                  reason=RejectReason.UNAVAILABLE) from None

    # --- starting and stopping tracks -------------------------------------------------------

    async def _start(self, index: int, start_ms: int) -> None:
        await self._stop_renderer()
        self._gen += 1
        self._index = index
        entry = self._queue[index]
        self._now = _Now(entry, start_ms, next_progress_ms=int(self._settings.progress_interval_s
                                                               * 1000))
        self._set_state(PlayerState.BUFFERING)
        self._publish(TrackChanged(replace(entry.info, queue_index=index)))
        self._spawn(self._open(self._gen, entry, start_ms))

    async def _seek(self, position_ms: int) -> None:
        assert self._now is not None
        now = self._now
        played = now.played_before_ms + (self._renderer.played_ms() if self._renderer else 0)
        paused = self._state == PlayerState.PAUSED
        await self._stop_renderer()
        self._gen += 1
        self._now = replace(now, start_ms=position_ms, played_before_ms=played)
        if paused:
            self._now.started_reported = now.started_reported
        self._publish(Position(position_ms, now.entry.info.duration_ms))
        if not paused:
            self._reopen()

    def _reopen(self) -> None:
        """Open the current instance again at its start position (seek, resume)."""
        assert self._now is not None
        self._gen += 1
        self._set_state(PlayerState.BUFFERING)
        self._spawn(self._open(self._gen, self._now.entry, self._now.start_ms))

    async def _open(self, gen: int, entry: QueueEntry, start_ms: int) -> None:
        try:
            stream = await self._media.open(entry, start_ms, self._sink.caps)
        except DaemonError as exc:
            self._inbox.put_nowait(_OpenFailed(gen, entry, exc))
            return
        self._inbox.put_nowait(_Opened(gen, entry, stream, start_ms))

    async def _on_opened(self, msg: _Opened) -> None:
        if msg.gen != self._gen or self._now is None:
            await msg.stream.aclose()
            return
        info = replace(msg.stream.info, queue_index=self._index)
        self._now = replace(self._now, entry=replace(self._now.entry, info=info))
        self._renderer = Renderer(self._sink, self._post, gen=msg.gen, scale=self._scaler())
        self._publish(TrackChanged(info))
        if self._state == PlayerState.PAUSED:  # paused while the track was opening
            self._renderer.pause()
        else:
            self._set_state(PlayerState.PLAYING)
        self._renderer.begin(self._now.entry, msg.stream)

    async def _stop_renderer(self) -> None:
        self._drop_prefetch()
        renderer, self._renderer = self._renderer, None
        if renderer is not None:
            await renderer.aclose()

    def _on_render_started(self, msg: RenderStarted) -> None:
        if msg.gen != self._gen or self._now is None \
                or msg.entry.item_id != self._now.entry.item_id:
            return
        if not self._now.started_reported:
            self._now.started_reported = True
            self._report(EventType.PLAYBACK_STARTED)
        self._prefetch_next()

    async def _on_render_ended(self, msg: RenderEnded) -> None:
        if msg.gen != self._gen or self._now is None:
            return
        if self._now.started_reported:
            played = self._now.played_before_ms + msg.played_ms
            self._reports.put_nowait((self._now.entry, PlaybackReport(
                EventType.PLAYBACK_FINISHED, self._now.start_ms + msg.played_ms, played,
                self._now.entry.info.quality, None)))
        if msg.moved_to is not None and self._prefetch is not None:
            index, entry = self._prefetch
            self._prefetch = None
            self._index = index
            self._now = _Now(entry, 0, started_reported=False,
                             next_progress_ms=int(self._settings.progress_interval_s * 1000))
            self._publish(TrackChanged(replace(entry.info, queue_index=index)))
            self._publish_queue()
            await self._save()
            return
        nxt = self._neighbour(+1, user=False)
        if nxt is None:
            await self._stop_renderer()
            self._now = None
            self._set_state(PlayerState.STOPPED, "end_of_queue")
            self._publish(TrackChanged(None))
            await self._save()
        else:
            await self._start(nxt, 0)

    def _prefetch_next(self) -> None:
        """Open the next track while this one plays, so it can follow without a gap."""
        if self._prefetch is not None or self._renderer is None:
            return
        nxt = self._neighbour(+1, user=False)
        if nxt is None:
            return
        entry = self._queue[nxt]
        self._prefetch = (nxt, entry)
        gen = self._gen

        async def open_next() -> None:
            try:
                stream = await self._media.open(entry, 0, self._sink.caps)
            except DaemonError as exc:
                self._inbox.put_nowait(_Prefetched(gen, entry, None, exc))
                return
            self._inbox.put_nowait(_Prefetched(gen, entry, stream))

        self._spawn(open_next())

    async def _on_prefetched(self, msg: _Prefetched) -> None:
        valid = (msg.gen == self._gen and self._prefetch is not None
                 and self._prefetch[1] is msg.entry and self._renderer is not None)
        if not valid or msg.stream is None:
            if msg.stream is not None:
                await msg.stream.aclose()
            if valid:  # could not prefetch: play it the ordinary way when this track ends
                self._prefetch = None
            return
        assert self._renderer is not None
        assert self._prefetch is not None
        self._prefetch = (self._prefetch[0], replace(msg.entry, info=msg.stream.info))
        self._renderer.queue_next(msg.entry, msg.stream)

    def _drop_prefetch(self) -> None:
        self._prefetch = None
        if self._renderer is not None:
            self._renderer.cancel_next()

    async def _on_track_error(self, entry: QueueEntry, error: DaemonError) -> None:
        reason = (StopReason.LICENSE_ERROR if isinstance(error, LicenseError)
                  else StopReason.DECODE_ERROR if isinstance(error, MediaError)
                  else StopReason.NETWORK_ERROR if isinstance(error, ServiceError)
                  else StopReason.DECODE_ERROR)
        log.error("player.track_failed item=%s code=%s error=%s", entry.item_id, error.code, error)
        self._publish(PlayerError(error.code, str(error)))
        if self._now is not None and self._now.started_reported:
            self._terminal(EventType.PLAYBACK_ERROR, reason)
        else:
            self._now = None
        await self._stop_renderer()
        stop_all = isinstance(error, LicenseError) and "CONCURRENCY" in str(error)
        nxt = None if stop_all else self._neighbour(+1, user=False)
        if nxt is None:
            self._now = None
            self._set_state(PlayerState.ERROR if stop_all else PlayerState.STOPPED, error.code)
            self._publish(TrackChanged(None))
        else:
            await self._start(nxt, 0)

    async def _on_report_failed(self, msg: _ReportFailed) -> None:
        # AM-C27 / §8.3: any error from a collector stops playback, then the error shows.
        if self._now is None or msg.entry is not self._now.entry:
            return
        log.error("player.collector_refused item=%s error=%s", msg.entry.item_id, msg.error)
        self._now = None
        await self._stop_renderer()
        self._set_state(PlayerState.STOPPED, msg.error.code)
        self._publish(PlayerError(msg.error.code, str(msg.error)))
        self._publish(TrackChanged(None))

    # --- events to collectors ----------------------------------------------------------------

    def _report(self, event: EventType, reason: StopReason | None = None) -> None:
        if self._now is None:
            return
        if event != EventType.PLAYBACK_STARTED and not self._now.started_reported:
            return  # AM-C27: nothing before STARTED (e.g. a pause while still buffering)
        info = self._now.entry.info
        played = self._now.played_before_ms + (self._renderer.played_ms() if self._renderer
                                               else 0)
        self._reports.put_nowait((self._now.entry, PlaybackReport(
            event, self.position_ms(), played, info.quality, reason)))

    def _terminal(self, event: EventType, reason: StopReason | None) -> None:
        """Exactly one terminal event per instance (only after STARTED); forgets it."""
        if self._now is not None and self._now.started_reported:
            self._report(event, reason)
        self._now = None

    async def _send_reports(self) -> None:
        failed: set[str] = set()
        while True:
            entry, report = await self._reports.get()
            try:
                if entry.item_id not in failed:
                    await self._reporter.report(entry, report)
            except DaemonError as exc:
                failed.add(entry.item_id)  # nothing more for a refused instance
                self._inbox.put_nowait(_ReportFailed(entry, exc))
            finally:
                self._reports.task_done()

    # --- periodic work ------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await self._clock.sleep(self._settings.tick_s)
            self._inbox.put_nowait(_Tick())

    async def _on_tick(self) -> None:
        if self._now is None or self._state != PlayerState.PLAYING:
            return
        position = self.position_ms()
        self._publish(Position(position, self._now.entry.info.duration_ms))
        self._check_progress()
        underruns = self._sink.underruns
        if underruns > self._last_underruns:
            self._last_underruns = underruns
            self._publish(Underrun(underruns))
        if self._clock.monotonic() - self._last_save >= self._settings.save_interval_s:
            await self._save()

    def _check_progress(self) -> None:
        """PROGRESS after every `progress_interval_s` of audio played (AM-C27)."""
        if self._now is None or not self._now.started_reported:
            return
        played = self._now.played_before_ms + (self._renderer.played_ms() if self._renderer
                                               else 0)
        if played >= self._now.next_progress_ms:
            self._now.next_progress_ms += int(self._settings.progress_interval_s * 1000)
            self._report(EventType.PLAYBACK_PROGRESS)

    async def _save(self) -> None:
        if self._store is None:
            return
        self._last_save = self._clock.monotonic()
        container = self._container
        saved = SavedPlayer(volume=self._volume,
                            container_kind=container[0].value if container else None,
                            container_id=container[1] if container else None,
                            index=self._index or 0, position_ms=self.position_ms())
        try:
            await asyncio.to_thread(self._store.save, saved)
        except DaemonError as exc:
            log.error("player.save_failed error=%s", exc)

    # --- helpers ------------------------------------------------------------------------------

    def _scaler(self) -> Scale | None:
        ctl = self._volume_ctl
        if ctl is None or not ctl.software:
            return None
        apply = getattr(ctl, "apply", None)
        return apply if callable(apply) else None

    def _post(self, msg: object) -> None:
        assert isinstance(msg, RenderStarted | RenderProgress | RenderEnded | RenderFailed)
        self._inbox.put_nowait(msg)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    def _renumber(self, entry: QueueEntry) -> QueueEntry:
        self._item_seq += 1
        return replace(entry, item_id=f"{self._item_seq}")

    def _find(self, item_id: str) -> int:
        for pos, entry in enumerate(self._queue):
            if entry.item_id == item_id:
                return pos
        raise CommandRejected("no such queue item", reason=RejectReason.OUT_OF_RANGE,
                              item_id=item_id[:64])

    def _queue_started(self) -> bool:
        return self._now is not None

    def _neighbour(self, step: int, *, user: bool) -> int | None:
        if self._index is None or not self._queue:
            return None
        if self._repeat == RepeatMode.ONE and not user:
            return self._index
        target = self._index + step
        if 0 <= target < len(self._queue):
            return target
        if self._repeat != RepeatMode.OFF:
            return target % len(self._queue)  # AM: the chain is circular under repeat
        return None

    def _require_loaded(self) -> None:
        if self._now is None and not (self._state == PlayerState.PAUSED and self._queue):
            raise CommandRejected("nothing is loaded", reason=RejectReason.NOTHING_LOADED)

    def _set_state(self, state: PlayerState, reason: str | None = None) -> None:
        if state != self._state:
            self._state = state
            self._publish(StateChanged(state, reason))

    def _publish(self, event: Any) -> None:
        self._hub.publish(event)

    def _publish_queue(self) -> None:
        self._publish(QueueChanged(tuple(e.as_item() for e in self._queue), self._index,
                                   self._repeat.value, self._shuffle))


__all__ = ["PlaybackError", "Player", "PlayerSettings"]
