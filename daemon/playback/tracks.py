"""The player's state and the life of its tracks: open, render, prefetch, report, end.

`PlayerCore` is the state the owner task owns and everything that happens to the current
track after a command started it; `daemon.playback.engine.Player` adds the command API
and the loop. Nothing here awaits the service: opening runs in helper tasks that post
their result to the inbox, stamped with the generation they were started for.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

from daemon.core.clock import Clock
from daemon.core.errors import AuthError, DaemonError, LicenseError, MediaError, ServiceError
from daemon.playback import commands as c
from daemon.playback import inbox as m
from daemon.playback.commands import CommandRejected, RejectReason
from daemon.playback.events import (
    EventHub,
    PlayerError,
    PlayerState,
    Position,
    StateChanged,
    TrackChanged,
    Underrun,
)
from daemon.playback.persist import PlayerSaver, PlayerStore, SavedPlayer
from daemon.playback.queue import PlayQueue
from daemon.playback.render import (
    RenderEnded,
    Renderer,
    RenderFailed,
    RenderProgress,
    RenderStarted,
    Scale,
)
from daemon.playback.reporting import EventSender
from daemon.playback.sinks.base import Sink
from daemon.playback.source import (
    DenialReason,
    LicenceDenied,
    PlaybackEvent,
    PlaybackReport,
    QueueEntry,
    Source,
    StopReason,
)
from daemon.playback.volume import VolumeControl

log = logging.getLogger("daemon.playback")


@dataclass(frozen=True)
class PlayerSettings:
    progress_interval_s: float = 30.0  # AM-C27: PROGRESS every 30 s of playing
    tick_s: float = 1.0                # position events and health checks
    save_interval_s: float = 5.0       # persistence while playing
    initial_volume: int = 30


@dataclass
class Now:
    """What is playing: the entry, where it started, and what has been reported for it."""

    entry: QueueEntry
    start_ms: int
    played_before_ms: int = 0     # played audio of earlier renderers (before a seek)
    started_reported: bool = False
    next_progress_ms: int = 0


class PlayerCore:
    """Owner-task state and track handling; only the owner task calls these methods."""

    def __init__(self, *, source: Source, sink: Sink, clock: Clock,
                 store: PlayerStore | None, settings: PlayerSettings | None,
                 volume: VolumeControl | None, rng: random.Random | None) -> None:
        self._source = source
        self._sink = sink
        self._clock = clock
        self._store = store
        self._saver = PlayerSaver(store) if store is not None else None
        self._settings = settings or PlayerSettings()
        self._volume_ctl = volume
        self._hub = EventHub()
        self._inbox: asyncio.Queue[m.Message] = asyncio.Queue()
        self._sender = EventSender(
            source, lambda entry, error: self._inbox.put_nowait(m.ReportFailed(entry, error)))
        self._helpers: set[asyncio.Task[None]] = set()
        self._state = PlayerState.IDLE
        self._queue = PlayQueue(rng or random.Random())
        self._volume = self._settings.initial_volume
        self._gen = 0
        self._now: Now | None = None
        self._renderer: Renderer | None = None
        self._opening: asyncio.Task[None] | None = None
        self._prefetch: tuple[int, QueueEntry] | None = None  # (index, entry) handed over
        self._last_underruns = 0
        self._last_save = 0.0

    def position_ms(self) -> int:
        if self._now is None:
            return 0
        if self._renderer is None:
            return self._now.start_ms
        return self._now.start_ms + self._renderer.played_ms()

    # --- starting and stopping tracks -------------------------------------------------------

    def _fresh(self, entry: QueueEntry, start_ms: int) -> Now:
        return Now(entry, start_ms, next_progress_ms=int(self._settings.progress_interval_s
                                                         * 1000))

    async def _start(self, index: int, start_ms: int) -> None:
        await self._stop_renderer()
        self._gen += 1
        self._queue.index = index
        entry = self._queue.entries[index]
        self._now = self._fresh(entry, start_ms)
        self._set_state(PlayerState.BUFFERING)
        self._publish(TrackChanged(replace(entry.info, queue_index=index)))
        self._open_current(entry, start_ms)

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
        self._open_current(self._now.entry, self._now.start_ms)

    def _open_current(self, entry: QueueEntry, start_ms: int) -> None:
        """Open `entry` for the current generation; an older open still waiting for the
        service is cancelled (its result would be dropped anyway)."""
        if self._opening is not None:
            self._opening.cancel()
        self._opening = self._spawn(self._open(self._gen, entry, start_ms))

    async def _open(self, gen: int, entry: QueueEntry, start_ms: int) -> None:
        try:
            stream = await self._source.open(entry, start_ms, self._sink.caps)
        except DaemonError as exc:
            self._inbox.put_nowait(m.OpenFailed(gen, entry, exc))
            return
        self._inbox.put_nowait(m.Opened(gen, entry, stream, start_ms))

    async def _on_opened(self, msg: m.Opened) -> None:
        if msg.gen != self._gen or self._now is None:
            await msg.stream.aclose()
            return
        info = replace(msg.stream.info, queue_index=self._queue.index)
        self._now = replace(self._now, entry=replace(self._now.entry, info=info))
        self._renderer = Renderer(self._sink, self._post, gen=msg.gen, scale=self._scaler())
        self._publish(TrackChanged(info))
        if self._state == PlayerState.PAUSED:  # paused while the track was opening
            self._renderer.pause()
        else:
            self._set_state(PlayerState.PLAYING)
        self._renderer.begin(self._now.entry, msg.stream)

    async def _stop_renderer(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
            self._opening = None
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
            self._report(PlaybackEvent.STARTED)
        self._prefetch_next()

    async def _on_render_ended(self, msg: RenderEnded) -> None:
        if msg.gen != self._gen or self._now is None:
            return
        if self._now.started_reported:
            played = self._now.played_before_ms + msg.played_ms
            self._sender.send(self._now.entry, PlaybackReport(
                PlaybackEvent.FINISHED, self._now.start_ms + msg.played_ms, played,
                self._now.entry.info.quality, None))
        if msg.moved_to is not None and self._prefetch is not None:
            index, entry = self._prefetch
            self._prefetch = None
            self._queue.index = index
            self._now = self._fresh(entry, 0)
            self._publish(TrackChanged(replace(entry.info, queue_index=index)))
            self._publish(self._queue.changed())
            self._save()
            return
        nxt = self._queue.neighbour(+1, user=False)
        if nxt is None:
            await self._stop_renderer()
            self._now = None
            self._set_state(PlayerState.STOPPED, "end_of_queue")
            self._publish(TrackChanged(None))
            self._save()
        else:
            await self._start(nxt, 0)

    def _prefetch_next(self) -> None:
        """Open the next track while this one plays, so it can follow without a gap."""
        if self._prefetch is not None or self._renderer is None:
            return
        nxt = self._queue.neighbour(+1, user=False)
        if nxt is None:
            return
        entry = self._queue.entries[nxt]
        self._prefetch = (nxt, entry)
        gen = self._gen

        async def open_next() -> None:
            try:
                stream = await self._source.open(entry, 0, self._sink.caps)
            except DaemonError as exc:
                self._inbox.put_nowait(m.Prefetched(gen, entry, None, exc))
                return
            self._inbox.put_nowait(m.Prefetched(gen, entry, stream))

        self._spawn(open_next())

    async def _on_prefetched(self, msg: m.Prefetched) -> None:
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
            self._terminal(PlaybackEvent.ERROR, reason)
        else:
            self._now = None
        await self._stop_renderer()
        # Another device holds the account's stream: every next track would be refused too.
        stop_all = isinstance(error, LicenceDenied) and error.denial == DenialReason.CONCURRENCY
        nxt = None if stop_all else self._queue.neighbour(+1, user=False)
        if nxt is None:
            self._now = None
            self._set_state(PlayerState.ERROR if stop_all else PlayerState.STOPPED, error.code)
            self._publish(TrackChanged(None))
        else:
            await self._start(nxt, 0)

    async def _on_report_failed(self, msg: m.ReportFailed) -> None:
        # AM-C27 / §8.3: any error from a collector stops playback, then the error shows.
        if self._now is None or msg.entry is not self._now.entry:
            return
        log.error("player.collector_refused item=%s error=%s", msg.entry.item_id, msg.error)
        self._now = None
        await self._stop_renderer()
        self._set_state(PlayerState.STOPPED, msg.error.code)
        self._publish(PlayerError(msg.error.code, str(msg.error)))
        self._publish(TrackChanged(None))

    # --- events to the source ----------------------------------------------------------------

    def _report(self, event: PlaybackEvent, reason: StopReason | None = None) -> None:
        if self._now is None:
            return
        if event != PlaybackEvent.STARTED and not self._now.started_reported:
            return  # AM-C27: nothing before STARTED (e.g. a pause while still buffering)
        info = self._now.entry.info
        played = self._now.played_before_ms + (self._renderer.played_ms() if self._renderer
                                               else 0)
        self._sender.send(self._now.entry, PlaybackReport(
            event, self.position_ms(), played, info.quality, reason))

    def _terminal(self, event: PlaybackEvent, reason: StopReason | None) -> None:
        """Exactly one terminal event per instance (only after STARTED); forgets it."""
        if self._now is not None and self._now.started_reported:
            self._report(event, reason)
        self._now = None

    # --- periodic work ------------------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await self._clock.sleep(self._settings.tick_s)
            self._inbox.put_nowait(m.Tick())

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
            self._save()

    def _check_progress(self) -> None:
        """PROGRESS after every `progress_interval_s` of audio played (AM-C27)."""
        if self._now is None or not self._now.started_reported:
            return
        played = self._now.played_before_ms + (self._renderer.played_ms() if self._renderer
                                               else 0)
        if played >= self._now.next_progress_ms:
            self._now.next_progress_ms += int(self._settings.progress_interval_s * 1000)
            self._report(PlaybackEvent.PROGRESS)

    def _save(self) -> None:
        """Hand where the player is to the saver (which writes it in a thread)."""
        if self._saver is None:
            return
        self._last_save = self._clock.monotonic()
        container = self._queue.container
        saved = SavedPlayer(volume=self._volume,
                            container_kind=container[0].value if container else None,
                            container_id=container[1] if container else None,
                            index=self._queue.index or 0, position_ms=self.position_ms())
        self._saver.save(saved)

    # --- work that waits, in helper tasks that post their result ----------------------------

    async def _resolve(self, seq: int, kind: c.PlayKind, service_id: str) -> None:
        """The service's entries for an id; its failures become reasons a phone can act
        on (sign in, try again) rather than internal errors."""
        error: DaemonError | None = None
        entries: list[QueueEntry] = []
        try:
            entries = await self._source.resolve(kind, service_id)
        except AuthError as exc:
            error = CommandRejected(exc.detail, reason=RejectReason.NOT_SIGNED_IN)
        except ServiceError as exc:
            error = CommandRejected(f"the service did not answer: {exc.detail}",
                                    reason=RejectReason.UNAVAILABLE)
        except DaemonError as exc:
            error = exc
        self._inbox.put_nowait(m.Resolved(seq, entries, error))

    async def _apply_volume(self, ctl: VolumeControl, level: int, done: asyncio.Future[None],
                            before: asyncio.Task[None] | None) -> None:
        if before is not None:  # levels reach the mixer in the order they were set
            await asyncio.gather(before, return_exceptions=True)
        try:
            await ctl.set_level(level)
        except DaemonError as exc:
            self._inbox.put_nowait(m.VolumeApplied(level, done, exc))
            return
        self._inbox.put_nowait(m.VolumeApplied(level, done))

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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A helper task owned by the player: cancelled and awaited on close."""
        task = asyncio.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)
        return task

    def _set_state(self, state: PlayerState, reason: str | None = None) -> None:
        if state != self._state:
            self._state = state
            self._publish(StateChanged(state, reason))

    def _publish(self, event: Any) -> None:
        self._hub.publish(event)
