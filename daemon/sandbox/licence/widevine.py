"""The sandbox's test Widevine licence server (drm-and-media.md §3.2, amazon-music.md §7.2).

It issues real-format licences (signed protobuf, keys wrapped as pywidevine's Cdm expects)
only to devices minted by its own `SandboxRoot`. No HTTP here: the endpoint maps
`LicenceServerError.status` / `.body()` to the answer. Calls are blocking (RSA): run them
in a thread from async code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.serialization import load_der_public_key

from daemon.sandbox.licence.errors import BadChallenge, LicenceDenied, load_protocol
from daemon.sandbox.licence.root import OAEP, PSS, SandboxRoot, device_serial, mint_device
from daemon.state.files import read_json, write_json

log = logging.getLogger("daemon.sandbox.licence")

SERVICE_CERTIFICATE_CHALLENGE: Final = b"\x08\x04"
_REVOKED: Final = "revoked.json"


def _cmac(key: bytes, data: bytes) -> bytes:
    mac = CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()


def derive_keys(session_key: bytes, msg: bytes) -> tuple[bytes, bytes]:
    """(enc_key, mac_key_server) from the session key over the exact request bytes."""
    enc_ctx = b"ENCRYPTION\x00" + msg + (128).to_bytes(4, "big")
    mac_ctx = b"AUTHENTICATION\x00" + msg + (512).to_bytes(4, "big")
    enc_key = _cmac(session_key, b"\x01" + enc_ctx)
    mac_server = _cmac(session_key, b"\x01" + mac_ctx) + _cmac(session_key, b"\x02" + mac_ctx)
    return enc_key, mac_server


def _cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    if encrypt:
        padder = sympad.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        enc = cipher.encryptor()
        return enc.update(padded) + enc.finalize()
    dec = cipher.decryptor()
    padded = dec.update(data) + dec.finalize()
    unpadder = sympad.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


class WidevineLicenceServer:
    """Issues Widevine licences to sandbox-minted devices; keeps a revoked-device list.

    `data_dir` is the sandbox data directory; state lives in `data_dir/widevine/` (0700):
    the root and service keys, the service certificate and `revoked.json`.
    """

    def __init__(
        self, data_dir: Path, *, require_privacy: bool = False, key_bits: int = 2048
    ) -> None:
        load_protocol()  # fail early with WidevineUnavailable (501)
        self._dir = data_dir / "widevine"
        self.root = SandboxRoot.load_or_create(self._dir, key_bits=key_bits)
        self.require_privacy = require_privacy
        state = read_json(self._dir / _REVOKED) or {}
        self._revoked: set[str] = {str(s) for s in state.get("serials", [])}

    def __repr__(self) -> str:
        return f"WidevineLicenceServer(dir={str(self._dir)!r}, revoked={len(self._revoked)})"

    # --- devices -----------------------------------------------------------------------

    def mint_device(self, out: Path, device_type: str = "ANDROID", **options: Any) -> str:
        """Mint a test device chained to this server's root; returns its serial hex."""
        return mint_device(out, self.root, device_type, **options)  # type: ignore[arg-type]

    def revoke(self, device: Path | bytes | str) -> str:
        """Refuse licences to a device from now on (persisted). Accepts a .wvd path,
        .wvd bytes or a serial hex; returns the serial hex."""
        serial = self._serial_of(device)
        self._revoked.add(serial)
        self._save_revoked()
        log.info("licence.device_revoked serial=%s", serial)
        return serial

    def unrevoke(self, device: Path | bytes | str) -> None:
        self._revoked.discard(self._serial_of(device))
        self._save_revoked()

    def revoked(self) -> frozenset[str]:
        return frozenset(self._revoked)

    def _serial_of(self, device: Path | bytes | str) -> str:
        if isinstance(device, Path):
            return device_serial(device.read_bytes())
        if isinstance(device, bytes):
            return device_serial(device)
        serial = device.strip().lower()
        try:
            bytes.fromhex(serial)
        except ValueError:
            raise ValueError("a device serial is a hex string") from None
        return serial

    def _save_revoked(self) -> None:
        write_json(self._dir / _REVOKED, {"serials": sorted(self._revoked)})

    # --- certificates --------------------------------------------------------------------

    def service_certificate(self) -> bytes:
        """The SignedDrmCertificate (SERVICE) clients use for privacy mode."""
        return self.root.service_certificate()

    def root_certificate(self) -> bytes:
        """DrmCertificate(ROOT) bytes a CDM must trust to accept `service_certificate()`."""
        return self.root.root_certificate()

    # --- licences ------------------------------------------------------------------------

    def issue(self, challenge: bytes, keys: Mapping[bytes, bytes]) -> bytes:
        """Answer one challenge: a licence for the requested KIDs (16-byte KID -> 16-byte key),
        or the service certificate for a `b"\\x08\\x04"` request.

        Raises BadChallenge (400) or LicenceDenied (403) with its denialReason.
        """
        pb = load_protocol()
        try:
            signed = pb.SignedMessage.FromString(challenge)
        except Exception:  # protobuf DecodeError
            raise BadChallenge("challenge is not a Widevine SignedMessage") from None
        if signed.type == pb.SignedMessage.SERVICE_CERTIFICATE_REQUEST:
            reply: bytes = pb.SignedMessage(
                type="SERVICE_CERTIFICATE", msg=self.service_certificate()
            ).SerializeToString()
            return reply
        if signed.type != pb.SignedMessage.LICENSE_REQUEST or not signed.msg:
            raise BadChallenge("expected a LICENSE_REQUEST or SERVICE_CERTIFICATE_REQUEST")
        try:
            request = pb.LicenseRequest.FromString(signed.msg)
        except Exception:
            raise BadChallenge("LicenseRequest cannot be parsed") from None

        client_id = self._client_id(pb, request)
        device_key, serial = self._check_device(pb, client_id)
        try:
            device_key.verify(signed.signature, signed.msg, PSS, hashes.SHA1())  # noqa: S303
        except InvalidSignature:
            raise BadChallenge("licence request signature does not verify") from None

        if request.content_id.WhichOneof("content_id_variant") != "widevine_pssh_data":
            raise BadChallenge("only widevine_pssh_data content ids are supported")
        wpd = request.content_id.widevine_pssh_data
        wanted = self._requested_kids(pb, wpd.pssh_data)
        chosen = self._select_keys(wanted, keys)

        session_key = os.urandom(16)
        enc_key, mac_server = derive_keys(session_key, signed.msg)
        containers = []
        for kid, key in chosen.items():
            iv = os.urandom(16)
            containers.append(
                pb.License.KeyContainer(
                    id=kid,
                    iv=iv,
                    key=_cbc(enc_key, iv, key, encrypt=True),
                    type="CONTENT",
                    level="SW_SECURE_CRYPTO",
                )
            )
        signing_iv = os.urandom(16)
        containers.append(
            pb.License.KeyContainer(
                iv=signing_iv,
                key=_cbc(enc_key, signing_iv, os.urandom(64), encrypt=True),
                type="SIGNING",
            )
        )
        licence = pb.License(
            id=pb.LicenseIdentification(
                request_id=wpd.request_id,
                session_id=os.urandom(16),
                type=wpd.license_type or "STREAMING",
                version=0,
            ),
            policy=pb.License.Policy(can_play=True, can_persist=False, can_renew=False),
            key=containers,
            license_start_time=request.request_time,
        )
        lic_bytes = licence.SerializeToString()  # serialized once: the HMAC covers these bytes
        hmac = HMAC(mac_server, hashes.SHA256())
        hmac.update(lic_bytes)
        wrapped = device_key.encrypt(session_key, OAEP)
        log.info("licence.issued serial=%s kids=%d", serial, len(chosen))
        answer: bytes = pb.SignedMessage(
            type="LICENSE", msg=lic_bytes, signature=hmac.finalize(), session_key=wrapped
        ).SerializeToString()
        return answer

    def _client_id(self, pb: Any, request: Any) -> Any:
        if request.HasField("encrypted_client_id"):
            enc = request.encrypted_client_id
            try:
                privacy_key = self.root.decrypt_privacy_key(enc.encrypted_privacy_key)
                raw = _cbc(
                    privacy_key, enc.encrypted_client_id_iv, enc.encrypted_client_id, encrypt=False
                )
                return pb.ClientIdentification.FromString(raw)
            except Exception:  # wrong service key, bad padding, bad protobuf
                raise BadChallenge("encrypted client id cannot be decrypted") from None
        if self.require_privacy:
            raise LicenceDenied(
                "VMP_VALIDATION_FAILED", "this licence server requires privacy mode"
            )
        if not request.HasField("client_id"):
            raise BadChallenge("licence request carries no client id")
        return request.client_id

    def _check_device(self, pb: Any, client_id: Any) -> tuple[rsa.RSAPublicKey, str]:
        try:
            signed = pb.SignedDrmCertificate.FromString(client_id.token)
            cert = pb.DrmCertificate.FromString(signed.drm_certificate)
            key = load_der_public_key(cert.public_key)
        except Exception:
            raise BadChallenge("device certificate cannot be parsed") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise BadChallenge("device certificate key is not RSA")
        if not self.root.verify(signed.drm_certificate, signed.signature):
            raise LicenceDenied(
                "VMP_VALIDATION_FAILED", "device was not provisioned by this sandbox"
            )
        serial = cert.serial_number.hex()
        if serial in self._revoked:
            raise LicenceDenied("VMP_VALIDATION_FAILED", f"device {serial} is revoked")
        return key, serial

    @staticmethod
    def _requested_kids(pb: Any, pssh_data: Any) -> list[bytes]:
        kids: list[bytes] = []
        for blob in pssh_data:
            try:
                kids.extend(pb.WidevinePsshData.FromString(blob).key_ids)
            except Exception:
                raise BadChallenge("init data is not WidevinePsshData") from None
        return kids

    @staticmethod
    def _select_keys(wanted: list[bytes], keys: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
        if not wanted:  # a content-id-only PSSH: the caller's keys are the track's keys
            chosen = dict(keys)
        else:
            missing = [kid.hex() for kid in wanted if kid not in keys]
            if missing:
                raise LicenceDenied(
                    "NOT_ENTITLED", f"no entitlement for key id(s) {', '.join(missing)}"
                )
            chosen = {kid: keys[kid] for kid in dict.fromkeys(wanted)}
        if not chosen:
            raise LicenceDenied("NOT_ENTITLED", "no keys for this content")
        for kid, key in chosen.items():
            if len(kid) != 16 or len(key) != 16:
                raise ValueError("KIDs and content keys must be 16 bytes")
        return chosen
