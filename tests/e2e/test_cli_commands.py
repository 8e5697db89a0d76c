"""The layer subcommands reach their handlers through the one `speakerd` entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.daemon_proc import spawn


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = spawn(args, env=env or {})
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_probe_capabilities_explains_the_derivation() -> None:
    code, out, err = _run(["probe", "--capabilities", "--json", "--dac", "rpi-headphones",
                           "--board", "rpi-4b"])
    assert code == 0, err
    derivation = json.loads(out)
    assert derivation["header"] == "STD_RES,HI_FI"
    assert {s["token"] for s in derivation["steps"]} >= {"HI_RES", "REAL_AUDIO_360"}
    refused = {s["token"]: s["reason"] for s in derivation["steps"] if not s["granted"]}
    assert "24" in refused["HI_RES"]


def test_probe_a_manifest_file_with_derived_capabilities(tmp_path: Path) -> None:
    mpd = tmp_path / "t.mpd"
    mpd.write_text(
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT20S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">'
        '<Period><AdaptationSet contentType="audio" mimeType="audio/mp4">'
        '<SegmentTemplate initialization="$RepresentationID$/init.mp4" '
        'media="$RepresentationID$/$Number$.m4s" duration="10" timescale="1" startNumber="1"/>'
        '<Representation id="opus" codecs="opus" bandwidth="320000" audioSamplingRate="48000"/>'
        '<Representation id="flac" codecs="flac" bandwidth="900000" audioSamplingRate="44100"/>'
        '</AdaptationSet></Period></MPD>')
    code, out, err = _run(["probe", str(mpd), "--capabilities", "--json",
                           "--base-url", "http://x/", "--dac", "rpi-headphones",
                           "--board", "rpi-4b"])
    assert code == 0, err
    assert '"flac"' in out


def test_login_amazon_on_the_sandbox_needs_nothing(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("service: sandbox\n")
    code, out, _ = _run(["login", "amazon", "--config", str(config)])
    assert code == 0
    assert "links itself" in out


def test_sandbox_help_is_reachable() -> None:
    code, out, _ = _run(["sandbox", "--help"])
    assert code == 0
    assert "--catalog" in out
