"""Paired phones and their tokens (spec §2.4): only SHA-256 of each token is ever stored.

Verification hashes the presented token and compares it with every stored hash using
`hmac.compare_digest`, without early exit, so timing reveals neither which phone matched
nor how much of a hash did.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from daemon.core.clock import Clock
from daemon.core.errors import StateError
from daemon.core.redact import Secret
from daemon.state.files import ensure_private_dir, read_json, write_json

log = logging.getLogger("daemon.control")

PHONES_FILE = "phones.json"
MAX_NAME_BYTES = 64
_TOKEN_BYTES = 32  # 256 bits


class PhoneLimitReached(Exception):
    """The device already has the maximum number of paired phones."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(name: object) -> str | None:
    """A printable display name of at most 64 UTF-8 bytes, or None when unusable."""
    if not isinstance(name, str):
        return None
    text = " ".join(name.split())
    if not text or len(text.encode()) > MAX_NAME_BYTES or not text.isprintable():
        return None
    return text


@dataclass(frozen=True, slots=True)
class Phone:
    id: str
    name: str
    token_sha256: str
    created: float
    last_seen: float | None = None
    public_key: str | None = None  # the phone's Ed25519 key, base64url, when it sent one

    def public(self) -> dict[str, object]:
        """What the API shows: never the token hash."""
        return {"id": self.id, "name": self.name, "created": self.created,
                "last_seen": self.last_seen}


class PhoneRegistry:
    """The table of paired phones, persisted in `<state>/phones.json` (0600, atomic)."""

    def __init__(self, state_dir: Path, clock: Clock, max_phones: int = 16) -> None:
        self._path = state_dir / PHONES_FILE
        self._state_dir = state_dir
        self._clock = clock
        self._max = max_phones
        self._phones: dict[str, Phone] = {}
        self._save_lock = asyncio.Lock()

    def load(self) -> None:
        ensure_private_dir(self._state_dir)
        record = read_json(self._path) or {}
        phones: dict[str, Phone] = {}
        try:
            for item in record.get("phones", []):
                phone = Phone(**item)
                phones[phone.id] = phone
        except TypeError:
            raise StateError("paired-phone table is malformed", path=str(self._path)) from None
        self._phones = phones

    def _record(self) -> dict[str, object]:
        return {"version": 1, "phones": [asdict(p) for p in self._phones.values()]}

    def _save(self) -> None:
        write_json(self._path, self._record())

    async def asave(self) -> None:
        """Persist from async code: the fsync runs in a thread; the snapshot is taken under
        the lock, so the last write always holds the newest table."""
        async with self._save_lock:
            await asyncio.to_thread(write_json, self._path, self._record())

    async def aadd(self, name: str, public_key: str | None = None) -> tuple[Phone, Secret]:
        phone, token = self._add(name, public_key)
        await self.asave()
        return phone, token

    async def arename(self, phone_id: str, name: str) -> Phone | None:
        phone = self._rename(phone_id, name)
        if phone is not None:
            await self.asave()
        return phone

    async def arevoke(self, phone_id: str) -> bool:
        if not self._revoke(phone_id):
            return False
        await self.asave()
        return True

    def __len__(self) -> int:
        return len(self._phones)

    def list(self) -> list[Phone]:
        return sorted(self._phones.values(), key=lambda p: p.created)

    def get(self, phone_id: str) -> Phone | None:
        return self._phones.get(phone_id)

    def add(self, name: str, public_key: str | None = None) -> tuple[Phone, Secret]:
        phone, token = self._add(name, public_key)
        self._save()
        return phone, token

    def _add(self, name: str, public_key: str | None = None) -> tuple[Phone, Secret]:
        """Create a phone record and its token; the raw token is returned once, never stored."""
        if len(self._phones) >= self._max:
            raise PhoneLimitReached
        token = base64.urlsafe_b64encode(secrets.token_bytes(_TOKEN_BYTES)).rstrip(b"=").decode()
        phone = Phone(id=secrets.token_hex(8), name=name, token_sha256=token_hash(token),
                      created=self._clock.time(), public_key=public_key)
        self._phones[phone.id] = phone
        log.info(f"pairing.phone_added phone={phone.id} phones={len(self._phones)}")
        return phone, Secret(token)

    def verify(self, token: str) -> Phone | None:
        """The phone whose token this is, or None. Constant-time over the whole table."""
        presented = bytes.fromhex(token_hash(token))
        found: Phone | None = None
        for phone in list(self._phones.values()):
            if hmac.compare_digest(presented, bytes.fromhex(phone.token_sha256)):
                found = phone
        if found is not None:
            # last_seen is kept in memory; persisted with the next table change
            found = replace(found, last_seen=self._clock.time())
            self._phones[found.id] = found
        return found

    def rename(self, phone_id: str, name: str) -> Phone | None:
        phone = self._rename(phone_id, name)
        if phone is not None:
            self._save()
        return phone

    def _rename(self, phone_id: str, name: str) -> Phone | None:
        phone = self._phones.get(phone_id)
        if phone is None:
            return None
        phone = replace(phone, name=name)
        self._phones[phone_id] = phone
        return phone

    def revoke(self, phone_id: str) -> bool:
        if not self._revoke(phone_id):
            return False
        self._save()
        return True

    def _revoke(self, phone_id: str) -> bool:
        if self._phones.pop(phone_id, None) is None:
            return False
        log.info(f"pairing.phone_revoked phone={phone_id} phones={len(self._phones)}")
        return True

    def revoke_all(self) -> None:
        self._phones.clear()
        self._save()
