"""The sandbox's licence servers: a test Widevine server and a W3C ClearKey server.

Pure, blocking classes (RSA, protobuf, file I/O): no aiohttp. Call them through
`asyncio.to_thread` from a handler and map `LicenceServerError` to HTTP with its
`status` and `body()`.

Widevine (needs pywidevine; without it every entry point raises `WidevineUnavailable`,
status 501, "pip install 'speakerd[widevine]'"):

- `WidevineLicenceServer(data_dir, *, require_privacy=False)`: state under
  `data_dir/widevine/` (0700): root key, service key, service certificate, revoked list.
  Devices minted earlier keep working across restarts.
  - `.issue(challenge: bytes, keys: Mapping[bytes, bytes]) -> bytes`: licence bytes
    (SignedMessage LICENSE) for the KIDs in the challenge's PSSH (all of `keys` when the
    PSSH names none); for the service-certificate request `b"\\x08\\x04"` it returns
    SignedMessage(SERVICE_CERTIFICATE). Raises `BadChallenge` (400) or `LicenceDenied`
    (403): VMP_VALIDATION_FAILED for a device not minted here, a revoked device, or a
    missing privacy mode when `require_privacy`; NOT_ENTITLED for a KID not in `keys`.
    CONCURRENCY_LIMIT and DEVICE_ID_MISMATCH are the endpoint's decisions: it raises
    `LicenceDenied(reason, message)` itself and renders it the same way.
  - `.service_certificate() -> bytes` (SignedDrmCertificate), `.root_certificate() -> bytes`
    (DrmCertificate ROOT, what a CDM must trust to verify the service certificate).
  - `.mint_device(out, device_type="ANDROID", **options) -> serial_hex`.
  - `.revoke(device: Path | bytes | str) -> serial_hex` (.wvd path, .wvd bytes, or serial
    hex; persisted), `.unrevoke(device)`, `.revoked() -> frozenset[str]`.
- `mint_device(out: Path, root: SandboxRoot, device_type="ANDROID", *, security_level=3,
  system_id=4242, company_name=..., model_name=..., key_bits=2048) -> serial_hex`: writes a
  pywidevine .wvd (0600) whose certificate is signed by the sandbox root.
  `SandboxRoot.load_or_create(data_dir / "widevine")` gives the root without a server.
- `device_serial(wvd: bytes) -> str`.
- Failures writing state or the .wvd raise `daemon.core.errors.StateError` (from atomic_write).
- `data_dir/widevine/root-cert.bin` holds the root DrmCertificate: a daemon that should
  use privacy mode against the sandbox sets `drm.widevine.service_certificate_root` to it
  (pywidevine otherwise trusts only Google's root and refuses the sandbox certificate).

ClearKey (no optional dependency):

- `issue_clearkey(request_body: bytes, keys) -> bytes`: W3C request `{"kids": [...]}` ->
  JWK set with only those keys; `BadChallenge` / `LicenceDenied(NOT_ENTITLED, CLEARKEY)`.
- `clearkey_response(keys) -> bytes`: the JWK set for all `keys` (body ignored, AM-C25).

Errors: `LicenceServerError` (`.status`, `.message`, `.body()`), `BadChallenge`,
`LicenceDenied` (`.denial_reason`, `.drm_type`; body per amazon-music.md §7.2),
`WidevineUnavailable`.
"""

from daemon.sandbox.licence.clearkey import b64url, clearkey_response, issue_clearkey
from daemon.sandbox.licence.errors import (
    DENIAL_REASONS,
    DENIAL_TYPE,
    BadChallenge,
    DenialReason,
    LicenceDenied,
    LicenceServerError,
    WidevineUnavailable,
)
from daemon.sandbox.licence.root import SandboxRoot, device_serial, mint_device
from daemon.sandbox.licence.widevine import (
    SERVICE_CERTIFICATE_CHALLENGE,
    WidevineLicenceServer,
)

__all__ = [
    "DENIAL_REASONS",
    "DENIAL_TYPE",
    "SERVICE_CERTIFICATE_CHALLENGE",
    "BadChallenge",
    "DenialReason",
    "LicenceDenied",
    "LicenceServerError",
    "SandboxRoot",
    "WidevineLicenceServer",
    "WidevineUnavailable",
    "b64url",
    "clearkey_response",
    "device_serial",
    "issue_clearkey",
    "mint_device",
]
