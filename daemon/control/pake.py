"""Sans-IO pairing protocol: SPAKE2 over the setup code, then an AEAD-sealed exchange.

Why SPAKE2 (the `spake2` package) rather than SRP-6a: it is installed and pure Python,
needs no per-window verifier/salt round trip, is symmetric in what both sides must hold
(the short code), and is the family Matter uses (SPAKE2+). Either way a recorded transcript
gives an eavesdropper nothing to test code guesses against offline; an active attacker can
test one guess per attempt, which the window's failure limit caps.

Flow (both messages JSON, binary fields base64url):
  1. phone  -> device  {pake: SPAKE2_A(code)}
     device -> phone   {session, pake: SPAKE2_B(code)}
  2. phone  -> device  {session, confirm: HMAC(kc_phone, th), hello: AEAD_p2d({name, ...})}
     device -> phone   {welcome: AEAD_d2p({token, phone_id, fingerprint, device_key, ...})}
The device answers step 2 only after the phone's confirmation verified, so a wrong code
learns nothing; the phone accepts the welcome only if it decrypts, which proves the device
knew the code too. `th` binds the session id and both SPAKE2 messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B, SPAKEError
from spake2.ed25519_basic import NotOnCurve

ID_PHONE = b"speakerd-phone"
ID_DEVICE = b"speakerd-device"
PROTOCOL = b"speakerd-pair/v1"
_MAX_SEALED = 4096
#: what the spake2 library raises for a peer message it cannot use (NotOnCurve is its own
#: Exception subclass, outside SPAKEError, for a y coordinate with no point on the curve)
_REJECTED = (SPAKEError, NotOnCurve, ValueError, TypeError, AssertionError)


class PakeError(Exception):
    """A pairing message is malformed or a proof does not verify (no secret in the text)."""


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text: object, *, max_len: int = _MAX_SEALED) -> bytes:
    if not isinstance(text, str) or len(text) > max_len * 2:
        raise PakeError("field is not a base64url string of acceptable size")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PakeError("field is not valid base64url") from None


@dataclass(frozen=True, slots=True)
class _Keys:
    transcript: bytes
    confirm_phone: bytes
    phone_to_device: bytes
    device_to_phone: bytes


def _derive(shared: bytes, session_id: str, msg_a: bytes, msg_b: bytes) -> _Keys:
    th = hashlib.sha256()
    for part in (PROTOCOL, session_id.encode(), msg_a, msg_b):
        th.update(len(part).to_bytes(4, "big") + part)
    transcript = th.digest()

    def hkdf(label: bytes) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=transcript, info=PROTOCOL + b"|" + label
        ).derive(shared)

    return _Keys(transcript, hkdf(b"confirm-phone"), hkdf(b"p2d"), hkdf(b"d2p"))


def _seal(key: bytes, aad: bytes, payload: dict[str, Any]) -> str:
    nonce = os.urandom(12)
    body = json.dumps(payload, separators=(",", ":")).encode()
    return b64e(nonce + ChaCha20Poly1305(key).encrypt(nonce, body, aad))


def _open(key: bytes, aad: bytes, sealed: object) -> dict[str, Any]:
    raw = b64d(sealed)
    if len(raw) < 12 + 16:
        raise PakeError("sealed message too short")
    try:
        body = ChaCha20Poly1305(key).decrypt(raw[:12], raw[12:], aad)
    except InvalidTag:
        raise PakeError("sealed message does not verify") from None
    try:
        value = json.loads(body)
    except ValueError:
        raise PakeError("sealed message is not JSON") from None
    if not isinstance(value, dict):
        raise PakeError("sealed message is not a JSON object")
    return value


class DeviceSession:
    """Device side of one pairing attempt. CPU-heavy steps: call them in a thread."""

    def __init__(self, code: str, session_id: str) -> None:
        self.session_id = session_id
        self._spake = SPAKE2_B(code.encode(), idA=ID_PHONE, idB=ID_DEVICE)
        self._keys: _Keys | None = None

    def respond(self, msg_a: bytes) -> bytes:
        """Answer the phone's SPAKE2 message; derives the session keys."""
        msg_b: bytes = self._spake.start()
        try:
            shared: bytes = self._spake.finish(msg_a)
        except _REJECTED:
            raise PakeError("pake message rejected") from None
        self._keys = _derive(shared, self.session_id, msg_a, msg_b)
        return msg_b

    def verify(self, confirm: bytes, sealed_hello: object) -> dict[str, Any]:
        """Check the phone's proof (constant-time) and open its hello; PakeError if wrong."""
        keys = self._keys
        if keys is None:
            raise PakeError("pairing session has no key yet")
        expected = hmac.new(keys.confirm_phone, keys.transcript, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, confirm):
            raise PakeError("pairing proof does not verify")
        return _open(keys.phone_to_device, keys.transcript + b"|hello", sealed_hello)

    def seal_welcome(self, payload: dict[str, Any]) -> str:
        assert self._keys is not None
        return _seal(self._keys.device_to_phone, self._keys.transcript + b"|welcome", payload)


class PhoneSession:
    """Phone side (the reference client in remote_cli and the tests)."""

    def __init__(self, code: str) -> None:
        self._spake = SPAKE2_A(code.encode(), idA=ID_PHONE, idB=ID_DEVICE)
        self._msg_a: bytes = self._spake.start()
        self._keys: _Keys | None = None

    @property
    def message(self) -> bytes:
        return self._msg_a

    def finish(self, session_id: str, msg_b: bytes, hello: dict[str, Any]) -> tuple[bytes, str]:
        """Returns (confirm, sealed hello) for step 2."""
        try:
            shared: bytes = self._spake.finish(msg_b)
        except _REJECTED:
            raise PakeError("device pake message rejected") from None
        keys = _derive(shared, session_id, self._msg_a, msg_b)
        self._keys = keys
        confirm = hmac.new(keys.confirm_phone, keys.transcript, hashlib.sha256).digest()
        return confirm, _seal(keys.phone_to_device, keys.transcript + b"|hello", hello)

    def open_welcome(self, sealed: object) -> dict[str, Any]:
        if self._keys is None:
            raise PakeError("pairing not finished")
        return _open(self._keys.device_to_phone, self._keys.transcript + b"|welcome", sealed)
