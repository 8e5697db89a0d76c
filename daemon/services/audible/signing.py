"""Audible request signing (spec/audible.md §5): pure functions, no I/O.

`sign_request` builds `METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP\\nBODY\\nADP_TOKEN`, signs it with
RSA PKCS#1 v1.5 + SHA-256 and returns the three `x-adp-*` headers. It is CPU work: call it
through `asyncio.to_thread` from async code.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.contracts import audible as c
from daemon.core.errors import AuthError
from daemon.services.audible import policy


def format_timestamp(now: datetime) -> str:
    """AU-C09: `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC (naive datetimes are taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).strftime(policy.SIGNATURE_TIMESTAMP_FORMAT)


def string_to_sign(
    method: str, path_and_query: str, timestamp: str, body: bytes, adp_token: str
) -> bytes:
    """The exact §5 string, UTF-8 encoded."""
    text = body.decode("utf-8")
    return f"{method.upper()}\n{path_and_query}\n{timestamp}\n{text}\n{adp_token}".encode()


def load_private_key(private_key_pem: str | bytes) -> rsa.RSAPrivateKey:
    """PEM (PKCS#1 or PKCS#8), or base64 DER PKCS#8 (`MII…`, Android profile, §4.1)."""
    raw = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
    key: Any
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(raw, password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode(raw, validate=True), None)
    except (ValueError, TypeError, binascii.Error):
        raise AuthError("Audible device key is unreadable; " + policy.RELOGIN_HINT) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError("Audible device key is not an RSA key; " + policy.RELOGIN_HINT)
    return key


class RequestSigner:
    """A device key parsed and validated once (that check costs tens of ms on a Pi);
    `headers` then signs one request in well under a millisecond. Holds a secret: its
    repr shows nothing."""

    __slots__ = ("_adp_token", "_key")

    def __init__(self, adp_token: str, private_key_pem: str | bytes) -> None:
        self._key = load_private_key(private_key_pem)
        self._adp_token = adp_token

    def __repr__(self) -> str:
        return "RequestSigner(***)"

    def __reduce__(self) -> str:
        raise TypeError("RequestSigner holds a private key and is not picklable")

    def headers(
        self, method: str, path_and_query: str, body: bytes, now: datetime
    ) -> dict[str, str]:
        """The three §5 headers for one request (see `sign_request`)."""
        stamp = format_timestamp(now)
        signature = self._key.sign(
            string_to_sign(method, path_and_query, stamp, body, self._adp_token),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        return {
            "x-adp-token": self._adp_token,
            "x-adp-alg": c.SIGNATURE_ALG,
            "x-adp-signature": f"{base64.b64encode(signature).decode('ascii')}:{stamp}",
        }


def sign_request(  # noqa: PLR0917 - the public signature is fixed by the brief
    method: str,
    path_and_query: str,
    body: bytes,
    adp_token: str,
    private_key_pem: str | bytes,
    now: datetime,
) -> dict[str, str]:
    """The `x-adp-token`, `x-adp-alg` and `x-adp-signature` headers for one request.

    `path_and_query` must be the raw request target exactly as it will be sent (after
    URL encoding). `body` is empty for GET/DELETE. Pure; parses the key on every call,
    so a long-lived caller should keep a `RequestSigner` instead.
    """
    return RequestSigner(adp_token, private_key_pem).headers(method, path_and_query, body, now)
