"""Control API under load while playing: `speakerd run` plays a HI_RES track to
the real-time paced `null` output; a second process acts as several paired phones, each
from its own loopback address (the API limits requests per source address), sending
authenticated GET /status at a fixed total rate over keep-alive HTTPS for a while. Reports
served requests, latency percentiles, the daemon's CPU per 1 000 served requests (its CPU
during the load less its CPU while only playing, over as long), the output's underruns,
and the load average.

Run: `python -m bench control` (prints a table, writes bench/results/control.json).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PHONES = 10
RATE = 400.0  # 40/s per phone: under the API's per-address limit of 50/s


async def _load(port: int, tokens: list[str], rate: float, seconds: float
                ) -> dict[str, Any]:
    import contextlib

    import aiohttp

    # The phone pins the speaker's certificate; here the load only needs the token.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://127.0.0.1:{port}/api/v1/status"
    latencies: dict[int, list[float]] = {}  # by status (0 = no answer)
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=16,
                                           local_addr=(f"127.0.0.{2 + n}", 0)),
            headers={"Authorization": f"Bearer {token}"})) for n, token in enumerate(tokens)]

        async def one(session: aiohttp.ClientSession) -> None:
            started = time.perf_counter()
            status = 0
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    status = resp.status
            except aiohttp.ClientError:
                status = 0
            latencies.setdefault(status, []).append((time.perf_counter() - started) * 1000)

        tasks = set()
        start = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) - start < seconds:
            due = int((now - start) * rate) - sent
            for _ in range(due):
                task = asyncio.create_task(one(sessions[sent % len(sessions)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
    everything = sorted(v for values in latencies.values() for v in values)
    served = sorted(latencies.get(200, [0.0]))
    return {"sent": sent, "rate": sent / seconds,
            "statuses": {str(k): len(v) for k, v in sorted(latencies.items())},
            "p50_ms": statistics.median(everything), "p99_ms": _p99(everything),
            "max_ms": everything[-1], "served_p50_ms": statistics.median(served),
            "served_p99_ms": _p99(served)}


def _p99(values: list[float]) -> float:
    return values[max(0, int(len(values) * 0.99) - 1)]


def _load_process(port: int, tokens: list[str], rate: float, seconds: float,
                  out: Any) -> None:
    out.put(asyncio.run(_load(port, tokens, rate, seconds)))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(rate: float = RATE, seconds: float = 30.0, content_dir: Path | None = None,
        phones: int = PHONES) -> dict[str, Any]:
    """Start the daemon, pair the phones, play HI_RES, load the API from a second process."""
    from daemon.cli import build_parser
    from daemon.control import remote_cli
    from daemon.control.client import load_pairing
    from daemon.core.redact import Secret
    from tests.support.daemon_proc import NotifyListener, spawn

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        state = tmp / "state"
        state.mkdir(mode=0o700)
        port = _free_port()
        config = tmp / "config.yaml"
        config.write_text(
            f"sandbox:\n  data_dir: {content_dir or tmp / 'content'}\n"
            f"control:\n  port: {port}\ndiscovery:\n  enabled: false\n"
            "audio:\n  output: 'null'\nquality:\n  allow: [STD_RES, HI_FI, HI_RES]\n"
            "playback:\n  autoplay: 'track:Carrier Wave'\n")
        listener = NotifyListener(tmp / "notify.sock")
        env = {"STATE_DIRECTORY": str(state)}
        daemon = spawn(["run", "--config", str(config)],
                       env={**env, "NOTIFY_SOCKET": str(listener.path)})
        try:
            listener.wait_for("READY", "1", timeout=180)
            tokens = []
            for n in range(phones):
                pair = spawn(["pair", "--open", "--config", str(config)], env=env)
                out, _ = pair.communicate(timeout=60)
                match = re.search(r"Setup code: (\d{4}) (\d{4})", out)
                assert match, out
                phone = tmp / f"phone-{n}"
                args = build_parser(["remote"]).parse_args(
                    ["remote", "--config-dir", str(phone), "pair", f"127.0.0.1:{port}"])
                assert remote_cli.run(args, code=Secret(match.group(1) + match.group(2))) == 0
                tokens.append(load_pairing(phone).token.reveal())
            token = tokens[0]
            status = asyncio.run(_status(port, token))
            deadline = time.monotonic() + 60
            while status["state"] != "playing" and time.monotonic() < deadline:
                time.sleep(0.2)
                status = asyncio.run(_status(port, token))
            before = status["underruns"]
            idle_s = min(10.0, seconds)
            cpu0 = _cpu_s(daemon.pid)
            time.sleep(idle_s)  # playing, no requests: the daemon's own CPU rate
            idle_rate = (_cpu_s(daemon.pid) - cpu0) / idle_s
            queue: Any = multiprocessing.get_context("spawn").Queue()
            proc = multiprocessing.get_context("spawn").Process(
                target=_load_process, args=(port, tokens, rate, seconds, queue))
            cpu0 = _cpu_s(daemon.pid)
            proc.start()
            result: dict[str, Any] = queue.get(timeout=seconds + 120)
            proc.join(30)
            load_cpu = _cpu_s(daemon.pid) - cpu0
            after_status = asyncio.run(_status(port, token))
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
            listener.close()
    import os

    served = result["statuses"].get("200", 0)
    extra = max(0.0, load_cpu - idle_rate * seconds)
    result.update({"phones": phones, "idle_cpu_per_s": idle_rate, "load_cpu_s": load_cpu,
                   "cpu_ms_per_1000_served": extra / served * 1e6 if served else None,
                   "loadavg": os.getloadavg(),
                   "target_rate": rate, "seconds": seconds, "underruns_before": before,
                   "underruns_after": after_status["underruns"],
                   "state_after": after_status["state"],
                   "track": (after_status.get("track") or {}).get("format")})
    return result


async def _status(port: int, token: str) -> dict[str, Any]:
    import aiohttp

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession() as session, session.get(
            f"https://127.0.0.1:{port}/api/v1/status", ssl=context,
            headers={"Authorization": f"Bearer {token}"}) as resp:
        return dict(await resp.json())


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    result = run()
    print("\nControl API under load while playing HI_RES (GET /status over HTTPS)")
    statuses = result["statuses"]
    print(f"{'rate/s':>7} {'sent':>6} {'200':>6} {'429':>6} {'other':>6} {'p50 ms':>7}"
          f" {'p99 ms':>7} {'200 p99':>8} {'max ms':>7} {'underruns':>9}")
    other = result["sent"] - statuses.get("200", 0) - statuses.get("429", 0)
    print(f"{result['rate']:>7.0f} {result['sent']:>6} {statuses.get('200', 0):>6}"
          f" {statuses.get('429', 0):>6} {other:>6} {result['p50_ms']:>7.2f}"
          f" {result['p99_ms']:>7.2f} {result['served_p99_ms']:>8.2f} {result['max_ms']:>7.1f}"
          f" {result['underruns_after'] - result['underruns_before']:>9}")
    print(f"{result['phones']} phones; daemon CPU per 1000 served requests:"
          f" {result['cpu_ms_per_1000_served'] or float('nan'):.0f} ms"
          f" (idle playing {result['idle_cpu_per_s'] * 100:.1f} % of a core);"
          f" load average {' '.join(f'{v:.2f}' for v in result['loadavg'])}")
    print("(429: the API's per-address limit of 50 requests/s with a burst of 100 at work)")
    out = RESULTS / "control.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
