"""Expiring, signed URL tokens for manifests, segments and licence URIs (AM-C23).

A token binds (kind, track, device, expiry, generation) under a per-run HMAC key; bumping
the generation expires every token issued so far (the "expire now" hook).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Claims:
    kind: str
    track_id: str
    device_id: str
    expires_at: float


class UrlSigner:
    """Issues and checks tokens; `check` returns None for forged, stale or expired ones."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self.generation = 0

    def expire_all(self) -> None:
        self.generation += 1

    def issue(self, kind: str, track_id: str, device_id: str, expires_at: float) -> str:
        expiry_ms = math.ceil(expires_at * 1000)
        payload = f"{kind}|{track_id}|{device_id}|{expiry_ms}|{self.generation}".encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return f"{_b64(payload)}.{_b64(mac)}"

    def check(self, token: str, kind: str, now: float) -> Claims | None:
        if not token or len(token) > 1024 or "." not in token:
            return None
        head, _, tail = token.partition(".")
        try:
            payload = _unb64(head)
            mac = _unb64(tail)
        except (ValueError, TypeError):
            return None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            got_kind, track_id, device_id, expiry, generation = payload.decode().split("|")
            expires_at = int(expiry) / 1000.0
            gen = int(generation)
        except ValueError:
            return None
        if got_kind != kind or gen != self.generation or now >= expires_at:
            return None
        return Claims(got_kind, track_id, device_id, expires_at)
