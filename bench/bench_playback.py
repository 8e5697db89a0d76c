"""Playback benchmarks: time to first audio, CPU per hour of audio, memory.

- TTFA: play command -> first PCM frame handed to the output, through the real clients
  against the sandbox on loopback, with 0 ms and 50 ms injected per-request latency, beside
  the protocol floor (2 round trips: the manifest, then licence and segment in parallel).
- CPU: process CPU seconds per hour of audio for STD_RES, HI_FI, HI_RES through our
  pipeline (fetch from memory, CENC decrypt, PyAV decode), beside a reference that only
  lets PyAV decrypt (`decryption_key`) and decode the same file: the floor for a PyAV player.
- Memory: peak and steady RSS while playing, and RSS growth over 50 tracks.

Run: `python -m bench playback` (prints a table, writes bench/results/playback.json).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
TRIALS = 5
SEEK_MS = 4000


class TimingSink:
    """An output that keeps nothing and notes when the first PCM arrives (no pacing)."""

    name = "timing"

    def __init__(self) -> None:
        from daemon.playback.sinks.base import ANY_CAPS

        self._caps = ANY_CAPS
        self._format: Any = None
        self.first_write: float | None = None
        self.bytes = 0
        #: while set, a write after the first waits here (holds a track mid-way for a seek)
        self.hold: asyncio.Event | None = None

    @property
    def caps(self) -> Any:
        return self._caps

    @property
    def format(self) -> Any:
        return self._format

    @property
    def underruns(self) -> int:
        return 0

    async def open(self, fmt: Any) -> None:
        self._format = fmt

    async def write(self, data: bytes) -> None:
        if self.first_write is None:
            self.first_write = time.perf_counter()
        self.bytes += len(data)
        if self.hold is not None:
            await self.hold.wait()

    async def drain(self) -> None:
        return None

    def delay_frames(self) -> int:
        return 0

    async def close(self) -> None:
        self._format = None

    async def aclose(self) -> None:
        self._format = None


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _settled_rss_mb() -> float:
    """RSS after a full collection and after glibc returned its free pages."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the plain figure
        pass
    return _rss_mb()


def _slope(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    return statistics.linear_regression(range(len(values)), values).slope


async def _stack(data_dir: Path, state: Path, latency_s: float) -> dict[str, Any]:
    from daemon.contracts import amazon_music as am
    from daemon.core.clock import SystemClock
    from daemon.drm.clearkey import ClearKeyCdm
    from daemon.drm.flow import LicenceFlow
    from daemon.playback.engine import Player
    from daemon.playback.fetcher import FetchSettings
    from daemon.sandbox.config import FaultRule, SandboxConfig
    from daemon.sandbox.server import Sandbox
    from daemon.services.http import HttpClient
    from daemon.services.lwa import LwaClient, LwaSettings
    from daemon.services.music import MusicClient, MusicSettings
    from daemon.sources.amazon import AmazonPlayback
    from daemon.state.secrets import open_secret_store

    clock = SystemClock()
    faults = (FaultRule("latency", delay_s=latency_s),) if latency_s else ()
    sandbox = Sandbox(SandboxConfig(data_dir=data_dir, catalog="small",
                                    licence_backend=am.LicenceBackend.CLEARKEY, faults=faults),
                      clock)
    await sandbox.start()
    http = HttpClient(clock=clock)
    await http.start()
    state.mkdir(mode=0o700, exist_ok=True)
    lwa = LwaClient(http=http, store=open_secret_store(state), clock=clock,
                    settings=LwaSettings(client_id=sandbox.lwa_client_id,
                                         base_url=sandbox.base_url))
    await lwa.start()
    await lwa.link(lambda pair: None)
    tokens = ["STD_RES", "HI_FI", "HI_RES"]
    music = MusicClient(http=http, auth=lwa, device_id="0" * 32, capabilities=lambda: tokens,
                        settings=MusicSettings(api_root=sandbox.base_url + "/"), clock=clock)
    playback = AmazonPlayback(music=lambda: music, http=http, clock=clock,
                              licence_flow=LicenceFlow(ClearKeyCdm(), clock=clock),
                              capabilities=lambda: tokens, decoders=("flac", "opus"),
                              fetch=FetchSettings())
    sink = TimingSink()
    player = Player(source=playback, sink=sink, clock=clock)
    await player.start()
    from daemon.playback.commands import PlayKind

    album_ref = await playback.find(PlayKind.ALBUM, "Phase Relations")
    assert isinstance(album_ref, str)
    album = await music.node(album_ref)
    pointers = [f"{i.pointer.chunk}@{i.pointer.index}" for i in album.items if i.pointer]
    return {"sandbox": sandbox, "http": http, "lwa": lwa, "player": player, "sink": sink,
            "pointers": pointers, "tokens": tokens}


async def _close(stack: dict[str, Any]) -> None:
    await stack["player"].aclose()
    await stack["lwa"].aclose()
    await stack["http"].aclose()
    await stack["sandbox"].aclose()


async def _wait_state(player: Any, states: set[str], limit: float = 120.0) -> None:
    deadline = time.perf_counter() + limit
    while player.state.value not in states:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"player stuck in {player.state.value}")
        await asyncio.sleep(0.005)


