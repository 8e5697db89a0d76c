"""Sinks against real back ends: ALSA file plugin (aplay / pyalsaaudio), FIFOs, WAV files."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import threading
import wave
from pathlib import Path

import pytest

from daemon.core.errors import SinkError
from daemon.playback.sinks import (
    AlsaSink,
    NullSink,
    PcmFormat,
    PipeSink,
    SampleFormat,
    Sink,
    WavFileSink,
    caps_from,
    make_sink,
)
from daemon.playback.sinks.alsa import pyalsaaudio_available
from tests.support.clock import FakeClock

needs_aplay = pytest.mark.skipif(shutil.which("aplay") is None,
                                 reason="aplay not installed (apt-get install alsa-utils)")
needs_pyalsa = pytest.mark.skipif(not pyalsaaudio_available(),
                                  reason="pyalsaaudio not installed (needs libasound2-dev)")

CAPS = caps_from([44100, 48000, 96000], ["S16_LE", "S32_LE", "S24_3LE"])


def pcm(fmt: PcmFormat, seconds: float, seed: int = 1) -> bytes:
    frames = int(fmt.rate * seconds)
    return random.Random(seed).randbytes(frames * fmt.frame_bytes)


def file_device(path: Path) -> str:
    return f"file:FILE={path},FORMAT=raw"


@needs_aplay
@pytest.mark.parametrize(("rate", "sf"), [(44100, SampleFormat.S16_LE),
                                          (96000, SampleFormat.S32_LE),
                                          (48000, SampleFormat.S24_3LE)])
async def test_aplay_backend_is_bit_exact(tmp_path: Path, rate: int, sf: SampleFormat) -> None:
    out = tmp_path / "out.raw"
    fmt = PcmFormat(rate, 2, sf)
    data = pcm(fmt, 0.7)
    async with AlsaSink(file_device(out), CAPS, backend="aplay") as sink:
        await sink.open(fmt)
        assert sink.format == fmt
        for i in range(0, len(data), 4096 * fmt.frame_bytes):
            await sink.write(data[i:i + 4096 * fmt.frame_bytes])
        await sink.drain()
    got = out.read_bytes()
    assert got[: len(data)] == data
    # aplay pads with silence up to its period on drain (drm-and-media.md §8.4).
    padding = got[len(data):]
    assert padding == bytes(len(padding))
    assert len(padding) < fmt.rate * fmt.frame_bytes * 0.2 + 1  # under one 200 ms buffer


@needs_pyalsa
async def test_pyalsaaudio_backend_is_bit_exact_without_padding(tmp_path: Path) -> None:
    out = tmp_path / "out.raw"
    fmt = PcmFormat(96000, 2, SampleFormat.S32_LE)
    data = pcm(fmt, 0.5, seed=2)
    async with AlsaSink(file_device(out), CAPS, backend="pyalsaaudio") as sink:
        await sink.open(fmt)
        await sink.write(data)
        await sink.drain()
    assert out.read_bytes() == data


@needs_aplay
async def test_aplay_sink_reopens_after_drain(tmp_path: Path) -> None:
    out = tmp_path / "out.raw"
    fmt = PcmFormat(48000, 2, SampleFormat.S16_LE)
    async with AlsaSink(file_device(out), CAPS, backend="aplay") as sink:
        await sink.open(fmt)
        await sink.write(pcm(fmt, 0.1))
        await sink.drain()
        assert sink.delay_frames() == 0
        second = pcm(fmt, 0.1, seed=9)
        await sink.write(second)  # a new aplay run on the same device (file is rewritten)
        await sink.drain()
    assert out.read_bytes()[: len(second)] == second


@pytest.mark.parametrize("backend", [
    pytest.param("aplay", marks=needs_aplay),
    pytest.param("pyalsaaudio", marks=needs_pyalsa),
])
@pytest.mark.parametrize("device", ["hw:CARD=nosuchcard", "nosuchpcm"])
async def test_missing_device_is_a_sink_error(backend: str, device: str) -> None:
    sink = AlsaSink(device, CAPS, backend=backend)  # type: ignore[arg-type]
    with pytest.raises(SinkError) as info:
        await sink.open(PcmFormat(48000, 2, SampleFormat.S16_LE))
    assert info.value.fields["device"] == device
    assert info.value.fields["reason"]
    assert sink.format is None
    with pytest.raises(SinkError):
        await sink.write(bytes(4))
    await sink.aclose()


async def test_format_outside_the_profile_is_refused_before_touching_the_device() -> None:
    sink = AlsaSink("default", caps_from([44100], ["S16_LE"]), backend="aplay")
    with pytest.raises(SinkError, match="format refused"):
        await sink.open(PcmFormat(96000, 2, SampleFormat.S16_LE))
    with pytest.raises(SinkError, match="format refused"):
        await sink.open(PcmFormat(44100, 6, SampleFormat.S16_LE))
    await sink.aclose()


@needs_aplay
async def test_partial_frames_are_rejected(tmp_path: Path) -> None:
    async with AlsaSink(file_device(tmp_path / "o.raw"), CAPS, backend="aplay") as sink:
        await sink.open(PcmFormat(48000, 2, SampleFormat.S16_LE))
        with pytest.raises(SinkError, match="whole number of frames"):
            await sink.write(b"\0\0\0")


# --- null ---------------------------------------------------------------------------------


async def test_null_sink_consumes_at_real_time_pace_on_the_fake_clock() -> None:
    clock = FakeClock()
    fmt = PcmFormat(48000, 2, SampleFormat.S16_LE)
    sink = NullSink(clock, buffer_s=0.5)
    await sink.open(fmt)
    chunk = bytes(4800 * fmt.frame_bytes)  # 100 ms
    written = 0

    async def feed() -> None:
        nonlocal written
        for _ in range(100):  # 10 s of audio
            await sink.write(chunk)
            written += 1

    task = asyncio.create_task(feed())
    await asyncio.sleep(0)  # the first write lands at the clock's start
    await clock.run_for(3.0)
    # The writer is held back by the device: 3 s played, at most one buffer ahead.
    assert sink.played_frames == pytest.approx(3.0 * fmt.rate, abs=1)
    ahead = sink.written_frames - sink.played_frames
    assert 0 < ahead <= 0.5 * fmt.rate
    assert sink.delay_frames() == round(ahead)
    assert not task.done()
    await clock.run_for(8.0)
    await asyncio.wait_for(task, 5)
    assert written == 100
    assert sink.played_frames == pytest.approx(10.0 * fmt.rate, abs=1)
    assert sink.underruns == 1  # the writer stopped at 10 s while the device kept going
    await sink.aclose()


async def test_null_sink_drain_is_not_an_underrun_and_counts_starvation() -> None:
    clock = FakeClock()
    fmt = PcmFormat(44100, 2, SampleFormat.S32_LE)
    sink = NullSink(clock, buffer_s=1.0)
    await sink.open(fmt)
    await sink.write(bytes(int(0.5 * fmt.rate) * fmt.frame_bytes))
    drain = asyncio.create_task(sink.drain())
    await clock.run_for(0.6)
    await asyncio.wait_for(drain, 5)
    assert sink.underruns == 0
    assert sink.played_frames == pytest.approx(0.5 * fmt.rate, abs=1)
    # Starving the device: two dry spells are two underruns.
    for _ in range(2):
        await sink.write(bytes(441 * fmt.frame_bytes))
        clock.advance(0.5)
        assert sink.delay_frames() == 0
    assert sink.underruns == 2
    await sink.aclose()


# --- file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("sf", "width"), [(SampleFormat.S16_LE, 2), (SampleFormat.S24_3LE, 3),
                                           (SampleFormat.S32_LE, 4)])
async def test_file_sink_writes_a_valid_wav(tmp_path: Path, sf: SampleFormat, width: int) -> None:
    path = tmp_path / "cap.wav"
    fmt = PcmFormat(96000, 2, sf)
    data = pcm(fmt, 0.25, seed=3)
    async with WavFileSink(path) as sink:
        await sink.open(fmt)
        await sink.write(data[: len(data) // 2])
        await sink.write(data[len(data) // 2:])
        await sink.drain()
        with wave.open(str(path), "rb") as w:  # valid already after drain
            assert w.getnframes() == len(data) // fmt.frame_bytes
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (96000, 2, width)
        assert w.readframes(w.getnframes()) == data


async def test_file_sink_refuses_float_and_unwritable_paths(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "x.wav")
    with pytest.raises(SinkError, match="format refused"):
        await sink.open(PcmFormat(48000, 2, SampleFormat.FLOAT_LE))
    bad = WavFileSink(tmp_path / "missing-dir" / "x.wav")
    with pytest.raises(SinkError, match="cannot create file"):
        await bad.open(PcmFormat(48000, 2, SampleFormat.S16_LE))
    assert bad.format is None


# --- pipe ---------------------------------------------------------------------------------


async def test_pipe_sink_streams_raw_pcm_to_a_fifo_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "snapfifo"
    os.mkfifo(fifo)
    fmt = PcmFormat(48000, 2, SampleFormat.S16_LE)
    data = pcm(fmt, 2.0, seed=4)  # 384 kB: more than a pipe holds, so writes must block
    received = bytearray()

    def reader() -> None:
        with open(fifo, "rb") as f:
            while chunk := f.read(65536):
                received.extend(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        async with PipeSink(str(fifo), FakeClock(auto_advance=True)) as sink:
            await sink.open(fmt)
            for i in range(0, len(data), 19200):
                await sink.write(data[i:i + 19200])
            await sink.drain()
    finally:
        await asyncio.to_thread(thread.join, 10)
    assert bytes(received) == data


async def test_pipe_sink_without_reader_times_out_on_its_clock(tmp_path: Path) -> None:
    clock = FakeClock(auto_advance=True)
    sink = PipeSink(str(tmp_path / "fifo"), clock, open_timeout_s=2.0)
    with pytest.raises(SinkError, match="no reader"):
        await sink.open(PcmFormat(48000, 2, SampleFormat.S16_LE))
    assert sum(clock.sleeps) >= 2.0
    assert (tmp_path / "fifo").exists()  # created as a FIFO for the reader to find
    await sink.aclose()


async def test_pipe_sink_reports_a_reader_that_goes_away(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    sink = PipeSink(str(fifo), FakeClock(auto_advance=True))
    await sink.open(PcmFormat(48000, 2, SampleFormat.S16_LE))
    await sink.write(bytes(400))
    assert sink.delay_frames() == 100
    os.close(rfd)
    with pytest.raises(SinkError, match="write failed") as info:
        await sink.write(bytes(400))
    assert info.value.fields["reason"] == "reader went away"
    assert sink.format is None


def test_make_sink_builds_each_kind(tmp_path: Path) -> None:
    clock = FakeClock()
    assert isinstance(make_sink("null", clock=clock), NullSink)
    for kind in ("null", "pipe", "alsa"):
        assert isinstance(make_sink(kind, clock=clock, caps=CAPS), Sink)
    assert isinstance(make_sink("file", clock=clock, path=str(tmp_path / "a.wav")), WavFileSink)
    assert isinstance(make_sink("pipe", clock=clock), PipeSink)
    assert isinstance(make_sink("alsa", clock=clock, caps=CAPS), AlsaSink)
    with pytest.raises(SinkError):
        make_sink("alsa", clock=clock)
    with pytest.raises(SinkError):
        make_sink("bluetooth", clock=clock)


def fake_aplay(tmp_path: Path, body: str) -> str:
    script = tmp_path / "aplay"
    script.write_text("#!/bin/sh\necho \"Playing raw data 'stdin'\" >&2\n"
                      "echo 'Its setup is:' >&2\n" + body)
    script.chmod(0o755)
    return str(script)


async def test_aplay_underrun_lines_are_counted(tmp_path: Path) -> None:
    aplay = fake_aplay(tmp_path, "head -c 4 > /dev/null\n"
                                 "echo 'underrun!!! (at least 12.345 ms long)' >&2\n"
                                 "echo 'underrun!!! (at least 3.000 ms long)' >&2\n"
                                 "cat > /dev/null\n")
    fmt = PcmFormat(48000, 2, SampleFormat.S16_LE)
    async with AlsaSink("hw:CARD=x", CAPS, backend="aplay", aplay_path=aplay) as sink:
        await sink.open(fmt)
        await sink.write(bytes(4800 * 4))
        await sink.drain()
        assert sink.underruns == 2


async def test_aplay_dying_mid_stream_is_a_sink_error_and_closes(tmp_path: Path) -> None:
    aplay = fake_aplay(tmp_path, "head -c 100 > /dev/null\n"
                                 "echo 'aplay: pcm_write:2127: write error: I/O error' >&2\n"
                                 "exit 1\n")
    fmt = PcmFormat(48000, 2, SampleFormat.S16_LE)
    sink = AlsaSink("hw:CARD=x", CAPS, backend="aplay", aplay_path=aplay)
    await sink.open(fmt)

    async def stream() -> None:
        for _ in range(200):  # the pipe buffers some writes before the reader's death shows
            await sink.write(bytes(4800 * 4))
        await sink.drain()

    with pytest.raises(SinkError) as info:
        await stream()
    assert "write error" in info.value.fields["reason"]
    assert sink.format is None
    await sink.aclose()


@needs_aplay
async def test_decoder_volume_and_alsa_sink_chain_is_bit_exact_at_full_volume(
        tmp_path: Path) -> None:
    from daemon.capabilities import load_output
    from daemon.playback.decoder import Decoder
    from daemon.playback.volume import SoftwareVolume
    from tests.component.playback.pb_media import make_fmp4, reference_pcm

    media = make_fmp4("flac", 96000, 24, seconds=1.5)
    profile = load_output("hifiberry-dacplus")
    out = tmp_path / "cap.raw"
    volume = SoftwareVolume(level=100)
    decoder = Decoder(profile.caps)
    sink = AlsaSink(file_device(out), profile.caps, backend="aplay")
    assert isinstance(sink, Sink)
    try:
        await decoder.start(media.init)
        for seg in media.segments:
            await decoder.feed(seg)
        await decoder.end_of_stream()
        while (chunk := await decoder.read()) is not None:
            if sink.format is None:
                await sink.open(chunk.format)
            await sink.write(volume.apply(chunk.data, chunk.format))
        await sink.drain()
    finally:
        await decoder.aclose()
        await sink.aclose()
    ref, _ = reference_pcm(media.data)
    assert out.read_bytes()[: len(ref)] == ref
