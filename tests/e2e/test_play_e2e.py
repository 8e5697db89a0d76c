"""End to end: `speakerd run` with the sandbox in-process plays to a WAV file (and, where
aplay exists, to ALSA's file: device); the PCM equals the clear source decoded on its own
by PyAV, consecutive same-format tracks have no gap, and the sandbox's collectors saw
STARTED, PROGRESS and one terminal event per track, in order."""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import wave
from pathlib import Path

import pytest

from tests.support import canary
from tests.support.daemon_proc import NotifyListener, spawn

ALBUM = "Phase Relations"
HI_RES_TRACK = "Carrier Wave"
SEED = 1  # the config's default seed: every e2e run shares one catalog


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Run:
    def __init__(self, tmp_path: Path, content_dir: Path, *, allow: str, autoplay: str,
                 output: str = "file", device: str = "default") -> None:
        self.state = tmp_path / "state"
        self.state.mkdir(mode=0o700)
        self.port = _free_port()
        self.wav = tmp_path / "out.wav"
        self.config = tmp_path / "config.yaml"
        self.config.write_text(
            f"service: sandbox\n"
            f"sandbox:\n  catalog: small\n  data_dir: {content_dir}\n  port: {self.port}\n"
            f"  admin: true\n"
            f"quality:\n  allow: [{allow}]\n"
            f"audio:\n  output: {output}\n  file_path: {self.wav}\n  device: '{device}'\n"
            # Full scale: the comparison is bit-exact, so no software volume may scale it.
            f"playback:\n  autoplay: '{autoplay}'\n  initial_volume: 100\n"
            f"control:\n  enabled: false\ndiscovery:\n  enabled: false\n")
        self.listener = NotifyListener(tmp_path / "notify.sock")
        self.proc = spawn(["run", "--config", str(self.config)],
                          env={"STATE_DIRECTORY": str(self.state),
                               "NOTIFY_SOCKET": str(self.listener.path)})

    def events(self) -> list[dict[str, object]]:
        url = f"http://127.0.0.1:{self.port}/_sandbox/music/events"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return list(json.load(resp)["log"])

    def wait_for_terminals(self, tracks: int, timeout: float = 180.0) -> list[dict[str, object]]:
        self.listener.wait_for("READY", "1", timeout=120)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.events()
            terminal = [e for e in log if e["event"]["eventType"] in  # type: ignore[index]
                        ("PLAYBACK_FINISHED", "PLAYBACK_SKIPPED", "PLAYBACK_STOPPED",
                         "PLAYBACK_ERROR")]
            if len(terminal) >= tracks:
                return log
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f"playback did not finish; events: {self.events()}")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"no clean stop:\n{err}") from None
        self.listener.close()
        assert self.proc.returncode == 0, err
        return err


def _representations(log_text: str) -> dict[str, str]:
    return dict(re.findall(r"stream\.opened track=(\S+) representation=(\S+)", log_text))


