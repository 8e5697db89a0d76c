"""W3C ClearKey CDM: the challenge is the JSON key request, the licence the JWK set.

No optional dependency; sessions are plain in-memory records.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import uuid
from typing import Final

from daemon.core.errors import DrmError, LicenseError
from daemon.drm.pssh import COMMON, keyids_init_data, parse_pssh

log = logging.getLogger("daemon.drm")

_MAX_LICENCE: Final = 256 * 1024


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ClearKeyCdm:
    """ClearKey per W3C EME; `system_id` is the common PSSH system."""

    name = "clearkey"
    system_id: uuid.UUID = COMMON

    def __init__(self) -> None:
        self._sessions: dict[bytes, tuple[bytes, ...]] = {}

    def __repr__(self) -> str:
        return f"ClearKeyCdm(open_sessions={len(self._sessions)})"

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self._sessions.clear()

    async def open(self) -> bytes:
        session = os.urandom(16)
        self._sessions[session] = ()
        return session

    async def close(self, session: bytes) -> None:
        self._sessions.pop(session, None)

    def _check(self, session: bytes) -> tuple[bytes, ...]:
        try:
            return self._sessions[session]
        except KeyError:
            raise DrmError("unknown or closed ClearKey session", cdm=self.name) from None

    async def challenge(
        self, session: bytes, pssh: bytes, *, service_certificate: bytes | None = None
    ) -> bytes:
        self._check(session)
        if pssh[4:8] == b"pssh":
            box = parse_pssh(pssh)
            if box.system_id != COMMON:
                raise DrmError(
                    "PSSH is for another DRM system", cdm=self.name, system=box.system_name
                )
            kids = list(box.key_ids)
        else:
            kids = keyids_init_data(pssh)
        if not kids:
            raise DrmError("init data names no key ids", cdm=self.name)
        self._sessions[session] = tuple(dict.fromkeys(kids))
        body = {"kids": [_b64url(k) for k in self._sessions[session]], "type": "temporary"}
        return json.dumps(body, separators=(",", ":")).encode()

    async def keys(self, session: bytes, licence: bytes) -> dict[bytes, bytes]:
        wanted = self._check(session)
        if not wanted:
            raise LicenseError("no licence request was made in this session", cdm=self.name)
        if len(licence) > _MAX_LICENCE:
            raise LicenseError("ClearKey licence is too large", cdm=self.name)
        try:
            doc = json.loads(licence)
            entries = doc["keys"]
            if not isinstance(entries, list):
                raise TypeError("keys is not a list")
            found: dict[bytes, bytes] = {}
            for jwk in entries:
                if jwk.get("kty") != "oct":
                    continue
                kid, key = _b64url_decode(jwk["kid"]), _b64url_decode(jwk["k"])
                if len(kid) != 16 or len(key) != 16:
                    raise ValueError("kid and k must be 16 bytes")
                found[kid] = key
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise LicenseError("ClearKey licence is not a valid JWK set", cdm=self.name) from None
        missing = [kid.hex() for kid in wanted if kid not in found]
        if missing:
            raise LicenseError(
                "licence lacks a requested key", cdm=self.name, kid=",".join(missing)
            )
        log.debug("drm.keys_loaded cdm=clearkey kids=%d", len(wanted))
        return {kid: found[kid] for kid in wanted}
