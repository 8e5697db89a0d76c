"""AAXC voucher → file key/IV (spec/audible.md §8.1). Pure; call via a thread from async code.

Only the registered device can do this: the AES key/IV come from SHA-256 of
device_type + serial + customer_id + asin. The result never reaches a log or a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.core.errors import LicenseError
from daemon.core.redact import MASK

_PREFIX = re.compile(rb'^\{"key":"([0-9a-fA-F]{32})","iv":"([0-9a-fA-F]{32})",')


@dataclass(frozen=True, slots=True)
class ContentKey:
    """AES-128 file key and IV for an AAXC file (PyAV options `audible_key`/`audible_iv`)."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"ContentKey({MASK})"

    def ffmpeg_options(self) -> dict[str, str]:
        return {"audible_key": self.key.hex(), "audible_iv": self.iv.hex()}


def decrypt_voucher(
    license_response: str, *, device_type: str, device_serial: str, customer_id: str, asin: str
) -> ContentKey:
    """Decrypt a `license_response`; LicenseError when it is not ours or is damaged."""
    try:
        blob = base64.b64decode(license_response, validate=True)
    except (binascii.Error, ValueError):
        raise LicenseError("Audible voucher is not base64", asin=asin) from None
    if not blob or len(blob) % 16:
        raise LicenseError("Audible voucher has a bad length", asin=asin, length=len(blob))
    digest = hashlib.sha256(
        (device_type + device_serial + customer_id + asin).encode("ascii", "replace")
    ).digest()
    dec = Cipher(algorithms.AES(digest[:16]), modes.CBC(digest[16:])).decryptor()
    plain = (dec.update(blob) + dec.finalize()).rstrip(b"\x00")
    key_hex = iv_hex = None
    try:
        voucher = json.loads(plain)
        if isinstance(voucher, dict):
            key_hex, iv_hex = voucher.get("key"), voucher.get("iv")
    except (ValueError, UnicodeDecodeError):
        match = _PREFIX.match(plain)  # mkb79's fallback for a damaged tail
        if match:
            key_hex, iv_hex = match.group(1).decode(), match.group(2).decode()
    try:
        key = bytes.fromhex(key_hex) if isinstance(key_hex, str) else b""
        iv = bytes.fromhex(iv_hex) if isinstance(iv_hex, str) else b""
    except ValueError:
        key = iv = b""
    if len(key) != 16 or len(iv) != 16:
        raise LicenseError(
            "Audible voucher does not decrypt for this device (another device"
            " or account, or a damaged licence)",
            asin=asin,
        )
    return ContentKey(key, iv)
