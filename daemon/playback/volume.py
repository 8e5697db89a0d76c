"""Volume 0-100 on a perceptual curve: in software (on PCM) or on an ALSA hardware mixer.

Contract: `level_to_gain`/`level_to_db` define the curve (cubic in amplitude, the same shape
alsamixer's "mapped volume" uses: 50 ≈ -18 dB, 10 = -60 dB, 0 = mute). `SoftwareVolume.apply`
scales interleaved PCM with PyAV's `volume` filter (no numpy); level 100 passes the bytes
through untouched (bit-exact). `AlsaMixerVolume` sets a mixer control through `amixer -M`
(the same mapped curve). The engine persists the level; this module only applies it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import threading
from typing import Any, Protocol

from daemon.core.errors import SinkError
from daemon.playback.sinks.base import PcmFormat, SampleFormat, pack_s32, unpack_to_s32

log = logging.getLogger("daemon.playback")

_AV_FORMAT = {
    SampleFormat.S16_LE: "s16",
    SampleFormat.S32_LE: "s32",
    SampleFormat.S24_LE: "s32",
    SampleFormat.S24_3LE: "s32",
    SampleFormat.FLOAT_LE: "flt",
}
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}


def check_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
        raise SinkError("volume level must be an integer 0-100", level=str(level)[:16])
    return level


def level_to_gain(level: int) -> float:
    """Linear amplitude factor for a 0-100 level (cubic: perceptually even steps)."""
    x = check_level(level) / 100
    return x * x * x


def level_to_db(level: int) -> float:
    """The level in dB relative to full scale; -inf for 0 (mute)."""
    gain = level_to_gain(level)
    return 20 * math.log10(gain) if gain > 0 else -math.inf


def db_to_level(db: float) -> int:
    """Nearest level for a dB value (for showing a hardware mixer's state)."""
    if math.isnan(db) or db < -121:  # level 1 is -120 dB; below that is mute
        return 0
    return max(0, min(100, round(100 * 10 ** (min(db, 0.0) / 60))))


class VolumeControl(Protocol):
    """What the engine drives: one current level; `software` says who applies it."""

    @property
    def level(self) -> int: ...

    @property
    def software(self) -> bool: ...

    async def set_level(self, level: int) -> None: ...


class SoftwareVolume:
    """Scales PCM on its way to the sink. Thread-safe: the engine may call `apply` from the
    sink's writer thread while `set_level` runs on the event loop."""

    software = True

    def __init__(self, level: int = 100) -> None:
        self._level = check_level(level)
        self._lock = threading.Lock()
        self._graph: Any = None
        self._graph_key: tuple[Any, ...] | None = None
        self._pts = 0

    @property
    def level(self) -> int:
        return self._level

    async def set_level(self, level: int) -> None:
        self._level = check_level(level)

    def apply(self, data: bytes, fmt: PcmFormat) -> bytes:
        """`data` scaled to the current level (whole frames of `fmt`, interleaved)."""
        level = self._level
        if level == 100 or not data:
            return data
        if level == 0:
            return bytes(len(data))
        if fmt.channels not in _LAYOUTS:
            raise SinkError("software volume: unsupported channel count", channels=fmt.channels)
        import av

        samples = fmt.frames(len(data))
        s32 = unpack_to_s32(data, fmt.sample_format)
        av_fmt = _AV_FORMAT[fmt.sample_format]
        width = 4 if av_fmt != "s16" else 2
        nbytes = samples * fmt.channels * width
        with self._lock:
            graph = self._graph_for(fmt, av_fmt, level_to_gain(level))
            frame = av.AudioFrame(format=av_fmt, layout=_LAYOUTS[fmt.channels], samples=samples)
            plane = frame.planes[0]
            # Frame buffers may be padded past the samples; fill the padding with silence.
            plane.update(s32 + bytes(plane.buffer_size - nbytes))
            frame.sample_rate = fmt.rate
            frame.pts = self._pts
            self._pts += samples
            graph.push(frame)
            out = graph.pull()
            scaled = bytes(out.planes[0])[:nbytes]
        return pack_s32(scaled, fmt.sample_format)

    def _graph_for(self, fmt: PcmFormat, av_fmt: str, gain: float) -> Any:
        key = (fmt, gain)
        if self._graph_key != key:
            from av.filter import Graph

            graph = Graph()
            src = graph.add("abuffer", sample_fmt=av_fmt, sample_rate=str(fmt.rate),
                            channel_layout=_LAYOUTS[fmt.channels], time_base=f"1/{fmt.rate}")
            # Float precision: the fixed-point mode quantises the gain to 1/256 steps, which
            # is coarse at low levels (1 step = 6 dB at -48 dB).
            vol = graph.add("volume", volume=f"{gain:.9f}", precision="float")
            back = graph.add("aformat", sample_fmts=av_fmt)
            sink = graph.add("abuffersink")
            src.link_to(vol)
            vol.link_to(back)
            back.link_to(sink)
            graph.configure()
            self._graph, self._graph_key, self._pts = graph, key, 0
        return self._graph


class AlsaMixerVolume:
    """A hardware mixer control set with `amixer -M` (mapped = the same perceptual curve)."""

    software = False

    def __init__(self, control: str, *, ctl_device: str = "default", level: int = 100,
                 amixer_path: str = "amixer", timeout_s: float = 5.0) -> None:
        self.control = control
        self.ctl_device = ctl_device
        self._level = check_level(level)
        self._amixer = amixer_path
        self._timeout_s = timeout_s

    @property
    def level(self) -> int:
        return self._level

    def argv(self, level: int) -> list[str]:
        return [self._amixer, "-q", "-M", "-D", self.ctl_device, "sset", self.control,
                f"{check_level(level)}%"]

    async def set_level(self, level: int) -> None:
        argv = self.argv(level)
        if shutil.which(self._amixer) is None:
            raise SinkError("amixer is not installed", control=self.control)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise SinkError("cannot run amixer", control=self.control,
                            reason=exc.strerror) from None
        try:
            async with asyncio.timeout(self._timeout_s):
                _, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SinkError("amixer did not answer", control=self.control) from None
        if proc.returncode != 0:
            reason = err.decode("utf-8", "replace").strip().splitlines()
            raise SinkError("mixer refused the volume", control=self.control,
                            device=self.ctl_device, reason=(reason[-1] if reason else "")[:200])
        self._level = level
        log.info(f"volume.hardware control={self.control} level={level}")


def ctl_device_for(pcm_device: str) -> str:
    """Control device of an ALSA PCM name ("hw:CARD=x,DEV=0" -> "hw:CARD=x", "hw:1,0" -> "hw:1")."""
    if pcm_device.startswith(("hw:", "plughw:")):
        spec = pcm_device.split(":", 1)[1]
        card = spec.split(",", 1)[0]
        return f"hw:{card}"
    return "default"
