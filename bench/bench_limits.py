"""The worst input of each parser/front-door limit: time and peak memory beside its budget.

Times are taken under tracemalloc (which slows Python code several times over), so they are
upper bounds; the input is built before each measurement and not counted.

Rows: 16 MiB of 8-byte boxes (box reader and the decryptor's header walk), a 1.2 KB MPD
with r="199999" (parse + plan + read every segment), 1 MiB MPDs of elements, nesting and
undeclared prefixes, an MPD over the 1 MiB cap, and an authorised request on a new
connection while 500 idle sockets from 16 addresses hold the control server's caps.

Run: `python -m bench limits` (prints a table, writes bench/results/limits.json).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import struct
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
MIB = 1024 * 1024
URL = "https://cdn.example/m/manifest.mpd"


def _measure(name: str, budget: str, fn: Callable[[], object]) -> dict[str, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        fn()
        outcome = "accepted"
    except Exception as exc:  # the row records which of our errors refused it
        outcome = f"refused ({type(exc).__name__})"
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"input": name, "outcome": outcome, "seconds": round(seconds, 4),
            "peak_mb": round(peak / MIB, 2), "budget": budget}


def _mpd(body: str) -> str:
    return ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            f'mediaPresentationDuration="PT100000S">{body}</MPD>')


def parser_rows() -> list[dict[str, Any]]:
    from daemon.dash import parse_mpd, plan_segments
    from daemon.mp4.box import iter_headers, parse_boxes

    tiny = struct.pack(">I4s", 8, b"free") * (16 * MIB // 8)
    repeat = _mpd('<Period><AdaptationSet mimeType="audio/mp4" codecs="opus">'
                  '<Representation id="a" bandwidth="1"><SegmentTemplate media="$Number$.m4s" '
                  'initialization="i.mp4"><SegmentTimeline><S t="0" d="1" r="199999"/>'
                  "</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>"
                  "</Period>")

    def plan_all() -> None:
        m = parse_mpd(repeat, URL)
        plan = plan_segments(m, m.periods[0], m.periods[0].representations[0])
        for _ in plan.segments:  # what playback reads, one at a time
            pass

    def plan_only() -> None:
        m = parse_mpd(repeat, URL)
        plan_segments(m, m.periods[0], m.periods[0].representations[0])

    elements = _mpd("<a/>" * 200_000)
    nested = _mpd("<a>" * 100_000 + "</a>" * 100_000)
    prefixes = _mpd("".join(f"<p{i}:a/>" for i in range(90_000)))
    oversized = _mpd("<!--" + "x" * (MIB + 10) + "-->")
    return [
        _measure("16 MiB of 8-byte boxes: parse_boxes", "refused, < 32 MB",
                 lambda: parse_boxes(tiny)),
        _measure("16 MiB of 8-byte boxes: iter_headers (decryptor)", "refused, < 32 MB",
                 lambda: list(iter_headers(tiny))),
        _measure('MPD r="199999" (1.2 KB): parse + plan', "accepted, < 2 MB", plan_only),
        _measure('MPD r="199999": plan + read all 200 000', "accepted, < 2 MB", plan_all),
        _measure("MPD of 200 000 empty elements (<1 MiB)", "refused, < 12 MB",
                 lambda: parse_mpd(elements, URL)),
        _measure("MPD nested 100 000 deep (<1 MiB)", "refused, < 6 MB",
                 lambda: parse_mpd(nested, URL)),
        _measure("MPD of 90 000 undeclared prefixes (<1 MiB)", "refused, < 6 MB",
                 lambda: parse_mpd(prefixes, URL)),
        _measure("MPD over the 1 MiB cap", "refused before parsing",
                 lambda: parse_mpd(oversized, URL)),
    ]


async def _control_row(idle: int = 500, requests: int = 20) -> dict[str, Any]:
    import aiohttp

    from daemon.control.limits import ControlLimits
    from daemon.control.server import ControlServer
    from daemon.core.clock import SystemClock
    from daemon.core.config import ControlConfig
    from daemon.state.files import ensure_private_dir
    from daemon.state.secrets import SecretStore
    from tests.integration.control.fakes import (
        FakeBrowser,
        FakeDevice,
        FakePlayer,
        FakeSignIn,
        insecure,
        pair_steps,
    )

    with tempfile.TemporaryDirectory() as tmp:
        state = ensure_private_dir(Path(tmp) / "state")
        store = SecretStore.open(state / "secrets", key_file=Path(tmp) / "device.key",
                                 credentials_dir=Path(tmp) / "none")
        shown: list[Any] = []
        server = ControlServer(state, SystemClock(), ControlConfig(port=0), model="bench",
                               limits=ControlLimits(bind=("127.0.0.1",),
                                                    header_timeout_s=60.0),
                               store=store, player=FakePlayer(), device=FakeDevice(),
                               browser=FakeBrowser(), signin=FakeSignIn(),
                               code_display=shown.append)
        await server.start()
        held: list[asyncio.StreamWriter] = []
        try:
            base = f"https://127.0.0.1:{server.https_port}/api/v1"
            async with aiohttp.ClientSession() as session:
                if not server.pairing.is_open:
                    server.open_pairing()
                _, _, body = await pair_steps(session, base, shown[-1].reveal())
            token = body["opened"]["token"]
            for i in range(idle):
                source = f"127.0.0.{2 + i % 16}"
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", server.https_port, ssl=insecure(), local_addr=(source, 0))
                held.append(writer)
            latencies, statuses = [], []
            for _ in range(requests):
                started = time.perf_counter()
                async with aiohttp.ClientSession() as fresh, fresh.get(
                        f"{base}/status", ssl=insecure(),
                        headers={"Authorization": f"Bearer {token}"}) as resp:
                    statuses.append(resp.status)
                latencies.append((time.perf_counter() - started) * 1000)
            stats = server.connection_stats
        finally:
            for writer in held:
                writer.close()
            await server.aclose()
    return {"input": f"{idle} idle sockets, authorised request on a new connection",
            "outcome": f"served {statuses.count(200)}/{requests}",
            "seconds": round(statistics.median(latencies) / 1000, 4),
            "max_ms": round(max(latencies), 1), "shed": stats["shed"],
            "budget": "served, < 200 ms"}


def main() -> None:
    rows = parser_rows()
    rows.append(asyncio.run(_control_row()))
    print(f"{'input':58} {'outcome':28} {'s':>8} {'peak MB':>8}  budget")
    for row in rows:
        peak = row.get("peak_mb", "-")
        extra = f" (max {row['max_ms']} ms)" if "max_ms" in row else ""
        print(f"{row['input'][:58]:58} {row['outcome'][:28]:28} {row['seconds']:8.4f} "
              f"{peak!s:>8}  {row['budget']}{extra}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "limits.json").write_text(json.dumps(rows, indent=2))
