"""The sandbox's own Widevine trust root and test-device minting (drm-and-media.md §3.1).

`SandboxRoot` holds two RSA keys that persist under the sandbox data directory: the root
that signs minted device certificates and the service certificate, and the service
(privacy) key. Devices minted earlier keep working across restarts because the keys are
loaded, not regenerated. Nothing here can impersonate a Google-provisioned device.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.core.errors import StateError
from daemon.sandbox.licence.errors import load_protocol
from daemon.state.files import atomic_write, ensure_private_dir

DeviceType = Literal["ANDROID", "CHROME"]

_ROOT_KEY: Final = "root-key.der"
_SERVICE_KEY: Final = "service-key.der"
_SERVICE_CERT: Final = "service-cert.bin"
#: The root as a DrmCertificate, for a CDM's `drm.widevine.service_certificate_root`.
ROOT_CERT_FILE: Final = "root-cert.bin"
PROVIDER_ID: Final = "sandbox.speakerd.test"
SANDBOX_SYSTEM_ID: Final = 4242

# pywidevine (pycryptodome defaults) signs and verifies with PSS/SHA-1, salt 20, and
# wraps keys with OAEP/SHA-1; the sandbox must speak the same.
PSS: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=20)  # noqa: S303
OAEP: Final = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


def pkcs1_public_der(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """PKCS#1 RSAPublicKey DER, the form Widevine certificates carry."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def _private_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_or_create_key(path: Path, bits: int) -> rsa.RSAPrivateKey:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        atomic_write(path, _private_der(key))
        return key
    except OSError as exc:
        raise StateError(f"cannot read sandbox key: {exc.strerror}", path=str(path)) from None
    try:
        loaded = serialization.load_der_private_key(raw, password=None)
    except ValueError:
        raise StateError("sandbox key file is corrupt", path=str(path)) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise StateError("sandbox key file does not hold an RSA key", path=str(path))
    return loaded


class SandboxRoot:
    """Root + service keys of the sandbox's test Widevine PKI. Blocking (RSA, file I/O).

    Files in its directory: root-key.der, service-key.der (PKCS#8, 0600),
    service-cert.bin (SignedDrmCertificate) and root-cert.bin (DrmCertificate ROOT: point a
    client's `drm.widevine.service_certificate_root` at it to test privacy mode).
    """

    def __init__(
        self,
        root_key: rsa.RSAPrivateKey,
        service_key: rsa.RSAPrivateKey,
        service_certificate: bytes,
    ) -> None:
        self._root_key = root_key
        self._service_key = service_key
        self._service_certificate = service_certificate

    def __repr__(self) -> str:
        return "SandboxRoot(***)"

    @classmethod
    def load_or_create(cls, directory: Path, *, key_bits: int = 2048) -> SandboxRoot:
        """Load the keys from `directory` (0700), creating them on first use."""
        ensure_private_dir(directory)
        root_key = _load_or_create_key(directory / _ROOT_KEY, key_bits)
        service_key = _load_or_create_key(directory / _SERVICE_KEY, key_bits)
        cert_path = directory / _SERVICE_CERT
        root = cls(root_key, service_key, b"")
        try:
            cert = cert_path.read_bytes()
        except FileNotFoundError:
            cert = b""
        if not cert or not root._service_certificate_matches(cert):
            cert = root._make_service_certificate()
            atomic_write(cert_path, cert)
        root._service_certificate = cert
        root_cert_path = directory / ROOT_CERT_FILE
        root_cert = root.root_certificate()
        try:
            current = root_cert_path.read_bytes()
        except FileNotFoundError:
            current = b""
        if current != root_cert:
            atomic_write(root_cert_path, root_cert)
        return root

    # --- signing -----------------------------------------------------------------------

    def sign(self, data: bytes) -> bytes:
        return self._root_key.sign(data, PSS, hashes.SHA1())  # noqa: S303

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when `signature` over `data` was made by this root."""
        try:
            self._root_key.public_key().verify(signature, data, PSS, hashes.SHA1())  # noqa: S303
        except InvalidSignature:
            return False
        return True

    def decrypt_privacy_key(self, wrapped: bytes) -> bytes:
        """Unwrap a client's privacy key (RSA-OAEP/SHA-1 with the service key)."""
        return self._service_key.decrypt(wrapped, OAEP)

    # --- certificates ------------------------------------------------------------------

    def root_certificate(self) -> bytes:
        """DrmCertificate(type=ROOT) bytes: what a CDM trusts to verify the service cert."""
        pb = load_protocol()
        cert = pb.DrmCertificate(type="ROOT", public_key=pkcs1_public_der(self._root_key))
        data: bytes = cert.SerializeToString()
        return data

    def service_certificate(self) -> bytes:
        """The sandbox's SignedDrmCertificate (type SERVICE), signed by the root."""
        return self._service_certificate

    def _make_service_certificate(self) -> bytes:
        pb = load_protocol()
        drm_cert = pb.DrmCertificate(
            type="SERVICE",
            serial_number=os.urandom(16),
            creation_time_seconds=int(time.time()),
            public_key=pkcs1_public_der(self._service_key),
            provider_id=PROVIDER_ID,
        ).SerializeToString()
        signed: bytes = pb.SignedDrmCertificate(
            drm_certificate=drm_cert, signature=self.sign(drm_cert)
        ).SerializeToString()
        return signed

    def _service_certificate_matches(self, signed: bytes) -> bool:
        pb = load_protocol()
        try:
            sdc = pb.SignedDrmCertificate.FromString(signed)
            cert = pb.DrmCertificate.FromString(sdc.drm_certificate)
        except Exception:  # protobuf DecodeError: regenerate a corrupt file
            return False
        return bool(
            self.verify(sdc.drm_certificate, sdc.signature)
            and cert.public_key == pkcs1_public_der(self._service_key)
        )


