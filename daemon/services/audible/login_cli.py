"""`speakerd login audible --locale us`: the external (PKCE) login from a terminal.

Prints the sign-in address, reads back the address of the page the browser lands on (or
the bare code), registers the device and saves the session in the secret store. The
lead's `daemon/cli.py` builds the HttpClient, Endpoints and store and calls `run`.
Nothing secret is printed: not the verifier, not the code, not a token.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from daemon.contracts import audible as c
from daemon.core.clock import Clock
from daemon.core.errors import DaemonError
from daemon.core.redact import Secret
from daemon.services.audible import policy
from daemon.services.http import HttpClient

from . import login_transfer
from .client import AudibleClient
from .form_login import form_login
from .locales import Endpoints, get_locale
from .login import start_external_login
from .session import AudibleSession, SessionStore

Prompt = Callable[[str], Awaitable[str]]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `audible` to the `login` sub-command's subparsers."""
    parser = subparsers.add_parser(
        "audible",
        help="sign this speaker in to Audible (browser sign-in, then paste the address)",
        description=(
            "Shows an Amazon sign-in address. Open it in a browser, sign in (CAPTCHA and"
            " two-step codes are handled there), then paste the address of the page you end"
            " on - it says 'page not found', that is expected."
        ),
    )
    parser.add_argument(
        "--locale",
        default=None,
        choices=sorted(c.LOCALES),
        help="Audible marketplace (default us; with --import: the file's, checked if given)",
    )
    move = parser.add_mutually_exclusive_group()
    move.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        metavar="FILE",
        help="bring the device registration of an mkb79/audible-cli auth file (plain or"
        " encrypted) instead of signing in",
    )
    move.add_argument(
        "--export",
        dest="export_file",
        type=Path,
        metavar="FILE",
        help="write the saved sign-in as an auth file mkb79/audible-cli can load",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="the auth file's password is the first line of FILE (else it is asked for)",
    )
    parser.add_argument(
        "--encrypt",
        action="store_true",
        help="with --export: encrypt the file with a password (asked for)",
    )
    parser.add_argument(
        "--username-account",
        action="store_true",
        help="the account is a pre-Amazon Audible username account",
    )
    parser.add_argument(
        "--email",
        metavar="EMAIL",
        help="sign in here in the terminal instead of a browser (the password and each"
        " further step are asked for); a username account gives its username",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="sign in again even if a sign-in is saved (the old device"
        " registration is removed afterwards when possible)",
    )
    return parser


async def _terminal_prompt(text: str) -> str:
    return await asyncio.to_thread(input, text)


async def run(
    *,
    locale_code: str | None,
    http: HttpClient,
    clock: Clock,
    endpoints: Endpoints,
    store: SessionStore,
    with_username: bool = False,
    force: bool = False,
    prompt: Prompt | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    import_file: Path | None = None,
    export_file: Path | None = None,
    password_file: Path | None = None,
    encrypt: bool = False,
    email: str | None = None,
) -> int:
    """Run the login (or the import/export); returns the exit code (0 done, else sysexits)."""
    out = out or sys.stdout
    err = err or sys.stderr
    ask = prompt or _terminal_prompt
    if import_file is not None or export_file is not None:
        try:
            if import_file is not None:
                await login_transfer.import_auth_file(
                    import_file,
                    password=await login_transfer.password_for(
                        password_file=password_file, encrypt=False, confirm=False
                    ),
                    locale_code=locale_code,
                    http=http,
                    clock=clock,
                    endpoints=endpoints,
                    store=store,
                    out=out,
                )
            elif export_file is not None:
                await login_transfer.export_auth_file(
                    export_file,
                    password=await login_transfer.password_for(
                        password_file=password_file, encrypt=encrypt, confirm=True
                    ),
                    store=store,
                    out=out,
                )
        except DaemonError as exc:
            print(f"speakerd: {exc}", file=err)
            return exc.exit_code
        return 0
    try:
        locale = get_locale(locale_code or c.DEFAULT_LOCALE)
        saved = await asyncio.to_thread(store.load, policy.SESSION_SECRET_NAME)
        old: AudibleSession | None = None
        if saved is not None:
            try:
                old = AudibleSession.from_json(saved)
            except DaemonError:
                old = None  # a damaged record is simply replaced
            if old is not None and not force:
                print(
                    f"Audible is already signed in ({old.locale_code}); use --force to sign"
                    " in again.",
                    file=out,
                )
                return 0
        if email is not None:
            # Sign-in in this terminal: every step (CAPTCHA, device choice, one-time code,
            # CVF, approval) is asked for here by form_login's terminal prompts.
            password = Secret(await asyncio.to_thread(getpass.getpass, "Amazon password: "))
            login = await form_login(
                http, locale, endpoints, email, password, with_username=with_username
            )
        else:
            pending = start_external_login(locale, endpoints, with_username=with_username)
            print(
                "Open this address in a browser and sign in to Audible:\n\n"
                f"    {pending.signin_url}\n\n"
                "After signing in the browser shows a 'page not found' page. Copy that"
                " page's whole address and paste it here.",
                file=out,
            )
            pasted = await ask("Address: ")
            login = pending.complete(pasted)
        client = await AudibleClient.register(
            login, http=http, clock=clock, endpoints=endpoints, store=store
        )
    except DaemonError as exc:
        print(f"speakerd: {exc}", file=err)
        return exc.exit_code
    if old is not None:
        # Only now, with the new registration saved, remove the old one: every registration
        # shows in the user's device list (§4.3), and a failed login must keep the old one.
        try:
            await AudibleClient(old, http=http, clock=clock, endpoints=endpoints).deregister()
        except DaemonError as exc:
            print(f"note: the old registration could not be removed: {exc}", file=err)
    who = client.session.customer_name or "your account"
    print(f"Signed in to Audible ({locale.country_code}) as {who}.", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m daemon.services.audible.login_cli --base URL --secrets DIR …`: the same
    login against one origin (the sandbox), with its own secret store; for development
    and the terminal tests. `speakerd login audible` is the product's entry point."""
    from daemon.core.clock import SystemClock
    from daemon.state.secrets import SecretStore

    top = argparse.ArgumentParser(prog="login_cli")
    top.add_argument("--base", required=True, help="origin serving every Audible host")
    top.add_argument("--secrets", type=Path, required=True, help="secret store directory")
    sub = top.add_subparsers(dest="service", required=True)
    add_parser(sub)
    args = top.parse_args(argv)
    store = SecretStore.open(args.secrets / "secrets", key_file=args.secrets / "device.key")
    clock = SystemClock()

    async def go() -> int:
        async with HttpClient(clock=clock) as http:
            return await run(
                locale_code=args.locale,
                http=http,
                clock=clock,
                endpoints=Endpoints.sandbox(args.base),
                store=store,
                with_username=args.username_account,
                force=args.force,
                import_file=args.import_file,
                export_file=args.export_file,
                password_file=args.password_file,
                encrypt=args.encrypt,
                email=args.email,
            )

    return asyncio.run(go())


if __name__ == "__main__":
    raise SystemExit(main())
