"""`speakerd probe`: text and JSON output, SegmentBase index fetched over loopback HTTP."""

from __future__ import annotations

import argparse
import io
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from daemon.cli import probe

MPD = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT6S">
<Period><AdaptationSet mimeType="audio/mp4">
<Representation id="flac" bandwidth="900000" codecs="fLaC" audioSamplingRate="44100">
<BaseURL>media.mp4</BaseURL>
<SegmentBase indexRange="100-{end}"><Initialization range="0-99"/></SegmentBase>
</Representation>
<Representation id="opus" bandwidth="128000" codecs="opus" audioSamplingRate="48000">
<SegmentTemplate media="o/$Number$.m4s" duration="3" initialization="o/init.mp4"/>
</Representation>
</AdaptationSet></Period></MPD>"""


def _sidx() -> bytes:
    body = struct.pack(">IIIIIHH", 0, 1, 1000, 0, 0, 0, 2)
    body += struct.pack(">III", 5000, 4000, 0x90000000) + struct.pack(">III", 3000, 2000, 0)
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="speakerd")
    probe.add_parser(ap.add_subparsers())
    return ap


@pytest.fixture
def server() -> Iterator[str]:
    sidx = _sidx()
    media = b"\0" * 100 + sidx + b"\1" * 8000
    mpd = MPD.format(end=100 + len(sidx) - 1).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/m.mpd":
                body = mpd
                self.send_response(200)
            elif self.path == "/media.mp4":
                first, last = (int(x) for x in self.headers["Range"][6:].split("-"))
                body = media[first : last + 1]
                self.send_response(206)
            else:
                self.send_error(404)
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_probe_url_json_resolves_sidx_and_explains(server: str) -> None:
    args = _parser().parse_args(["probe", f"{server}/m.mpd", "--json", "--decoders",
                                 "flac,opus", "--bandwidth", "2000000"])
    out = io.StringIO()
    assert probe.run(args, out) == 0
    doc = json.loads(out.getvalue())
    period = doc["periods"][0]
    plans = {p["representation"]: p for p in period["segment_plans"]}
    sidx_len = len(_sidx())
    first = 100 + sidx_len
    assert plans["flac"]["count"] == 2
    assert plans["flac"]["first"][0]["range"] == [first, first + 4999]
    assert plans["flac"]["first"][1]["start"] == 4.0
    assert plans["opus"]["count"] == 2
    assert plans["opus"]["init"]["url"] == f"{server}/o/init.mp4"
    sel = period["selection"]
    assert (sel["chosen"], sel["tier"], sel["reason"]) == ("flac", "HI_FI",
                                                           "best_within_bandwidth")


def test_probe_text_output_from_file(tmp_path: Path) -> None:
    path = tmp_path / "m.mpd"
    path.write_text(MPD.format(end=199))
    args = _parser().parse_args(["probe", str(path), "--decoders", "opus",
                                 "--base-url", "https://cdn.example/t/m.mpd"])
    out = io.StringIO()
    assert probe.run(args, out) == 0
    text = out.getvalue()
    assert "selection: opus (STD_RES)" in text
    assert "no_decoder" in text  # flac refused: only opus decodes here
    assert "https://cdn.example/t/o/1.m4s" in text


def test_probe_bad_manifest_and_missing_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mpd"
    bad.write_text("<MPD><Period></MPD>")
    assert probe.run(_parser().parse_args(["probe", str(bad)])) == probe.EX_DATAERR
    assert "malformed XML" in capsys.readouterr().err
    missing = str(tmp_path / "none.mpd")
    assert probe.run(_parser().parse_args(["probe", missing])) == probe.EX_NOINPUT
