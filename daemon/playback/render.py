"""The renderer: moves PCM from a track's stream to the output, and on to the next.

When the owner has handed over the next track's stream before this one ends, the renderer
continues into it without closing the output when the formats match, so consecutive
same-format tracks play with zero samples of gap; a different format drains, closes and
reopens the output. It reports to the owner by posting messages; it changes no player state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from daemon.core.errors import DaemonError, PlaybackError
from daemon.playback.sinks.base import PcmFormat, Sink
from daemon.playback.source import PcmStream, QueueEntry

log = logging.getLogger("daemon.playback")


@dataclass
class RenderStarted:
    """The first audio of `entry` reached the output."""

    gen: int
    entry: QueueEntry


@dataclass
class RenderProgress:
    """Another second of `entry` was written (progress follows audio, not wall time)."""

    gen: int
    entry: QueueEntry


@dataclass
class RenderEnded:
    """`entry` played to its end; `moved_to` is the next entry already playing, if any."""

    gen: int
    entry: QueueEntry
    played_ms: int
    moved_to: QueueEntry | None


@dataclass
class RenderFailed:
    gen: int
    entry: QueueEntry
    error: DaemonError


Post = Callable[[object], None]
Scale = Callable[[bytes, PcmFormat], bytes]  # software volume, applied in a thread


class Renderer:
    """One run of continuous output for the owner's current generation."""

    def __init__(self, sink: Sink, post: Post, *, gen: int, scale: Scale | None) -> None:
        self._sink = sink
        self._post = post
        self._gen = gen
        self._scale = scale
        self._playing = asyncio.Event()
        self._playing.set()
        self._task: asyncio.Task[None] | None = None
        self._stream: PcmStream | None = None
        self._next: tuple[QueueEntry, PcmStream] | None = None
        self._frames = 0
        self._base_ms = 0  # played before a mid-track format change
        self._rate = 48_000

    def begin(self, entry: QueueEntry, stream: PcmStream) -> None:
        self._task = asyncio.create_task(self._run(entry, stream), name="player-render")

    def queue_next(self, entry: QueueEntry, stream: PcmStream) -> None:
        """Hand over the following track; it starts the moment this one ends."""
        old, self._next = self._next, (entry, stream)
        if old is not None:
            _close_later(old[1])

    def cancel_next(self) -> None:
        old, self._next = self._next, None
        if old is not None:
            _close_later(old[1])

    def pause(self) -> None:
        self._playing.clear()

    def resume(self) -> None:
        self._playing.set()

    def played_ms(self) -> int:
        """Audio of the current track that has left the output (written minus queued)."""
        frames = self._frames - self._sink.delay_frames()
        return self._base_ms + max(0, frames) * 1000 // self._rate

    def buffered_seconds(self) -> float:
        ahead = self._stream.buffered_seconds() if self._stream is not None else 0.0
        return ahead + self._sink.delay_frames() / self._rate

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.cancel_next()
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    async def _run(self, entry: QueueEntry, stream: PcmStream) -> None:
        try:
            while True:
                self._stream = stream
                await self._open_output(stream.format)
                played_ms = await self._play(entry, stream)
                self._stream = None
                await stream.aclose()
                nxt, self._next = self._next, None
                if nxt is None:
                    await self._sink.drain()
                    self._post(RenderEnded(self._gen, entry, played_ms, None))
                    return
                self._post(RenderEnded(self._gen, entry, played_ms, nxt[0]))
                entry, stream = nxt
        except DaemonError as exc:
            self._post(RenderFailed(self._gen, entry, exc))
        except (OSError, ValueError, RuntimeError) as exc:  # a bug below us: report, not crash
            self._post(RenderFailed(self._gen, entry,
                                    PlaybackError(f"output failed: {type(exc).__name__}")))

    async def _open_output(self, fmt: PcmFormat) -> None:
        if self._sink.format == fmt:
            return  # same format: keep the output open (gapless)
        if self._sink.format is not None:
            await self._sink.drain()
            await self._sink.close()
            log.info("output.reopen format=%s", fmt.describe())
        await self._sink.open(fmt)
        self._rate = fmt.rate

    async def _play(self, entry: QueueEntry, stream: PcmStream) -> int:
        fmt = stream.format
        self._frames = 0
        self._base_ms = 0
        self._rate = fmt.rate
        first = True
        next_mark = fmt.rate
        while True:
            if not self._playing.is_set():
                # Let the device play out what it holds, so a pause is not an underrun.
                await self._sink.drain()
                await self._playing.wait()
            chunk = await stream.read()
            if chunk is None:
                return self._base_ms + self._frames * 1000 // fmt.rate
            if stream.format != fmt:  # the stream changed codec mid-track (ABR step)
                self._base_ms += self._frames * 1000 // fmt.rate
                self._frames = 0
                fmt = stream.format
                next_mark = fmt.rate
                await self._open_output(fmt)
            data = chunk
            if self._scale is not None:
                data = await asyncio.to_thread(self._scale, chunk, fmt)
            await self._sink.write(data)
            self._frames += len(chunk) // fmt.frame_bytes
            if first:
                first = False
                self._post(RenderStarted(self._gen, entry))
            if self._frames >= next_mark:
                next_mark += fmt.rate
                self._post(RenderProgress(self._gen, entry))


def _close_later(stream: PcmStream) -> None:
    task = asyncio.ensure_future(stream.aclose())
    task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