def _reference(content_dir: Path, track_id: str, fmt_id: str, sampwidth: int,
               rate: int) -> bytes:
    """PyAV's own decode of the sandbox's clear reference, as the WAV stores it."""
    import av

    from daemon.sandbox.media import ContentStore

    store = ContentStore(content_dir, catalog="small", seed=SEED)
    store.ensure()  # validates the daemon's cache (checksums); generates nothing
    clear = store.clear_reference(track_id, fmt_id)
    target = {2: "s16", 3: "s32", 4: "s32"}[sampwidth]
    resampler = av.AudioResampler(format=target, layout="stereo", rate=rate)
    out = bytearray()
    with av.open(io.BytesIO(clear), "r") as container:
        for frame in container.decode(audio=0):
            for converted in resampler.resample(frame):
                out += bytes(converted.planes[0])[:converted.samples * 2 * (2 if target ==
                                                                             "s16" else 4)]
        for converted in resampler.resample(None):
            out += bytes(converted.planes[0])[:converted.samples * 2 * (2 if target ==
                                                                         "s16" else 4)]
    if sampwidth == 3:  # S24_3LE: the top three bytes of each left-aligned s32 sample
        packed = bytearray(len(out) // 4 * 3)
        packed[0::3], packed[1::3], packed[2::3] = out[1::4], out[2::4], out[3::4]
        return bytes(packed)
    return bytes(out)


def _catalog() -> object:
    from daemon.sandbox.media.catalog import build_catalog

    return build_catalog("small", SEED)


def _track_ids_by_title() -> dict[str, str]:
    return {t.title: t.id for t in _catalog().tracks}  # type: ignore[attr-defined]


def _check_event_order(log: list[dict[str, object]], track_tags: list[str]) -> None:
    by_instance: dict[str, list[str]] = {}
    for entry in log:
        assert entry["status"] == 204, entry
        kind = entry["event"]["eventType"]  # type: ignore[index]
        by_instance.setdefault(str(entry["instance"]), []).append(str(kind))
    assert len(by_instance) == len(track_tags)
    for kinds in by_instance.values():
        assert kinds[0] == "PLAYBACK_STARTED"
        assert "PLAYBACK_PROGRESS" in kinds
        assert kinds[-1] == "PLAYBACK_FINISHED"
        assert sum(k in ("PLAYBACK_FINISHED", "PLAYBACK_SKIPPED", "PLAYBACK_STOPPED",
                         "PLAYBACK_ERROR") for k in kinds) == 1
    played_tags = list(dict.fromkeys(str(e["trackTag"]) for e in log))
    assert played_tags == track_tags


def test_hi_res_track_is_bit_exact(tmp_path: Path, content_dir: Path) -> None:
    run = Run(tmp_path, content_dir, allow="STD_RES, HI_FI, HI_RES",
              autoplay=f"track:{HI_RES_TRACK}")
    try:
        log = run.wait_for_terminals(1)
    finally:
        err = run.stop()
    track_id = _track_ids_by_title()[HI_RES_TRACK]
    assert _representations(err) == {track_id: "FLAC_24_192"}
    _check_event_order(log, [track_id])
    with wave.open(str(run.wav)) as wav:
        assert wav.getframerate() == 192_000
        assert wav.getnchannels() == 2
        pcm = wav.readframes(wav.getnframes())
        width = wav.getsampwidth()
    assert pcm == _reference(content_dir, track_id, "FLAC_24_192", width, 192_000)
    assert canary.leaks(err) == []


def test_std_res_album_is_gapless(tmp_path: Path, content_dir: Path) -> None:
    run = Run(tmp_path, content_dir, allow="STD_RES", autoplay=f"album:{ALBUM}")
    try:
        log = run.wait_for_terminals(3)
    finally:
        err = run.stop()
    ids = _track_ids_by_title()
    album = next(a for a in _catalog().albums if a.title == ALBUM)  # type: ignore[attr-defined]
    order = list(album.track_ids)
    reps = _representations(err)
    assert set(reps) == set(order)
    assert all(r.startswith("OPUS_") for r in reps.values())
    _check_event_order(log, order)
    assert len(set(ids.values())) == 3
    with wave.open(str(run.wav)) as wav:
        assert wav.getframerate() == 48_000
        width = wav.getsampwidth()
        pcm = wav.readframes(wav.getnframes())
    # Zero gap: the output is exactly the three decodes back to back, nothing between.
    expected = b"".join(_reference(content_dir, t, reps[t], width, 48_000) for t in order)
    assert len(pcm) == len(expected)
    assert pcm == expected


@pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay (alsa-utils) is not installed")
def test_alsa_file_device_is_bit_exact(tmp_path: Path, content_dir: Path) -> None:
    raw = tmp_path / "alsa.raw"
    run = Run(tmp_path, content_dir, allow="STD_RES, HI_FI", autoplay=f"track:{HI_RES_TRACK}",
              output="alsa", device=f"file:FILE={raw},FORMAT=raw")
    try:
        run.wait_for_terminals(1)
    finally:
        err = run.stop()
    track_id = _track_ids_by_title()[HI_RES_TRACK]
    assert _representations(err) == {track_id: "FLAC_16_44"}
    expected = _reference(content_dir, track_id, "FLAC_16_44", 2, 44_100)
    captured = raw.read_bytes()
    # aplay pads the last period with silence on drain; everything before is the track.
    assert captured[:len(expected)] == expected
    assert captured[len(expected):] == bytes(len(captured) - len(expected))
