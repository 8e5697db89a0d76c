"""Runs one Announcer inside a network namespace for the avahi tests.

Usage: python -m tests.integration.discovery.announce_helper STATE_DIR NAME IFACE [PORT]
Prints JSON lines: {"event": "registered", "name": ...}, {"event": "renamed", ...},
{"event": "network", ...}, {"event": "closing"}, {"event": "closed"}. Reads commands from
stdin: "quit", "pair 1"/"pair 0", "rename NEW NAME".
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from daemon.core.clock import SystemClock
from daemon.core.config import DiscoveryConfig
from daemon.discovery.announcer import Announcer, AnnouncerTuning


def emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


async def main() -> None:
    state, name, iface = Path(sys.argv[1]), sys.argv[2], sys.argv[3]  # iface: a,b for several
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 8443
    config = DiscoveryConfig(interfaces=tuple(iface.split(",")), ip_version="v4")
    tuning = AnnouncerTuning(poll_interval_s=0.5, settle_s=0.3, host_label="speakerd-test")
    announcer = Announcer(state, SystemClock(), config, model="speakerd", tuning=tuning,
                          name=name, port=port,
                          device_id="0a1b2c3d4e5f", pairing_open=True,
                          on_network=lambda names, addrs: emit("network", addresses=addrs),
                          on_renamed=lambda new: emit("renamed", name=new))
    await announcer.start()
    emit("registered", name=announcer.name, healthy=announcer.healthy)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "quit":
            break
        if line.startswith("pair "):
            await announcer.set_pairing_open(line.endswith("1"))
            emit("updated")
        elif line.startswith("rename "):
            await announcer.rename(line[len("rename "):])
            emit("registered", name=announcer.name, healthy=announcer.healthy)
    emit("closing")
    await announcer.aclose()
    emit("closed", healthy=announcer.healthy)


if __name__ == "__main__":
    asyncio.run(main())
