"""`speakerd login amazon`: code-based linking from a terminal.

Prints the verification URL and the code, polls until the user has signed in, and stores
the tokens in the secret store. The command line builds the `LwaClient` from the
configuration and calls `add_parser` / `run`. The device code is never printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from daemon.core.errors import DaemonError
from daemon.services.lwa import CodePair, LwaClient


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `amazon` to the `login` sub-command's subparsers."""
    parser = subparsers.add_parser(
        "amazon",
        help="link this speaker to an Amazon account (code-based linking)",
        description=(
            "Shows a short code and a web address. Open the address on a phone or computer,"
            " sign in to Amazon and enter the code; the speaker then stores its sign-in."
        ),
    )
    parser.add_argument(
        "--codes",
        type=int,
        default=1,
        metavar="N",
        help="offer up to N codes if one expires before it is entered (default 1)",
    )
    return parser


def format_code(pair: CodePair) -> str:
    minutes = max(1, round(pair.expires_in / 60))
    return (
        f"To link this speaker with Amazon Music, visit\n\n    {pair.verification_uri}\n\n"
        f"and enter the code\n\n    {pair.user_code}\n\n"
        f"The code is valid for about {minutes} minute{'s' if minutes != 1 else ''}."
        " Waiting for you to sign in..."
    )


async def run(
    lwa: LwaClient,
    *,
    max_code_pairs: int = 1,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the linking flow; returns the process exit code (0 linked, else sysexits)."""
    out = out or sys.stdout
    err = err or sys.stderr

    def show(pair: CodePair) -> None:
        print(format_code(pair), file=out, flush=True)

    try:
        await lwa.link(show, max_code_pairs=max(1, max_code_pairs))
    except DaemonError as exc:
        print(f"speakerd: {exc}", file=err, flush=True)
        return exc.exit_code
    print("Linked. Amazon Music is ready on this speaker.", file=out, flush=True)
    return 0
