"""One table over every benchmark's JSON in bench/results/: figure, goal, value, ratio.

`python -m bench` prints it after running them all; `python -m bench.summary` prints it
from the last results. A ratio is value ÷ goal for "at most" goals and goal ÷ value for
"at least" goals, so a ratio ≤ 1.00 always means the goal is met.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
_FLOOR_IMPORTS = "aiohttp, zeroconf, cryptography, yaml, av, numpy"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _import_floor_rss_mb() -> float:
    """RSS of a bare interpreter holding the libraries a playing daemon needs."""
    code = (f"import {_FLOOR_IMPORTS}\n"
            "print(int(open('/proc/self/statm').read().split()[1]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    return int(out.stdout) * os.sysconf("SC_PAGE_SIZE") / 1e6


def rows() -> list[tuple[str, str, float, float, str]]:
    """(figure, goal text, value, ratio, unit) for every result present."""
    out: list[tuple[str, str, float, float, str]] = []
    playback = _load("playback.json")
    if playback:
        for row in playback["ttfa"]:
            rtt = row["latency_ms"]
            if rtt:
                goal = 2.2 * rtt + 40
                out.append((f"first audio at {rtt:.0f} ms RTT", f"<= {goal:.0f} ms",
                            row["median_ms"], row["median_ms"] / goal, "ms"))
                seek_goal = 1.2 * rtt + 30
                if "seek_median_ms" in row:
                    out.append((f"seek at {rtt:.0f} ms RTT", f"<= {seek_goal:.0f} ms",
                                row["seek_median_ms"], row["seek_median_ms"] / seek_goal,
                                "ms"))
        for row in playback["cpu"]:
            ratio = row["ours_cpu_s_per_hour"] / row["reference_cpu_s_per_hour"]
            out.append((f"CPU/audio hour {row['format']} / PyAV ref", "<= 1.25 x",
                        ratio, ratio / 1.25, "x"))
        mem = playback["memory"]
        floor = _import_floor_rss_mb()
        ratio = mem["steady_rss_mb"] / floor
        out.append(("RSS playing (steady) / import floor", "<= 1.3 x", ratio, ratio / 1.3,
                    "x"))
        if "slope_kb_per_track" in mem:
            out.append(("RSS slope after gc+malloc_trim", "<= 0 kB/track (noise)",
                        mem["slope_kb_per_track"], float("nan"), "kB"))
    media = _load("bench_media.json")
    if media:
        ceiling = {("cenc" if "CTR" in r["case"] else "cbcs"): r["mb_per_s"]
                   for r in media["ceiling"]}
        for row in media["decrypt"]:
            scheme = "cbcs" if " cbcs " in row["case"] else "cenc"
            ratio = row["mb_per_s"] / ceiling[scheme]
            out.append((f"decrypt {row['case'][:40]}", ">= 0.5 of raw AES", ratio,
                        0.5 / ratio if ratio else float("inf"), "x"))
    ready = _load("bench_ready.json")
    if ready:
        out.append(("start to READY / import floor", f"<= {ready['goal_ratio']} x",
                    ready["ratio"], ready["ratio"] / ready["goal_ratio"], "x"))
    control = _load("control.json")
    if control and control.get("cpu_ms_per_1000_served") is not None:
        served = control["statuses"].get("200", 0)
        out.append((f"control: CPU per 1000 served ({control.get('phones', 1)} phones)",
                    "(reported)", control["cpu_ms_per_1000_served"], float("nan"), "ms"))
        out.append(("control: share of answers served (200)", "1.0",
                    served / max(1, control["sent"]), float("nan"), ""))
    return out


def main() -> None:
    table = rows()
    print(f"\n{'figure':<50} {'goal':>22} {'value':>10} {'ratio':>7}")
    for figure, goal, value, ratio, unit in table:
        ratio_s = "" if ratio != ratio else f"{ratio:.2f}"
        print(f"{figure:<50} {goal:>22} {value:>8.2f}{unit:>2} {ratio_s:>7}")
    load = os.getloadavg()
    print(f"(ratio <= 1.00: goal met; load average now {load[0]:.2f} {load[1]:.2f}"
          f" {load[2]:.2f}; each JSON in {RESULTS} has the load during its run)")


if __name__ == "__main__":
    main()
