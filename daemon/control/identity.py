"""Device identity: an Ed25519 key and a self-signed TLS certificate, made at first start.

Both private keys live in the secret store (never in clear state files); the certificate's
SHA-256 fingerprint is what a phone pins at pairing (spec §2.3, §2.5).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from daemon.core.errors import StateError
from daemon.core.redact import Secret
from daemon.state.files import ensure_private_dir

STORE_NAME = "control-identity"
_CERT_YEARS = 30  # the pin, not the validity period, is what phones check


class SecretStore(Protocol):
    """What control needs from daemon.state.secrets: named JSON objects, encrypted at rest."""

    def save(self, name: str, value: dict[str, Any]) -> None: ...

    def load(self, name: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Public parts are plain attributes; private key material stays wrapped in `Secret`."""

    public_key: bytes  # Ed25519 raw public key
    short_id: str  # public id shown in mDNS and /info, derived from the public key
    cert_pem: bytes
    fingerprint: str  # sha256 of the certificate DER, lowercase hex
    _tls_key_pem: Secret
    _identity_key: Secret

    def ssl_context(self, scratch_dir: Path) -> ssl.SSLContext:
        """A server context for the certificate (TLS 1.2+).

        ssl loads keys only from paths, so the PEM goes through an anonymous memfd (never on
        disk); without memfd, a 0600 temp file in the private `scratch_dir`, removed at once.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # TLS 1.2: forward-secret AEAD suites only (no CBC: Lucky13-class padding oracles);
        # TLS 1.3 suites are all AEAD and not governed by this list
        ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
        blob = self.cert_pem + self._tls_key_pem.reveal().encode()
        memfd_create = getattr(os, "memfd_create", None)
        if memfd_create is not None and Path("/proc/self/fd").is_dir():
            fd = memfd_create("speakerd-tls", 0)
            try:
                os.write(fd, blob)
                ctx.load_cert_chain(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
            return ctx
        ensure_private_dir(scratch_dir)
        with tempfile.NamedTemporaryFile(dir=scratch_dir, prefix=".tls-", suffix=".pem") as fh:
            fh.write(blob)
            fh.flush()
            ctx.load_cert_chain(fh.name)
        return ctx

    def sign(self, data: bytes) -> bytes:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(self._identity_key.reveal())
        )
        return key.sign(data)


def cert_fingerprint(cert_der: bytes) -> str:
    return hashlib.sha256(cert_der).hexdigest()


def _short_id(public_key: bytes) -> str:
    return hashlib.sha256(b"speakerd-id/v1" + public_key).hexdigest()[:12]


def _create(common_name: str, now: datetime.datetime) -> dict[str, Any]:
    identity = ed25519.Ed25519PrivateKey.generate()
    tls_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365 * _CERT_YEARS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(tls_key, hashes.SHA256())
    )
    raw_identity = identity.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return {
        "version": 1,
        "identity_key": base64.b64encode(raw_identity).decode(),
        "tls_key_pem": tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _from_record(record: dict[str, Any]) -> DeviceIdentity:
    try:
        raw = base64.b64decode(record["identity_key"])
        key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
        cert_pem = str(record["cert_pem"]).encode()
        cert = x509.load_pem_x509_certificate(cert_pem)
        tls_key_pem = str(record["tls_key_pem"])
        serialization.load_pem_private_key(tls_key_pem.encode(), password=None)
    except (KeyError, ValueError, TypeError) as exc:
        raise StateError(f"device identity record is unusable: {type(exc).__name__}") from None
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return DeviceIdentity(
        public_key=public,
        short_id=_short_id(public),
        cert_pem=cert_pem,
        fingerprint=cert_fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        _tls_key_pem=Secret(tls_key_pem),
        _identity_key=Secret(str(record["identity_key"])),
    )


def load_or_create_identity(store: SecretStore, now: float) -> tuple[DeviceIdentity, bool]:
    """Load the identity from `store`, creating it on first start. Returns (identity, created)."""
    record = store.load(STORE_NAME)
    created = record is None
    if record is None:
        when = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
        record = _create("speakerd", when)
        store.save(STORE_NAME, record)
    return _from_record(record), created


async def aload_or_create_identity(
    store: SecretStore, now: float
) -> tuple[DeviceIdentity, bool]:
    """Key generation and file I/O off the event loop."""
    return await asyncio.to_thread(load_or_create_identity, store, now)
