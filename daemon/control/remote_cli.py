"""`speakerd remote ...`: the reference phone client on the command line.

`remote discover` lists the speakers on the LAN (mDNS); `remote pair HOST[:PORT]` (an
address, a `.local` name or an instance name, resolved through mDNS when the system
cannot) runs the phone side of pairing (the code is read from the
terminal, never from argv, so it does not show in /proc/<pid>/cmdline) and stores the
pairing in the user's config directory (0600); the other verbs talk to that speaker over
HTTPS pinned to its certificate. `daemon.cli` registers `add_parser`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from daemon.control import lookup
from daemon.control.client import RemoteClient, RemoteError, load_pairing, pair, save_pairing
from daemon.control.frontdoor import split_host
from daemon.core.redact import Secret

DEFAULT_PORT = 7443

# verb -> (method, API route)
_VERBS: dict[str, tuple[str, str]] = {
    "status": ("GET", "/status"),
    "info": ("GET", "/info"),
    "pause": ("POST", "/player/pause"),
    "resume": ("POST", "/player/resume"),
    "stop": ("POST", "/player/stop"),
    "next": ("POST", "/player/next"),
    "previous": ("POST", "/player/previous"),
    "volume": ("POST", "/player/volume"),
    "seek": ("POST", "/player/seek"),
    "play": ("POST", "/player/play"),
    "queue": ("GET", "/queue"),
    "phones": ("GET", "/pairings"),
    "revoke": ("DELETE", "/pairings/{arg}"),
}


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "speakerd"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `remote` command to `subparsers` (from ArgumentParser.add_subparsers)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "remote", help="control a speaker from this machine, like a phone")
    parser.add_argument("--config-dir", type=Path, default=None,
                        help="where the pairing is stored (default ~/.config/speakerd)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    d = verbs.add_parser("discover", help="list the speakers on this network (mDNS)")
    d.add_argument("--timeout", type=float, default=3.0, help="seconds to listen")
    p = verbs.add_parser("pair", help="pair with a speaker (asks for its setup code)")
    p.add_argument("host", help="HOST or HOST:PORT of the speaker (name.local, instance name"
                   " from `discover`, or address)")
    p.add_argument("--name", default=None, help="name of this client on the speaker")
    for verb in ("status", "info", "pause", "resume", "stop", "next", "previous", "queue",
                 "phones"):
        verbs.add_parser(verb)
    v = verbs.add_parser("volume", help="set the volume 0-100")
    v.add_argument("level", type=int)
    s = verbs.add_parser("seek", help="seek to a position in seconds")
    s.add_argument("seconds", type=float)
    pl = verbs.add_parser("play", help="play by service id")
    pl.add_argument("service_id")
    pl.add_argument("--kind", default="track", choices=["track", "album", "playlist", "station"])
    r = verbs.add_parser("revoke", help="revoke a paired phone by id")
    r.add_argument("phone_id")
    return parser


def _split_target(target: str) -> tuple[str, int]:
    parsed = split_host(target if not target.count(":") > 1 else f"[{target}]")
    if parsed is None:
        raise RemoteError("HOST must be a name or address, optionally with :PORT")
    host, port = parsed
    return host.strip("[]"), port or DEFAULT_PORT


def _body(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.verb == "volume":
        return {"level": args.level}
    if args.verb == "seek":
        return {"position_ms": round(args.seconds * 1000)}
    if args.verb == "play":
        return {"kind": args.kind, "service_id": args.service_id}
    return None


async def _run(args: argparse.Namespace, code: Secret | None) -> Any:
    directory = args.config_dir or config_dir()
    if args.verb == "discover":
        return {"speakers": [f.to_dict() for f in await lookup.discover(args.timeout)]}
    if args.verb == "pair":
        name, port = _split_target(args.host)
        if code is None:
            raise RemoteError("no setup code given")
        host = await lookup.resolve(name)
        pairing = await pair(host, port, code, args.name or socket.gethostname()[:64])
        path = save_pairing(directory, pairing)
        return {"paired": True, "device_id": pairing.device_id,
                "fingerprint": pairing.fingerprint, "stored": str(path)}
    method, route = _VERBS[args.verb]
    route = route.format(arg=getattr(args, "phone_id", ""))
    async with RemoteClient(load_pairing(directory)) as client:
        return await client.request(method, route, _body(args))


def run(args: argparse.Namespace, *, code: Secret | None = None) -> int:
    """Execute a parsed `remote` command; prints JSON; returns the exit status.

    `code` is for tests; interactively the setup code is read with getpass.
    """
    if args.verb == "pair" and code is None:
        code = Secret(getpass.getpass("Setup code shown by the speaker: ").replace(" ", ""))
    try:
        result = asyncio.run(_run(args, code))
    except RemoteError as exc:
        print(f"speakerd remote: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if not isinstance(result, str) else result)
    return 0