def mint_device(
    out: Path,
    root: SandboxRoot,
    device_type: DeviceType = "ANDROID",
    *,
    security_level: int = 3,
    system_id: int = SANDBOX_SYSTEM_ID,
    company_name: str = "speakerd-sandbox",
    model_name: str = "test-speaker",
    key_bits: int = 2048,
) -> str:
    """Write a pywidevine .wvd (0600) whose certificate chains to `root`; return its serial hex.

    Blocking (RSA key generation, ~50 ms for 2048 bits). Needs pywidevine.
    """
    data = mint_device_bytes(
        root,
        device_type,
        security_level=security_level,
        system_id=system_id,
        company_name=company_name,
        model_name=model_name,
        key_bits=key_bits,
    )
    atomic_write(out, data)
    os.chmod(out, 0o600)
    return device_serial(data)


def mint_device_bytes(
    root: SandboxRoot,
    device_type: DeviceType = "ANDROID",
    *,
    security_level: int = 3,
    system_id: int = SANDBOX_SYSTEM_ID,
    company_name: str = "speakerd-sandbox",
    model_name: str = "test-speaker",
    key_bits: int = 2048,
) -> bytes:
    """The .wvd bytes of a freshly minted test device (see `mint_device`)."""
    pb = load_protocol()
    from pywidevine.device import Device, DeviceTypes

    if device_type not in ("ANDROID", "CHROME"):
        raise ValueError(f"device_type must be ANDROID or CHROME, not {device_type!r}")
    if not 1 <= security_level <= 3:
        raise ValueError("security_level must be 1, 2 or 3")
    if system_id <= 0:
        raise ValueError("system_id must be a positive integer")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    drm_cert = pb.DrmCertificate(
        type="DEVICE",
        serial_number=os.urandom(16),
        creation_time_seconds=int(time.time()),
        public_key=pkcs1_public_der(key),
        system_id=system_id,
    ).SerializeToString()
    signed = pb.SignedDrmCertificate(drm_certificate=drm_cert, signature=root.sign(drm_cert))
    client_id = pb.ClientIdentification(
        type="DRM_DEVICE_CERTIFICATE",
        token=signed.SerializeToString(),
        client_info=[
            pb.ClientIdentification.NameValue(name="company_name", value=company_name),
            pb.ClientIdentification.NameValue(name="model_name", value=model_name),
        ],
        client_capabilities=pb.ClientIdentification.ClientCapabilities(
            client_token=True, session_token=True
        ),
    )
    device = Device(
        type_=DeviceTypes[device_type],
        security_level=security_level,
        flags=None,
        private_key=key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        client_id=client_id.SerializeToString(),
    )
    wvd: bytes = device.dumps()
    return wvd


def device_serial(wvd: bytes) -> str:
    """Hex serial number of the device certificate inside .wvd bytes."""
    from pywidevine.device import Device

    device: Any = Device.loads(wvd)
    pb = load_protocol()
    signed = pb.SignedDrmCertificate.FromString(device.client_id.token)
    serial: bytes = pb.DrmCertificate.FromString(signed.drm_certificate).serial_number
    return serial.hex()