async def bench_ttfa(data_dir: Path, tmp: Path, latency_s: float) -> dict[str, Any]:
    from daemon.playback import commands as c

    stack = await _stack(data_dir, tmp / f"state-{latency_s}", latency_s)
    player, sink = stack["player"], stack["sink"]
    samples, seeks = [], []
    try:
        for trial in range(TRIALS + 1):
            pointer = stack["pointers"][trial % len(stack["pointers"])]
            sink.first_write = None
            sink.hold = asyncio.Event()  # the track stays open at its first chunk
            started = time.perf_counter()
            await player.submit(c.Play(c.PlayKind.TRACK, pointer))
            while sink.first_write is None:
                await asyncio.sleep(0.001)
            first_audio = sink.first_write
            sink.first_write = None
            seek_at = time.perf_counter()
            await player.submit(c.Seek(SEEK_MS))
            while sink.first_write is None:
                await asyncio.sleep(0.001)
            if trial:  # the first run warms connections and caches
                samples.append((first_audio - started) * 1000)
                seeks.append((sink.first_write - seek_at) * 1000)
            sink.hold.set()
            sink.hold = None
            await player.submit(c.Stop())
    finally:
        await _close(stack)
    floor = 2 * latency_s * 1000
    return {"latency_ms": latency_s * 1000, "median_ms": statistics.median(samples),
            "max_ms": max(samples), "floor_ms": floor, "samples_ms": samples,
            "seek_median_ms": statistics.median(seeks), "seek_max_ms": max(seeks),
            "seek_samples_ms": seeks}


def bench_cpu(data_dir: Path) -> list[dict[str, Any]]:

    from daemon.core.clock import SystemClock
    from daemon.drm.clearkey import ClearKeyCdm
    from daemon.drm.flow import LicenceFlow
    from daemon.playback.dash_stream import CallbackService, StreamRequest, open_dash_stream
    from daemon.playback.events import TrackInfo
    from daemon.playback.fetcher import FetchSettings
    from daemon.playback.sinks.base import ANY_CAPS
    from daemon.sandbox.licence.clearkey import issue_clearkey
    from daemon.sandbox.media import ContentStore

    store = ContentStore(data_dir, catalog="small", seed=0)
    store.ensure()
    tid = next(t for t, content in store.tracks.items() if "FLAC_24_192" in content.formats)
    base = "http://content.bench/"
    rows = []
    for tier, fmt in (("STD_RES", "OPUS_320"), ("HI_FI", "FLAC_16_44"),
                      ("HI_RES", "FLAC_24_192")):
        mpd = store.mpd(tid, [fmt], base, base + "licence")

        async def get(url: str, byte_range: tuple[int, int] | None) -> bytes:
            data = store.resource(tid, url.removeprefix(base))
            return data[byte_range[0]:byte_range[1] + 1] if byte_range else data

        async def licence(challenge: bytes) -> bytes:
            return issue_clearkey(challenge, store.keys(tid))

        async def play_all(mpd: str = mpd, tier: str = tier) -> Any:
            stream = await open_dash_stream(
                StreamRequest(mpd=mpd.encode(), mpd_url=base + "t.mpd",
                              info=TrackInfo(service_id=tid, title=tid), start_ms=0,
                              caps=ANY_CAPS, capabilities=[tier], decoders=["flac", "opus"]),
                service=CallbackService(get, licence),
                licence_flow=LicenceFlow(ClearKeyCdm(), privacy_mode=False),
                clock=SystemClock(), settings=FetchSettings())
            total = 0
            while (chunk := await stream.read()) is not None:
                total += len(chunk)
            await stream.aclose()
            return stream.format

        cpu0 = time.process_time()
        out_fmt = asyncio.run(play_all())
        ours = time.process_time() - cpu0

        whole = store.resource(tid, f"{fmt}.mp4")
        key = next(iter(store.keys(tid).values()))
        cpu0 = time.process_time()
        reference_pcm(whole, key, out_fmt)
        reference = time.process_time() - cpu0
        audio_s = store.tracks[tid].track.duration_s
        rows.append({"tier": tier, "format": fmt, "audio_s": audio_s,
                     "ours_cpu_s_per_hour": ours / audio_s * 3600,
                     "reference_cpu_s_per_hour": reference / audio_s * 3600})
    return rows


