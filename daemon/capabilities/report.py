"""`speakerd probe --capabilities`: its arguments, the derivation they ask for, printing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from daemon.capabilities.alsa import probe_alsa_caps
from daemon.capabilities.decoders import available_decoders
from daemon.capabilities.derive import Derivation, derive_capabilities
from daemon.capabilities.profiles import load_board, load_output
from daemon.core.tiers import Capability


def add_capabilities_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", help="board profile (hardware/boards/<name>.yaml)")
    parser.add_argument("--dac", help="output profile (hardware/outputs/<name>.yaml)")
    parser.add_argument("--hardware-dir", type=Path, default=None,
                        help="directory holding boards/ and outputs/")
    parser.add_argument("--allow", default=None,
                        help="comma-separated tokens the configuration allows (default: all)")
    parser.add_argument("--probe-device", default=None,
                        help="ALSA device to probe for its formats instead of the profile's")
    parser.add_argument("--json", action="store_true", help="print JSON")


async def derivation_from_args(args: argparse.Namespace, *, board: str = "generic-x86",
                               dac: str = "generic-usb",
                               allow: Iterable[str] | None = None) -> Derivation:
    """Build a derivation from CLI args, falling back to the config's board/dac/allow."""
    directory = args.hardware_dir
    board_p = load_board(args.board or board, directory)
    output_p = load_output(args.dac or dac, directory)
    allowed: Iterable[str] = (args.allow.split(",") if args.allow
                              else allow if allow is not None
                              else [c.value for c in Capability])
    caps = await probe_alsa_caps(args.probe_device) if args.probe_device else None
    return derive_capabilities(output_p, decoders=available_decoders(), allow=allowed,
                               board=board_p, caps=caps)


def print_derivation(derivation: Derivation, *, as_json: bool = False,
                     file: IO[str] | None = None) -> None:
    out = file or sys.stdout
    if as_json:
        import json

        print(json.dumps(derivation.to_dict(), indent=2), file=out)
    else:
        print("\n".join(derivation.lines()), file=out)
