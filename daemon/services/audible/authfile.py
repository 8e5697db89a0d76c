"""mkb79/audible-cli auth files: read one into an `AudibleSession`, write one from it.

The format (facts of mkb79/Audible's `Authenticator.to_file`, implemented here from them):
a JSON object with `adp_token`, `device_private_key`, `access_token`, `refresh_token`,
`expires`, `website_cookies` (name -> value), `store_authentication_cookie`
(`{"cookie": …}`), `device_info`, `customer_info`, `locale_code`, `with_username`,
`activation_bytes`. Encrypted files hold that JSON AES-256-CBC (PKCS#7) with a key from
PBKDF2-HMAC-SHA256 of the password: either as JSON `{"salt", "iv", "ciphertext", "info"}`
(base64 fields) or as raw bytes `salt ‖ iv ‖ ciphertext`. The 16-byte salt block is
`$ ‖ iterations (big-endian u16) ‖ $ ‖ 12 random bytes`; only the random part salts the KDF.

Every failure is an `AuthError` whose text is one sentence naming the file; nothing here
writes anywhere — the caller stores the session only after `read_auth_file` succeeded.
PBKDF2 and RSA checks are CPU work: call these through `asyncio.to_thread`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import struct
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from daemon.contracts import audible as c
from daemon.core.errors import AuthError, DaemonError
from daemon.core.redact import Secret

from .session import AudibleSession
from .signing import load_private_key

Encryption = Literal["json", "bytes"]

_BLOCK = 16
_MARKER = b"$"
# mkb79's default KDF iterations; a file states its own count in the salt header.
_DEFAULT_ITERATIONS = 1000
_MAX_FILE_BYTES = 1 << 20


def _key(password: Secret, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(password.reveal().encode("utf-8"))


def _decrypt(packed_salt: bytes, iv: bytes, ciphertext: bytes, password: Secret) -> bytes:
    header = len(_MARKER) * 2 + 2
    if (
        len(packed_salt) != _BLOCK
        or len(iv) != _BLOCK
        or not ciphertext
        or len(ciphertext) % _BLOCK
        or packed_salt[:1] != _MARKER
        or packed_salt[3:4] != _MARKER
    ):
        raise ValueError("layout")
    (iterations,) = struct.unpack(">H", packed_salt[1:3])
    if iterations < 1:
        raise ValueError("iterations")
    key = _key(password, packed_salt[header:], iterations)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _encrypt(plain: bytes, password: Secret) -> tuple[bytes, bytes, bytes]:
    head = _MARKER + struct.pack(">H", _DEFAULT_ITERATIONS) + _MARKER
    salt = secrets.token_bytes(_BLOCK - len(head))
    iv = secrets.token_bytes(_BLOCK)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(password, salt, _DEFAULT_ITERATIONS)), modes.CBC(iv))
    box = encryptor.encryptor()
    return head + salt, iv, box.update(padded) + box.finalize()


def _looks_encrypted(raw: bytes) -> bool:
    """mkb79's bytes layout: salt block with its `$…$` header, IV, whole cipher blocks."""
    return (
        len(raw) >= 3 * _BLOCK
        and len(raw) % _BLOCK == 0
        and raw[:1] == _MARKER
        and raw[3:4] == _MARKER
    )


def _plain_json(raw: bytes, password: Secret | None, where: str) -> dict[str, Any]:
    """The auth data as a dict, decrypting when the file is encrypted."""
    try:
        outer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        outer = None
    if isinstance(outer, dict) and "adp_token" in outer:
        return outer
    encrypted_json = isinstance(outer, dict) and "ciphertext" in outer
    if outer is not None and not encrypted_json:
        raise AuthError(f"{where} is not an Audible auth file (no adp_token, no ciphertext)")
    if not encrypted_json and not _looks_encrypted(raw):
        raise AuthError(f"{where} is damaged or not an Audible auth file")
    if password is None:
        raise AuthError(f"{where} is encrypted: give its password with --password-file or at"
                        " the prompt")
    try:
        if isinstance(outer, dict):
            parts = [
                base64.b64decode(str(outer[k]), validate=True) for k in ("salt", "iv", "ciphertext")
            ]
        else:
            parts = [raw[:_BLOCK], raw[_BLOCK : 2 * _BLOCK], raw[2 * _BLOCK :]]
        plain = _decrypt(parts[0], parts[1], parts[2], password)
    except (KeyError, ValueError, binascii.Error):
        raise AuthError(
            f"{where} could not be decrypted: the password is wrong or the file is damaged"
        ) from None
    try:
        inner = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AuthError(
            f"{where} could not be decrypted: the password is wrong or the file is damaged"
        ) from None
    if not isinstance(inner, dict):
        raise AuthError(f"{where} does not hold an Audible auth object")
    return inner


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# A file without an access token still has a refresh token; `expires` 0 forces a refresh
# before the placeholder could be sent anywhere.
_NO_ACCESS_TOKEN = "-"  # noqa: S105 - a placeholder, not a credential


