"""`speakerd sandbox`: run the sandbox alone, or mint a test Widevine device.

    speakerd sandbox [--host H] [--port N] [--data-dir D] [--catalog small|default] [--tls]
    speakerd sandbox mint-device OUT.wvd [--data-dir D] [--type ANDROID|CHROME]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from daemon.contracts import amazon_music as am
from daemon.sandbox import choices
from daemon.sandbox.config import CATALOGS, SandboxConfig

EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CONFIG = 78


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `sandbox` (and its `mint-device` action) on the top-level subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox", help="run the local emulator of Amazon Music, LWA, licences and Audible",
        description="Run the sandbox until Ctrl-C and print its base URL. It binds to "
        "loopback unless told otherwise.")
    _common(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--catalog", choices=CATALOGS, default="default",
                        help="content catalog (small: 3 tracks, fast first start)")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a generated test CA (its path is printed)")
    parser.add_argument("--admin", action="store_true",
                        help="enable the /_sandbox/ test hooks")
    parser.add_argument("--auto-approve", action="store_true",
                        help="approve code pairs at the first poll (no person needed)")
    parser.add_argument("--tier", choices=[t.value for t in choices.Tier],
                        default=choices.Tier.UNLIMITED.value, help="account tier")
    parser.add_argument("--licence-backend", choices=[b.value for b in am.LicenceBackend],
                        default=am.LicenceBackend.WIDEVINE_TEST.value, help="licence backend")
    parser.add_argument("--seed", type=int, default=0, help="content and fault seed")
    actions = parser.add_subparsers(dest="sandbox_action", metavar="ACTION")
    mint = actions.add_parser("mint-device", help="write a test Widevine device (.wvd)",
                              description="Mint a pywidevine .wvd whose certificate chains to "
                              "this sandbox's test root.")
    mint.add_argument("out", type=Path, metavar="OUT.wvd")
    mint.add_argument("--type", dest="device_type", choices=("ANDROID", "CHROME"),
                      default="ANDROID")
    _common(mint)
    parser.set_defaults(func=run)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="content and key cache (default: ~/.cache/speakerd/sandbox)")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log at debug level")


def run(args: argparse.Namespace) -> int:
    """Entry point of `speakerd sandbox`; returns a sysexits code."""
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    data_dir: Path | None = getattr(args, "data_dir", None)
    if getattr(args, "sandbox_action", None) == "mint-device":
        return _mint(args.out, data_dir, args.device_type)
    try:
        config = SandboxConfig(
            host=args.host, port=args.port, data_dir=data_dir, catalog=args.catalog,
            tls=args.tls, admin_enabled=args.admin, auto_approve=args.auto_approve,
            tier=args.tier, licence_backend=args.licence_backend, seed=args.seed)
    except ValueError as exc:
        print(f"speakerd sandbox: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        return asyncio.run(_serve(config))
    except KeyboardInterrupt:
        return EX_OK
    except OSError as exc:
        print(f"speakerd sandbox: cannot start: {exc.strerror or exc}", file=sys.stderr)
        return EX_UNAVAILABLE


async def _serve(config: SandboxConfig, ready: asyncio.Event | None = None) -> int:
    from daemon.sandbox.server import Sandbox

    started = time.monotonic()
    sandbox = Sandbox(config)
    async with sandbox:
        took = time.monotonic() - started
        print(f"sandbox: {sandbox.base_url}", flush=True)
        print(f"  lwa client_id: {sandbox.lwa_client_id}", flush=True)
        print(f"  verification page: {sandbox.base_url}{choices.SANDBOX_VERIFICATION_PATH}",
              flush=True)
        if sandbox.ca_path is not None:
            print(f"  test CA: {sandbox.ca_path}", flush=True)
        print(f"  ready in {took:.2f} s (catalog {config.catalog}); Ctrl-C stops", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready.set()
        await stop.wait()
    return EX_OK


def _mint(out: Path, data_dir: Path | None, device_type: str) -> int:
    config = SandboxConfig() if data_dir is None else replace(SandboxConfig(), data_dir=data_dir)
    try:
        from daemon.sandbox.licence import SandboxRoot, WidevineUnavailable, mint_device
    except ImportError as exc:
        print(f"speakerd sandbox mint-device: unavailable: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    try:
        root = SandboxRoot.load_or_create(config.resolved_data_dir / "widevine")
        serial = mint_device(out, root, "CHROME" if device_type == "CHROME" else "ANDROID")
    except WidevineUnavailable as exc:
        print(f"speakerd sandbox mint-device: {exc.message}", file=sys.stderr)
        return EX_UNAVAILABLE
    except OSError as exc:
        print(f"speakerd sandbox mint-device: cannot write {out}: {exc.strerror}",
              file=sys.stderr)
        return EX_CONFIG
    print(f"minted {device_type} device {serial} -> {out}", flush=True)
    return EX_OK