def reference_pcm(whole: bytes, key: bytes, fmt: Any) -> int:
    """The fair floor: PyAV decrypting (its own CENC), decoding and ending in the same
    output PCM format as the daemon (its resampler when the decoded format differs), as
    interleaved bytes. Returns the byte count."""
    import av

    from daemon.playback.decoder import _AV_FORMAT

    total = 0
    with av.open(io.BytesIO(whole), "r", options={"decryption_key": key.hex()}) as container:
        cc = container.streams.audio[0].codec_context
        want = _AV_FORMAT[fmt.sample_format]
        resampler = None
        if want != cc.format.name or fmt.rate != cc.sample_rate:
            resampler = av.AudioResampler(format=want, layout=cc.layout.name, rate=fmt.rate)
        for frame in container.decode(audio=0):
            for f in resampler.resample(frame) if resampler is not None else (frame,):
                total += len(bytes(f.planes[0]))
    return total


async def bench_memory(data_dir: Path, tmp: Path, tracks: int = 50) -> dict[str, Any]:
    from daemon.playback import commands as c

    stack = await _stack(data_dir, tmp / "state-mem", 0.0)
    player = stack["player"]
    rss = []
    try:
        for n in range(tracks):
            await player.submit(c.Play(c.PlayKind.TRACK,
                                       stack["pointers"][n % len(stack["pointers"])]))
            await _wait_state(player, {"stopped", "error"})
            rss.append(_settled_rss_mb())
    finally:
        await _close(stack)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"tracks": tracks, "peak_rss_mb": peak, "steady_rss_mb": statistics.median(rss),
            "rss_after_first_mb": rss[0], "rss_after_last_mb": rss[-1],
            # Growth after a 10-track warm-up (allocator arenas, codec tables, caches fill
            # during the first tracks), as the least-squares slope of RSS sampled after
            # gc + malloc_trim: a leak is a positive slope, noise is not.
            "growth_mb": rss[-1] - rss[min(9, len(rss) - 1)],
            "slope_kb_per_track": _slope(rss[10:]) * 1024,
            "includes": "the in-process sandbox (server and its event log) as well"}


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data = tmp / "content"
        cpu = bench_cpu(data)
        ttfa = [asyncio.run(bench_ttfa(data, tmp, latency)) for latency in (0.0, 0.050)]
        memory = asyncio.run(bench_memory(data, tmp))
    print("\nTime to first audio (play command -> first PCM at the output)")
    print(f"{'injected latency':>18} {'median ms':>10} {'max ms':>8} {'floor ms':>9}"
          f" {'seek median':>12} {'seek max':>9}")
    for row in ttfa:
        print(f"{row['latency_ms']:>18.0f} {row['median_ms']:>10.1f} {row['max_ms']:>8.1f}"
              f" {row['floor_ms']:>9.0f} {row['seek_median_ms']:>12.1f}"
              f" {row['seek_max_ms']:>9.1f}")
    print("\nCPU seconds per hour of audio")
    print(f"{'tier':>8} {'format':>12} {'speakerd':>9} {'PyAV-only ref':>14}")
    for row in cpu:
        print(f"{row['tier']:>8} {row['format']:>12} {row['ours_cpu_s_per_hour']:>9.1f}"
              f" {row['reference_cpu_s_per_hour']:>14.1f}")
    print(f"\nMemory over {memory['tracks']} tracks: peak {memory['peak_rss_mb']:.0f} MB,"
          f" steady {memory['steady_rss_mb']:.0f} MB, growth {memory['growth_mb']:+.1f} MB,"
          f" slope {memory['slope_kb_per_track']:+.0f} kB/track")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    out = RESULTS / "playback.json"
    out.write_text(json.dumps({"ttfa": ttfa, "cpu": cpu, "memory": memory, "loadavg": load},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
