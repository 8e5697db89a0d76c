"""Device registrations of the Audible sandbox kept on disk, so they outlive a restart.

A device registered by one tool (speakerd, mkb79/Audible, audible-cli) must keep working
after the sandbox restarts, exactly as a real registration does. The file holds what the
sandbox needs to recognise the device again: serial, type, customer, `adp_token`, the
*public* key, the refresh token, the marketplace, revocation, cookies and the live access
tokens. It is JSON, 0600 in a 0700 directory, replaced atomically.

Several sandbox processes may share one data directory (parallel test runs, a CLI sandbox
beside the daemon's embedded one): a save merges with what is on disk under an advisory
`flock`, this process's entries winning, so one process does not erase another's devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from daemon.core.errors import StateError
from daemon.state.files import atomic_write, ensure_private_dir

from .state import AudibleState, Registration

_log = logging.getLogger("daemon.sandbox.audible")

FILE_VERSION = 1


def _reg_to_json(reg: Registration) -> dict[str, Any]:
    pem = reg.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "serial": reg.serial,
        "device_type": reg.device_type,
        "customer_id": reg.customer_id,
        "adp_token": reg.adp_token,
        "public_key": pem.decode("ascii"),
        "refresh_token": reg.refresh_token,
        "locale": reg.locale,
        "revoked": reg.revoked,
        "licence_count": reg.licence_count,
        "account_pool": reg.account_pool,
        "store_cookie": reg.store_cookie,
    }


def _reg_from_json(item: Any) -> Registration | None:
    """A registration from its JSON form; None for an entry this version cannot read."""
    try:
        key = serialization.load_pem_public_key(item["public_key"].encode("ascii"))
        return Registration(
            serial=str(item["serial"]),
            device_type=str(item["device_type"]),
            customer_id=str(item["customer_id"]),
            adp_token=str(item["adp_token"]),
            public_key=key,
            refresh_token=str(item["refresh_token"]),
            locale=str(item["locale"]),
            revoked=bool(item.get("revoked", False)),
            licence_count=int(item.get("licence_count", 0)),
            account_pool=str(item.get("account_pool", "Amazon")),
            store_cookie=str(item.get("store_cookie", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StateError(
            f"cannot read sandbox registrations: {exc.strerror}", path=str(path)
        ) from None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        # A damaged file must not stop the sandbox: it starts without those devices.
        _log.warning("audible.registrations_unreadable path=%s", path)
        return {}
    return value if isinstance(value, dict) else {}


def _expiry(entry: list[Any]) -> float:
    value = entry[1]
    return float(value) if isinstance(value, int | float) else 0.0


class RegistrationFile:
    """Load and save the registrations (and access tokens) of one `AudibleState`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def load_into(self, state: AudibleState) -> int:
        """Add the saved registrations to `state`; returns how many were read."""
        ensure_private_dir(self.path.parent)
        with _locked(self.path):
            data = _read(self.path)
        count = 0
        for item in data.get("registrations", []):
            reg = _reg_from_json(item)
            if reg is not None:
                state.registrations.setdefault(reg.adp_token, reg)
                count += 1
        now = state.now()
        for token, entry in data.get("access_tokens", {}).items():
            if (
                isinstance(entry, list)
                and len(entry) == 2
                and isinstance(entry[0], str)
                and isinstance(entry[1], int | float)
                and entry[1] > now
                and entry[0] in state.registrations
            ):
                state.access_tokens.setdefault(token, (entry[0], float(entry[1])))
        return count

    def _snapshot(self, state: AudibleState) -> dict[str, Any]:
        now = state.now()
        return {
            "registrations": {a: _reg_to_json(r) for a, r in state.registrations.items()},
            # Expired ones too: they must override a still-valid copy on disk.
            "access_tokens": {t: [adp, exp] for t, (adp, exp) in state.access_tokens.items()},
            "now": now,
        }

    def _write(self, snap: dict[str, Any]) -> None:
        ensure_private_dir(self.path.parent)
        with _locked(self.path):
            on_disk = _read(self.path)
            regs: dict[str, Any] = {}
            for item in on_disk.get("registrations", []):
                if isinstance(item, dict) and isinstance(item.get("adp_token"), str):
                    regs[item["adp_token"]] = item
            regs.update(snap["registrations"])
            tokens: dict[str, Any] = {
                t: e
                for t, e in dict(on_disk.get("access_tokens", {})).items()
                if isinstance(e, list) and len(e) == 2
            }
            tokens.update(snap["access_tokens"])
            tokens = {t: e for t, e in tokens.items() if _expiry(e) > snap["now"]}
            body = {
                "version": FILE_VERSION,
                "registrations": list(regs.values()),
                "access_tokens": tokens,
            }
            atomic_write(self.path, json.dumps(body, indent=1, sort_keys=True).encode() + b"\n")

    async def save(self, state: AudibleState) -> None:
        """Write the state's registrations now (off the event loop, one save at a time)."""
        snap = self._snapshot(state)
        async with self._lock:
            try:
                await asyncio.to_thread(self._write, snap)
            except StateError as exc:
                # The sandbox keeps serving from memory; only the restart would forget.
                _log.warning("audible.registrations_not_saved error=%s", exc)
