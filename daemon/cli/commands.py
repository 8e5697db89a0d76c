"""Subcommands that need the configuration or the state directory: `login`, and `probe`
(a manifest's plan and selection, or, without a manifest, the capability derivation)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from daemon.core.clock import SystemClock
from daemon.core.config import Config, load_config, resolve_state_dir
from daemon.core.errors import ConfigError
from daemon.state.files import ensure_private_dir
from daemon.state.secrets import open_secret_store


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config) if getattr(args, "config", None) else Config()


# --- login -------------------------------------------------------------------------------

def add_login(subparsers: Any) -> None:
    from daemon.services import login_amazon
    from daemon.services.audible import login_cli

    login = subparsers.add_parser(
        "login", help="sign this speaker in to a service",
        description="Sign in once from the terminal; the daemon keeps the sign-in encrypted"
        " in its state directory.")
    services = login.add_subparsers(dest="service", metavar="SERVICE", required=True)
    for parser, func in ((login_amazon.add_parser(services), _run_login_amazon),
                         (login_cli.add_parser(services), _run_login_audible)):
        parser.add_argument("--config", type=Path, metavar="FILE",
                            help="configuration file (for the state directory and endpoints)")
        parser.set_defaults(func=func)


def _run_login_amazon(args: argparse.Namespace) -> int:
    from daemon.services import login_amazon
    from daemon.services.http import HttpClient
    from daemon.services.lwa import LwaClient, LwaSettings

    config = _config(args)
    if config.service == "sandbox":
        print("With service: sandbox the daemon links itself to its embedded sandbox;"
              " there is nothing to do. Set service: amazon to link a real account.")
        return 0
    state = ensure_private_dir(resolve_state_dir(config))
    store = open_secret_store(state)
    clock = SystemClock()

    async def go() -> int:
        async with HttpClient(clock=clock) as http:
            lwa = LwaClient(http=http, store=store, clock=clock,
                            settings=LwaSettings(client_id=config.amazon.client_id,
                                                 base_url=config.amazon.lwa_url,
                                                 language=config.amazon.accept_language))
            try:
                return await login_amazon.run(lwa, max_code_pairs=args.codes)
            finally:
                await lwa.aclose()

    return asyncio.run(go())


def _run_login_audible(args: argparse.Namespace) -> int:
    from daemon.services.audible import login_cli
    from daemon.services.audible.locales import Endpoints
    from daemon.services.http import HttpClient

    config = _config(args)
    if config.service == "sandbox":
        raise ConfigError("`speakerd login audible` signs in to the real Audible; set"
                          " service: amazon in the configuration", path="service")
    state = ensure_private_dir(resolve_state_dir(config))
    store = open_secret_store(state)
    clock = SystemClock()

    async def go() -> int:
        async with HttpClient(clock=clock) as http:
            return await login_cli.run(locale_code=args.locale, http=http, clock=clock,
                                       endpoints=Endpoints(), store=store,
                                       with_username=args.username_account, force=args.force,
                                       import_file=args.import_file,
                                       export_file=args.export_file,
                                       password_file=args.password_file,
                                       encrypt=args.encrypt, email=args.email)

    return asyncio.run(go())


# --- probe -------------------------------------------------------------------------------

DERIVE = "derive"


def add_probe(subparsers: Any) -> None:
    from daemon.cli import probe

    probe.add_parser(subparsers)
    parser = subparsers.choices["probe"]
    # `speakerd probe --capabilities` alone explains the derivation, so the source is optional.
    for action in parser._actions:  # argparse has no public way to relax a positional
        if action.dest == "source":
            action.nargs = "?"
            action.default = None
        if action.dest == "capabilities":
            action.nargs = "?"
            action.const = DERIVE
            action.help = ("comma-separated tokens to claim; alone (or without a manifest):"
                           " derive them from the hardware profiles and explain how")
    # The derivation's options (add_capabilities_args minus --json, which probe has).
    parser.add_argument("--board", help="board profile (hardware/boards/<name>.yaml)")
    parser.add_argument("--dac", help="output profile (hardware/outputs/<name>.yaml)")
    parser.add_argument("--hardware-dir", type=Path, default=None,
                        help="profile directory (default: the shipped hardware/)")
    parser.add_argument("--allow", default=None,
                        help="comma-separated tokens the config allows (default: all)")
    parser.add_argument("--probe-device", default=None,
                        help="ALSA device whose formats to probe instead of the profile's")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="take board, output and allowed qualities from this config")
    parser.set_defaults(func=_run_probe)


def _run_probe(args: argparse.Namespace) -> int:
    from daemon.capabilities import derivation_from_args, print_derivation
    from daemon.cli import probe

    config = _config(args)
    if args.source is None or args.capabilities == DERIVE:
        derivation = asyncio.run(derivation_from_args(
            args, board=config.audio.board, dac=config.audio.dac, allow=config.quality.allow))
        if args.source is None:
            print_derivation(derivation, as_json=args.json)
            return 0
        args.capabilities = ",".join(sorted(t.value for t in derivation.tokens)) or "STD_RES"
    return probe.run(args)


# --- pair and status on the device (local socket, service user only) ------------------------

def add_local(subparsers: Any) -> None:
    pair = subparsers.add_parser(
        "pair", help="open the pairing window and show the setup code",
        description="Ask the running daemon, over its local socket (only the service user"
        " can open it), to open a 5-minute pairing window; prints the 8-digit setup code.")
    pair.add_argument("--open", action="store_true", required=True,
                      help="open the pairing window now")
    pair.add_argument("--config", type=Path, metavar="FILE",
                      help="configuration file (to find the state directory)")
    pair.set_defaults(func=_run_pair)
    status = subparsers.add_parser(
        "status", help="show the running daemon's pairing status",
        description="Ask the running daemon over its local socket how pairing stands.")
    status.add_argument("--config", type=Path, metavar="FILE",
                        help="configuration file (to find the state directory)")
    status.set_defaults(func=_run_status)


def _run_pair(args: argparse.Namespace) -> int:
    from daemon.control.local import request_local

    state = resolve_state_dir(_config(args))
    reply = asyncio.run(request_local(state, "pair-open"))
    code = str(reply.get("code", ""))
    print(f"Pairing is open for {int(reply.get('seconds_left', 0)) // 60} minutes."
          f" Setup code: {code[:4]} {code[4:]}")
    return 0


def _run_status(args: argparse.Namespace) -> int:
    import json

    from daemon.control.local import request_local

    state = resolve_state_dir(_config(args))
    print(json.dumps(asyncio.run(request_local(state, "status")), indent=2))
    return 0


def add_remote(subparsers: Any) -> None:
    """`speakerd remote`: the reference phone client (pairs, then controls over HTTPS)."""
    from daemon.control import remote_cli

    remote_cli.add_parser(subparsers).set_defaults(func=remote_cli.run)
