"""The web app's first load in headless Chromium: bytes on the wire (gzip) and time to
interactive, unthrottled and with 4x CPU throttling (CDP), for a fresh browser (pairing
screen) and for a paired one (now-playing screen, after its API reads).

Time to interactive is the page's own `speakerd-interactive` mark: the moment the first
usable screen is shown with its handlers bound. Goals of the issue: <= 150 KB, <= 1.5 s.

Run: `python -m bench webapp` (prints a table, writes bench/results/webapp.json).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.core.redact import Secret
from tests.browser.chrome import browser
from tests.support.daemon_proc import NotifyListener, spawn

RESULTS = Path(__file__).parent / "results"
RUNS = 5
_MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource');
const mark = performance.getEntriesByName('speakerd-interactive')[0];
return {transfer: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
        decoded: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
        files: 1 + res.length, interactive_ms: mark ? mark.startTime : null};
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load(driver: Any, url: str, throttle: float) -> dict[str, Any]:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    driver.execute_cdp_cmd("Network.setBypassServiceWorker", {"bypass": True})
    driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": throttle})
    # a blank page first, so each run is a whole navigation with the service worker off
    driver.get("about:blank")
    driver.get(url)
    deadline = time.monotonic() + 30
    while True:
        found: dict[str, Any] = driver.execute_script(_MEASURE)
        if found["interactive_ms"] is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _pair(driver: Any, url: str, code: Secret) -> None:
    driver.get(url)
    deadline = time.monotonic() + 30
    while not driver.find_element("id", "screen-pair").is_displayed():
        if time.monotonic() > deadline:
            raise RuntimeError("the pairing screen did not show")
        time.sleep(0.05)
    driver.find_element("id", "pair-code").send_keys(code.reveal())
    driver.find_element("id", "pair-go").click()
    while not driver.find_element("id", "screen-now").is_displayed():
        if time.monotonic() > deadline:
            raise RuntimeError("pairing in the page did not finish")
        time.sleep(0.05)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        state = tmp / "state"
        state.mkdir(mode=0o700)
        port = _free_port()
        config = tmp / "config.yaml"
        config.write_text(f"control:\n  port: {port}\ndiscovery:\n  enabled: false\n"
                          "audio:\n  output: \"null\"\n")
        listener = NotifyListener(tmp / "notify.sock")
        daemon = spawn(["run", "--config", str(config)],
                       env={"STATE_DIRECTORY": str(state), "NOTIFY_SOCKET": str(listener.path)})
        rows: list[dict[str, Any]] = []
        try:
            listener.wait_for("READY", "1", timeout=180)
            url = f"https://127.0.0.1:{port}/"
            fresh = browser(tmp / "fresh")
            try:
                for throttle in (1.0, 4.0):
                    runs = [_load(fresh, url, throttle) for _ in range(RUNS)]
                    rows.append(_row("pairing screen (fresh)", throttle, runs))
            finally:
                fresh.quit()
            pair = spawn(["pair", "--open", "--config", str(config)],
                         env={"STATE_DIRECTORY": str(state)})
            out, _ = pair.communicate(timeout=60)
            match = re.search(r"Setup code: (\d{4}) (\d{4})", out)
            if match is None:
                raise RuntimeError("no setup code from speakerd pair --open")
            paired = browser(tmp / "paired")
            try:
                _pair(paired, url, Secret(match.group(1) + match.group(2)))
                for throttle in (1.0, 4.0):
                    runs = [_load(paired, url, throttle) for _ in range(RUNS)]
                    rows.append(_row("now playing (paired)", throttle, runs))
            finally:
                paired.quit()
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
            listener.close()
    print(f"{'first load':<26}{'CPU':>5}{'transfer KB':>13}{'decoded KB':>12}{'files':>7}"
          f"{'TTI ms (median)':>17}{'TTI ms (max)':>14}")
    for r in rows:
        print(f"{r['screen']:<26}{r['cpu_throttle']:>4.0f}x{r['transfer_kb']:>13.1f}"
              f"{r['decoded_kb']:>12.1f}{r['files']:>7}{r['tti_ms_median']:>17.0f}"
              f"{r['tti_ms_max']:>14.0f}")
    RESULTS.mkdir(exist_ok=True)
    out_file = RESULTS / "webapp.json"
    out_file.write_text(json.dumps({"runs_per_row": RUNS, "goal_transfer_kb": 150,
                                    "goal_tti_ms": 1500, "rows": rows}, indent=2))
    print(f"wrote {out_file}")


def _row(screen: str, throttle: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    tti = [float(r["interactive_ms"]) for r in runs if r["interactive_ms"] is not None]
    return {"screen": screen, "cpu_throttle": throttle,
            "transfer_kb": max(r["transfer"] for r in runs) / 1024,
            "decoded_kb": max(r["decoded"] for r in runs) / 1024,
            "files": max(r["files"] for r in runs),
            "tti_ms_median": statistics.median(tti) if tti else float("nan"),
            "tti_ms_max": max(tti) if tti else float("nan")}
