"""SecretStore: encryption at rest, modes, device binding, clear failures."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from daemon.core.errors import SecretStoreError
from daemon.core.redact import Secret
from daemon.state.secrets import DeviceKey, SecretStore

CANARY = "Atzr|CANARY-refresh-0123456789abcdef"


def open_store(tmp_path: Path, device: str = "dev-a", cred: Path | None = None) -> SecretStore:
    return SecretStore.open(
        tmp_path / "state" / "secrets",
        key_file=tmp_path / device / "device-key",
        credentials_dir=cred if cred is not None else tmp_path / "no-credentials",
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_and_secret_values(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save("lwa-token", {"refresh_token": Secret(CANARY), "expires_at": 12.5})
    assert store.load("lwa-token") == {"refresh_token": CANARY, "expires_at": 12.5}
    assert store.load("absent") is None
    assert store.names() == ["lwa-token"]


def test_files_are_private_and_encrypted(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save("lwa-token", {"refresh_token": CANARY})
    path = store.path_of("lwa-token")
    raw = path.read_bytes()
    assert CANARY.encode() not in raw
    assert b"CANARY" not in raw
    assert mode(path) == 0o600
    assert mode(store.directory) == 0o700
    assert mode(tmp_path / "dev-a" / "device-key") == 0o600
    assert mode(tmp_path / "dev-a") == 0o700
    # nothing else (no temp files) is left behind
    assert sorted(p.name for p in store.directory.iterdir()) == ["lwa-token.enc"]


def test_fresh_nonce_per_write(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save("a", {"v": 1})
    first = store.path_of("a").read_bytes()
    store.save("a", {"v": 1})
    second = store.path_of("a").read_bytes()
    assert first != second
    assert first[13:25] != second[13:25]  # the nonce field differs


def test_format_matches_independent_decryption(tmp_path: Path) -> None:
    """Decrypt with cryptography directly from the documented layout (HKDF info, AAD)."""
    store = open_store(tmp_path)
    store.save("lwa-token", {"k": "v"})
    blob = store.path_of("lwa-token").read_bytes()
    master = (tmp_path / "dev-a" / "device-key").read_bytes()
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"speakerd/lwa-token/v1"
    ).derive(master)
    magic, version, key_id, nonce = blob[:4], blob[4], blob[5:13], blob[13:25]
    assert magic == b"SPKS"
    assert version == 1
    aad = blob[:13] + b"speakerd/secret/lwa-token"
    plain = AESGCM(key).decrypt(nonce, blob[25:], aad)
    assert json.loads(plain) == {"k": "v"}
    assert key_id


def test_copied_state_fails_on_other_device_and_opens_on_original(tmp_path: Path) -> None:
    store_a = open_store(tmp_path, "dev-a")
    store_a.save("lwa-token", {"refresh_token": CANARY})
    store_b = open_store(tmp_path, "dev-b")  # same directory, other device key
    with pytest.raises(SecretStoreError) as info:
        store_b.load("lwa-token")
    assert info.value.exit_code == 78
    assert "another device" in str(info.value)
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)
    assert open_store(tmp_path, "dev-a").load("lwa-token") == {"refresh_token": CANARY}


def test_credential_is_preferred_over_key_file(tmp_path: Path) -> None:
    cred = tmp_path / "creds"
    cred.mkdir(mode=0o700)
    (cred / "device-key").write_bytes(os.urandom(32))
    (cred / "device-key").chmod(0o400)
    store = open_store(tmp_path, cred=cred)
    store.save("x", {"a": 1})
    assert not (tmp_path / "dev-a" / "device-key").exists()
    with pytest.raises(SecretStoreError):
        open_store(tmp_path).load("x")  # the key file is a different key
    assert open_store(tmp_path, cred=cred).load("x") == {"a": 1}


def test_environment_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cred = tmp_path / "creds"
    cred.mkdir(mode=0o700)
    (cred / "device-key").write_bytes(b"k" * 32)
    (cred / "device-key").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(cred))
    key = DeviceKey.load(tmp_path / "unused" / "device-key")
    assert key.origin == "credential"


def test_loose_modes_are_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save("x", {"a": 1})
    store.path_of("x").chmod(0o644)
    with pytest.raises(SecretStoreError) as info:
        store.load("x")
    assert "chmod 600" in str(info.value)
    with pytest.raises(SecretStoreError):
        store.check()
    (tmp_path / "dev-a" / "device-key").chmod(0o640)
    with pytest.raises(SecretStoreError):
        open_store(tmp_path)


def test_tampering_renaming_and_truncation_fail_cleanly(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save("a", {"v": CANARY})
    blob = bytearray(store.path_of("a").read_bytes())
    blob[-1] ^= 1
    store.path_of("a").write_bytes(bytes(blob))
    with pytest.raises(SecretStoreError, match="integrity"):
        store.load("a")
    store.save("a", {"v": CANARY})
    os.rename(store.path_of("a"), store.path_of("b"))
    with pytest.raises(SecretStoreError, match="integrity"):
        store.load("b")
    store.path_of("b").write_bytes(b"SPKS\x01short")
    with pytest.raises(SecretStoreError, match="damaged"):
        store.load("b")


def test_bad_names_rejected(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    for bad in ("../x", "", "A", "a/b", ".hidden"):
        with pytest.raises(SecretStoreError):
            store.save(bad, {})


def test_repr_shows_no_key(tmp_path: Path) -> None:
    key_file = tmp_path / "dev-a" / "device-key"
    store = open_store(tmp_path)
    material = key_file.read_bytes()
    key = DeviceKey.load(key_file, credentials_dir=tmp_path / "none")
    for text in (repr(store), repr(key), str(key)):
        assert material.hex() not in text
        assert repr(material) not in text


def test_delete(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save("x", {"a": 1})
    assert store.delete("x") is True
    assert store.delete("x") is False
    assert store.load("x") is None


async def test_async_wrappers(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.asave("x", {"a": 1})
    assert await store.aload("x") == {"a": 1}
    assert await store.adelete("x") is True
