"""`speakerd login audible --import FILE` / `--export FILE`: sessions that move between tools.

Import reads an mkb79/audible-cli auth file (plain, or encrypted with its password),
checks it completely, proves it against Audible with one token refresh, and only then
replaces the saved session; any failure leaves the previous sign-in as it was. Export
writes our session as an auth file mkb79 loads (0600; encrypted when a password is
given). Passwords come from a prompt without echo or from a file, never from argv.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import TextIO

from daemon.core.clock import Clock
from daemon.core.errors import AuthError, StateError
from daemon.core.redact import Secret
from daemon.services.audible import policy
from daemon.services.http import HttpClient
from daemon.state.files import atomic_write

from .authfile import auth_file_bytes, read_auth_file
from .client import AudibleClient
from .locales import Endpoints
from .session import AudibleSession, SessionStore


def read_password_file(path: Path) -> Secret:
    """The first line of `path` (the password of an auth file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AuthError(f"password file {path} cannot be read: {why}") from None
    line = text.splitlines()[0] if text else ""
    if not line:
        raise AuthError(f"password file {path} is empty")
    return Secret(line)


async def _ask_password(prompt: str) -> Secret:
    return Secret(await asyncio.to_thread(getpass.getpass, prompt))


async def import_auth_file(
    path: Path,
    *,
    password: Secret | None,
    locale_code: str | None,
    http: HttpClient,
    clock: Clock,
    endpoints: Endpoints,
    store: SessionStore,
    ask_password: bool = True,
    out: TextIO,
) -> AudibleSession:
    """Read, verify (one refresh) and save; raises DaemonError with nothing stored."""
    try:
        session = await asyncio.to_thread(read_auth_file, path, password, locale=locale_code)
    except AuthError as exc:
        if (
            password is not None
            or not ask_password
            or "is encrypted" not in str(exc)
            or not sys.stdin.isatty()
        ):
            raise
        password = await _ask_password(f"Password of {path.name}: ")
        session = await asyncio.to_thread(read_auth_file, path, password, locale=locale_code)
    # A refresh proves the registration is alive before it replaces a working sign-in.
    probe = AudibleClient(session, http=http, clock=clock, endpoints=endpoints)
    try:
        await probe.refresh_access_token()
    except AuthError:
        raise AuthError(
            f"auth file {path} holds a device registration Audible no longer accepts"
        ) from None
    session = probe.session
    await asyncio.to_thread(store.save, policy.SESSION_SECRET_NAME, session.to_json())
    who = session.customer_name or "your account"
    print(f"Imported the Audible sign-in ({session.locale_code}) of {who}.", file=out)
    return session


def _writable_target(path: Path) -> Path:
    target = path.expanduser()
    if not target.parent.is_dir():
        raise StateError("the folder for the auth file does not exist", path=str(target.parent))
    return target


async def export_auth_file(
    path: Path, *, password: Secret | None, store: SessionStore, out: TextIO
) -> None:
    """Write the saved session as an mkb79 auth file (0600, atomic)."""
    saved = await asyncio.to_thread(store.load, policy.SESSION_SECRET_NAME)
    if saved is None:
        raise AuthError("Audible is not signed in: nothing to export")
    session = AudibleSession.from_json(saved)
    data = await asyncio.to_thread(auth_file_bytes, session, password)
    target = await asyncio.to_thread(_writable_target, path)
    await asyncio.to_thread(atomic_write, target, data)
    kind = "encrypted " if password is not None else ""
    print(
        f"Wrote the Audible sign-in to the {kind}auth file {target} (keep it private: it"
        " is this speaker's device registration).",
        file=out,
    )


async def password_for(
    *, password_file: Path | None, encrypt: bool, confirm: bool
) -> Secret | None:
    """The password from `--password-file`, else (with `encrypt`) a prompt; None if neither."""
    if password_file is not None:
        return read_password_file(password_file)
    if not encrypt:
        return None
    first = await _ask_password("Password for the auth file: ")
    if confirm:
        again = await _ask_password("The same password again: ")
        if again.reveal() != first.reveal():
            raise AuthError("the two passwords differ; nothing was written")
    if not first.reveal():
        raise AuthError("an empty password cannot encrypt the auth file")
    return first


__all__ = [
    "export_auth_file",
    "import_auth_file",
    "password_for",
    "read_password_file",
]