def _session_from(data: dict[str, Any], where: str, locale: str | None) -> AudibleSession:
    code = data.get("locale_code")
    if not isinstance(code, str) or code not in c.LOCALES:
        raise AuthError(f"{where} names no known Audible marketplace (locale_code {code!r})")
    if locale is not None and code != locale:
        raise AuthError(
            f"{where} is for the {code!r} marketplace, not {locale!r}; pass --locale {code}"
        )
    device = _object(data.get("device_info"))
    customer = _object(data.get("customer_info"))
    store = data.get("store_authentication_cookie")
    ours = {
        "device_serial": device.get("device_serial_number"),
        "device_info": device,
        "customer_info": customer,
        "adp_token": data.get("adp_token"),
        "device_private_key": data.get("device_private_key"),
        "refresh_token": data.get("refresh_token"),
        "access_token": data.get("access_token") or "",
        "expires": data.get("expires") or 0.0,
        "locale_code": code,
        "with_username": bool(data.get("with_username") or False),
        "activation_bytes": data.get("activation_bytes"),
        "website_cookies": data.get("website_cookies"),
        "store_authentication_cookie": store.get("cookie") if isinstance(store, dict) else None,
    }
    if not ours["access_token"]:
        ours["access_token"] = _NO_ACCESS_TOKEN
    try:
        session = AudibleSession.from_json(ours)
        load_private_key(session.device_private_key.reveal())
    except DaemonError:
        raise AuthError(f"{where} is incomplete or damaged (device key, tokens or ids)") from None
    return session


def read_auth_file(
    path: Path, password: Secret | None = None, *, locale: str | None = None
) -> AudibleSession:
    """The session in an mkb79/audible-cli auth file (plain or encrypted).

    `locale`, when given, must be the file's marketplace. Raises AuthError in one sentence
    for a missing, corrupt, foreign or wrongly-decrypted file.
    """
    where = f"auth file {path}"
    try:
        raw = path.read_bytes()[: _MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise AuthError(f"{where} cannot be read: {exc.strerror}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise AuthError(f"{where} is too large to be an Audible auth file")
    return _session_from(_plain_json(raw, password, where), where, locale)


def auth_dict(session: AudibleSession) -> dict[str, Any]:
    """mkb79's `Authenticator.to_dict` layout for `session` (reveals secrets)."""
    ours = session.to_json()
    device = dict(ours["device_info"])
    device.setdefault("device_serial_number", session.device_serial)
    store = ours["store_authentication_cookie"]
    return {
        "website_cookies": ours["website_cookies"],
        "adp_token": ours["adp_token"],
        "access_token": ours["access_token"],
        "refresh_token": ours["refresh_token"],
        "device_private_key": ours["device_private_key"],
        "store_authentication_cookie": {"cookie": store} if store else None,
        "device_info": device,
        "customer_info": ours["customer_info"],
        "expires": ours["expires"],
        "locale_code": ours["locale_code"],
        "with_username": ours["with_username"],
        "activation_bytes": ours["activation_bytes"],
    }


def auth_file_bytes(
    session: AudibleSession, password: Secret | None = None, encryption: Encryption = "json"
) -> bytes:
    """The bytes of an auth file mkb79's `Authenticator.from_file` loads."""
    plain = json.dumps(auth_dict(session), indent=4).encode("utf-8")
    if password is None:
        return plain
    salt, iv, ciphertext = _encrypt(plain, password)
    if encryption == "bytes":
        return salt + iv + ciphertext
    wrapped = {
        "salt": base64.b64encode(salt).decode("ascii"),
        "iv": base64.b64encode(iv).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "info": "base64-encoded AES-CBC-256 of JSON object",
    }
    return json.dumps(wrapped, indent=4).encode("ascii")
