"""Audio outputs behind one `Sink` protocol (base.py): alsa, pipe, file (WAV), null.

`make_sink(kind, ...)` builds one from configuration values; modules import nothing heavy.
"""

from __future__ import annotations

from daemon.core.clock import Clock
from daemon.core.errors import SinkError
from daemon.playback.sinks.alsa import AlsaSink, Backend
from daemon.playback.sinks.base import (
    ANY_CAPS,
    OutputCaps,
    PcmFormat,
    SampleFormat,
    Sink,
    caps_from,
)
from daemon.playback.sinks.file import WAV_CAPS, WavFileSink
from daemon.playback.sinks.null import NullSink
from daemon.playback.sinks.pipe import PipeSink

__all__ = [
    "ANY_CAPS",
    "WAV_CAPS",
    "AlsaSink",
    "NullSink",
    "OutputCaps",
    "PcmFormat",
    "PipeSink",
    "SampleFormat",
    "Sink",
    "WavFileSink",
    "caps_from",
    "make_sink",
]


def make_sink(kind: str, *, clock: Clock, caps: OutputCaps | None = None,
              device: str = "default", path: str | None = None,
              alsa_backend: Backend = "auto", buffer_ms: int = 200) -> Sink:
    """Build the configured output: kind is "alsa", "pipe", "file" or "null"."""
    if kind == "alsa":
        if caps is None:
            raise SinkError("an ALSA output needs a hardware profile's formats", device=device)
        return AlsaSink(device, caps, backend=alsa_backend, buffer_ms=buffer_ms)
    if kind == "pipe":
        return PipeSink(path or "-", clock, caps=caps or ANY_CAPS)
    if kind == "file":
        if not path:
            raise SinkError("a file output needs a path", sink="file")
        return WavFileSink(path, caps=caps or WAV_CAPS)
    if kind == "null":
        return NullSink(clock, caps=caps or ANY_CAPS, buffer_s=buffer_ms / 1000)
    raise SinkError("unknown output kind", sink=kind)
