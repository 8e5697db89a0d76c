"""Encrypted secret store (spec/lan-security-and-operations.md §4.3).

Each secret is one JSON object in `<dir>/<name>.enc`, sealed with AES-256-GCM under a key
derived (HKDF-SHA-256, per-file `info`) from a device-bound key; the file's name is in the
AAD and every write uses a fresh 96-bit nonce. The device key comes from the systemd
credential `$CREDENTIALS_DIRECTORY/device-key` when present, otherwise from a 0600 key file
created on first start. Files are 0600 in a 0700 directory, written atomically. A file
written under another device key fails with `SecretStoreError` (exit 78) and a sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from daemon.core.errors import SecretStoreError, StateError
from daemon.core.redact import MASK, Secret
from daemon.state.files import atomic_write, ensure_private_dir

#: systemd credential name (LoadCredentialEncrypted=device-key:...).
CREDENTIAL_NAME: Final = "device-key"
_MAGIC: Final = b"SPKS"
_VERSION: Final = 1
_KEY_ID_LEN: Final = 8
_NONCE_LEN: Final = 12
_HEADER_LEN: Final = len(_MAGIC) + 1 + _KEY_ID_LEN + _NONCE_LEN
_KEY_FILE_BYTES: Final = 32
_MIN_CREDENTIAL_BYTES: Final = 16
_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SUFFIX: Final = ".enc"
_RELINK: Final = "remove it and sign in again on this device"


class DeviceKey:
    """The device-bound master key; its repr never shows the bytes."""

    __slots__ = ("_material", "origin")

    def __init__(self, material: bytes, origin: str) -> None:
        if len(material) < _MIN_CREDENTIAL_BYTES:
            raise SecretStoreError("device key is too short", origin=origin)
        self._material = material
        #: where the key came from ("credential" or "key-file"), safe to log
        self.origin = origin

    def __repr__(self) -> str:
        return f"DeviceKey({MASK}, origin={self.origin!r})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("DeviceKey is not picklable")

    def derive(self, info: bytes, salt: bytes | None = None) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(
            self._material
        )

    @classmethod
    def load(cls, key_file: Path, *, credentials_dir: Path | None = None) -> DeviceKey:
        """Credential first (`credentials_dir` or $CREDENTIALS_DIRECTORY), else `key_file`.

        The key file is created (0600, 32 random bytes) on first start. Keep it outside
        the directory of encrypted files, so that copying that directory does not copy
        the key with it.
        """
        if credentials_dir is None:
            env = os.environ.get("CREDENTIALS_DIRECTORY")
            credentials_dir = Path(env) if env else None
        if credentials_dir is not None:
            credential = credentials_dir / CREDENTIAL_NAME
            if credential.exists():
                _check_mode(credential, "device-key credential")
                return cls(_read(credential), "credential")
        if not key_file.exists():
            _create_key_file(key_file)
        _check_mode(key_file, "device key file")
        material = _read(key_file)
        if len(material) != _KEY_FILE_BYTES:
            raise SecretStoreError(
                "device key file has the wrong length; it is damaged", path=str(key_file)
            )
        return cls(material, "key-file")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecretStoreError(f"cannot read device key: {exc.strerror}", path=str(path)) from None


def _check_mode(path: Path, what: str) -> None:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise SecretStoreError(
            f"{what} is readable by group or others (mode {stat.S_IMODE(mode):04o});"
            " run: chmod 600 on it",
            path=str(path),
        )


def _create_key_file(path: Path) -> None:
    """Write a new key without ever exposing a partial file: temp + fsync + link (O_EXCL)."""
    ensure_private_dir(path.parent)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(_KEY_FILE_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _plain(value: Any) -> Any:
    """JSON-ready copy of `value` with every `Secret` revealed (only for encryption)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class SecretStore:
    """Named secrets (JSON objects), encrypted at rest with the device key."""

    def __init__(self, directory: Path, key: DeviceKey, *, binding: bytes = b"") -> None:
        """`binding` (e.g. the machine id) is mixed into every file key as HKDF salt."""
        self._dir = ensure_private_dir(directory)
        self._key = key
        self._salt = binding or None
        self._key_id = key.derive(b"speakerd/secret-store/key-id/v1", self._salt)[:_KEY_ID_LEN]

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        key_file: Path,
        credentials_dir: Path | None = None,
        binding: bytes = b"",
    ) -> SecretStore:
        return cls(
            directory, DeviceKey.load(key_file, credentials_dir=credentials_dir), binding=binding
        )

    def __repr__(self) -> str:
        return f"SecretStore(dir={str(self._dir)!r}, key={self._key.origin})"

    @property
    def directory(self) -> Path:
        return self._dir

    def path_of(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise SecretStoreError("invalid secret name", name=name)
        return self._dir / f"{name}{_SUFFIX}"

    def names(self) -> list[str]:
        return sorted(p.name[: -len(_SUFFIX)] for p in self._dir.glob(f"*{_SUFFIX}"))

    def check(self) -> None:
        """Start-up check: refuse (exit 78) if any secret file is group/world-readable."""
        for name in self.names():
            _check_mode(self.path_of(name), f"secret file {name!r}")

    # -- sealing -----------------------------------------------------------------------------

    def _aad(self, name: str, key_id: bytes) -> bytes:
        return _MAGIC + bytes([_VERSION]) + key_id + b"speakerd/secret/" + name.encode()

    def _file_key(self, name: str) -> AESGCM:
        return AESGCM(self._key.derive(f"speakerd/{name}/v1".encode(), self._salt))

    def seal(self, name: str, value: Mapping[str, Any]) -> bytes:
        plaintext = json.dumps(_plain(value), separators=(",", ":"), sort_keys=True).encode()
        nonce = os.urandom(_NONCE_LEN)
        sealed = self._file_key(name).encrypt(nonce, plaintext, self._aad(name, self._key_id))
        return _MAGIC + bytes([_VERSION]) + self._key_id + nonce + sealed

    def unseal(self, name: str, blob: bytes, path: Path | None = None) -> dict[str, Any]:
        where = str(path or self.path_of(name))
        if len(blob) < _HEADER_LEN + 16 or not blob.startswith(_MAGIC):
            raise SecretStoreError(f"secret file is damaged or not ours; {_RELINK}", path=where)
        if blob[len(_MAGIC)] != _VERSION:
            raise SecretStoreError("secret file has an unknown format version", path=where)
        key_id = blob[len(_MAGIC) + 1 : len(_MAGIC) + 1 + _KEY_ID_LEN]
        if key_id != self._key_id:
            raise SecretStoreError(
                "secret file was sealed with another device key (copied from another device,"
                f" or this device's key changed) and cannot be opened here; {_RELINK}",
                path=where,
            )
        nonce = blob[len(_MAGIC) + 1 + _KEY_ID_LEN : _HEADER_LEN]
        try:
            plaintext = self._file_key(name).decrypt(
                nonce, blob[_HEADER_LEN:], self._aad(name, key_id)
            )
        except InvalidTag:
            raise SecretStoreError(
                f"secret file failed its integrity check (corrupted, tampered with or renamed);"
                f" {_RELINK}",
                path=where,
            ) from None
        try:
            value = json.loads(plaintext)
        except ValueError:
            raise SecretStoreError(
                f"secret file content is damaged; {_RELINK}", path=where
            ) from None
        if not isinstance(value, dict):
            raise SecretStoreError(f"secret file content is damaged; {_RELINK}", path=where)
        return value

    # -- file operations (blocking; async wrappers below run them in a thread) ----------------

    def load(self, name: str) -> dict[str, Any] | None:
        """The stored object, or None if there is none."""
        path = self.path_of(name)
        try:
            _check_mode(path, f"secret file {name!r}")
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretStoreError(
                f"cannot read secret file: {exc.strerror}", path=str(path)
            ) from None
        return self.unseal(name, blob, path)

    def save(self, name: str, value: Mapping[str, Any]) -> None:
        """Replace the stored object atomically (the old one survives a crash mid-write)."""
        path = self.path_of(name)
        blob = self.seal(name, value)
        try:
            atomic_write(path, blob)
        except StateError as exc:
            raise SecretStoreError(exc.detail, path=str(path)) from None

    def delete(self, name: str) -> bool:
        path = self.path_of(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def aload(self, name: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.load, name)

    async def asave(self, name: str, value: Mapping[str, Any]) -> None:
        await asyncio.to_thread(self.save, name, dict(value))

    async def adelete(self, name: str) -> bool:
        return await asyncio.to_thread(self.delete, name)


def open_secret_store(state_dir: Path, environ: Mapping[str, str] | None = None) -> SecretStore:
    """The daemon's secret store in `state_dir` (the files `speakerd run` and `login` share).

    The device key comes from the systemd credential directory when `$CREDENTIALS_DIRECTORY`
    is set, else from `<state_dir>/device.key`.
    """
    env = os.environ if environ is None else environ
    credentials = env.get("CREDENTIALS_DIRECTORY")
    # Bound to this machine: a state directory copied elsewhere (key file included) does
    # not open there, even without a systemd credential.
    try:
        binding = Path("/etc/machine-id").read_bytes().strip()
    except OSError:
        binding = b""
    return SecretStore.open(state_dir / "secrets", key_file=state_dir / "device.key",
                            credentials_dir=Path(credentials) if credentials else None,
                            binding=binding)
