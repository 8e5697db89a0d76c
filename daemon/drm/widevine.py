"""Local Widevine CDM: pywidevine's `Cdm` with a provisioned `.wvd` device file.

pywidevine (GPL-3.0-only, optional extra `speakerd[widevine]`) is imported by `start()`,
only when this CDM is configured. Every pywidevine call is blocking (RSA, protobuf) and
runs in a thread; its exceptions become DrmError/LicenseError in `_translate`, the one
boundary for them.
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from daemon.core.errors import DrmError, DrmSetupError, LicenseError
from daemon.drm.cdm import run_blocking
from daemon.drm.pssh import WIDEVINE, parse_pssh

log = logging.getLogger("daemon.drm")
T = TypeVar("T")

INSTALL_HINT: Final = "pip install 'speakerd[widevine]'"
#: pywidevine allows 16 (its check is off by one: 17); stay at its documented limit.
MAX_SESSIONS: Final = 16
_MAX_DEVICE_FILE: Final = 64 * 1024


def import_pywidevine() -> Any:
    """The pywidevine module, or DrmError saying how to install it."""
    try:
        import pywidevine
    except ImportError:
        raise DrmError(f"the Widevine CDM needs pywidevine: {INSTALL_HINT}") from None
    return pywidevine


def read_device_file(path: Path) -> bytes:
    """Read a .wvd that only the service may read; refuse anything else with the reason.

    `DrmSetupError` (exit 78) for every refusal: each is fixed by the owner, not a restart.
    `speakerd check-config` calls this too."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise DrmSetupError("Widevine device file does not exist", path=str(path)) from None
    except PermissionError:
        raise DrmSetupError(
            "Widevine device file is not readable by this user", path=str(path)
        ) from None
    except OSError as exc:
        raise DrmSetupError(
            f"Widevine device file cannot be opened: {exc.strerror}", path=str(path)
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DrmSetupError("Widevine device file is not a regular file", path=str(path))
        if st.st_mode & 0o077:
            raise DrmSetupError(
                f"Widevine device file is readable by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); it holds the device private key: chmod 600 it",
                path=str(path),
            )
        if st.st_size > _MAX_DEVICE_FILE:
            raise DrmSetupError("Widevine device file is too large to be a .wvd", path=str(path))
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(_MAX_DEVICE_FILE)
    finally:
        os.close(fd)


def _translate(exc: Exception, cdm: str) -> DrmError:
    """pywidevine's exceptions -> ours (by class name: pywidevine is imported lazily)."""
    kind = type(exc).__name__
    if kind == "SignatureMismatch":
        return LicenseError("licence signature does not match (tampered or corrupt)", cdm=cdm)
    if kind == "InvalidContext":
        return LicenseError(
            "licence does not answer this session's request "
            "(made for another session or device, or already used)",
            cdm=cdm,
        )
    if kind == "InvalidLicenseMessage":
        return LicenseError("response is not a Widevine licence", cdm=cdm)
    if kind in ("InvalidInitData", "DecodeError"):
        return DrmError("PSSH init data is not valid Widevine init data", cdm=cdm)
    if kind == "InvalidSession":
        return DrmError("unknown or closed CDM session", cdm=cdm)
    if kind == "TooManySessions":
        return DrmError("pywidevine has too many sessions open", cdm=cdm)
    if kind == "NoKeysLoaded":
        return LicenseError("licence holds no keys", cdm=cdm)
    return DrmError(f"pywidevine failed: {kind}", cdm=cdm)


class WidevineCdm:
    """pywidevine's Cdm over a `.wvd` device file. One instance per device."""

    name = "widevine"
    system_id: uuid.UUID = WIDEVINE

    def __init__(
        self,
        device: Path,
        *,
        privacy_mode: bool = True,
        service_certificate_root: Path | None = None,
    ) -> None:
        self._device_path = device
        self._privacy_mode = privacy_mode
        self._root_path = service_certificate_root
        self._cdm: Any = None
        self._sessions: dict[bytes, tuple[bytes, ...]] = {}
        self.device_info: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"WidevineCdm(device={str(self._device_path)!r}, open_sessions={len(self._sessions)})"
        )

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        if self._cdm is None:
            self._cdm = await run_blocking(self._load)

    def _load(self) -> Any:
        data = read_device_file(self._device_path)
        pywidevine = import_pywidevine()
        try:
            device = pywidevine.Device.loads(data)
            cdm = pywidevine.Cdm.from_device(device)
        except Exception:  # ValueError, construct/protobuf errors: all mean "corrupt"
            raise DrmError(
                "Widevine device file is corrupt or not a .wvd (v2)", path=str(self._device_path)
            ) from None
        if self._root_path is not None:
            from pywidevine.license_protocol_pb2 import DrmCertificate

            try:
                root = DrmCertificate.FromString(self._root_path.read_bytes())
            except Exception:
                raise DrmError(
                    "service certificate root is not a DrmCertificate", path=str(self._root_path)
                ) from None
            # Instance attribute: only this Cdm trusts the other root; the class keeps Google's.
            cdm.root_cert = root
        self.device_info = {"system_id": cdm.system_id, "security_level": cdm.security_level}
        log.info(
            "drm.device_loaded system_id=%s security_level=%s",
            cdm.system_id,
            cdm.security_level,
        )
        return cdm

    async def aclose(self) -> None:
        for session in list(self._sessions):
            await self.close(session)

    async def _call(self, func: Callable[..., T], *args: object) -> T:
        def guarded() -> T:
            try:
                return func(*args)
            except DrmError:
                raise
            except Exception as exc:
                raise _translate(exc, self.name) from None

        return await run_blocking(guarded)

    async def open(self) -> bytes:
        await self.start()
        if len(self._sessions) >= MAX_SESSIONS:
            raise DrmError(
                f"too many Widevine sessions open ({MAX_SESSIONS}); close finished tracks",
                cdm=self.name,
            )
        session: bytes = await self._call(self._cdm.open)
        self._sessions[session] = ()
        return session

    async def close(self, session: bytes) -> None:
        if self._sessions.pop(session, None) is None:
            return
        try:
            await self._call(self._cdm.close, session)
        except DrmError:
            pass  # already gone inside pywidevine: nothing left to release

    def _check(self, session: bytes) -> None:
        if session not in self._sessions:
            raise DrmError("unknown or closed CDM session", cdm=self.name)

    async def challenge(
        self, session: bytes, pssh: bytes, *, service_certificate: bytes | None = None
    ) -> bytes:
        self._check(session)
        box = parse_pssh(pssh)
        if box.system_id != WIDEVINE:
            raise DrmError("PSSH is for another DRM system", cdm=self.name, system=box.system_name)
        private = bool(service_certificate) and self._privacy_mode

        def make() -> bytes:
            from pywidevine import PSSH

            if private:
                try:
                    self._cdm.set_service_certificate(session, service_certificate)
                except Exception as exc:
                    if type(exc).__name__ == "SignatureMismatch":
                        raise DrmError(
                            "service certificate is not signed by a trusted root; set "
                            "drm.widevine.privacy_mode: false or service_certificate_root",
                            cdm=self.name,
                        ) from None
                    raise DrmError("service certificate cannot be parsed", cdm=self.name) from None
            request: bytes = self._cdm.get_license_challenge(
                session, PSSH(box.raw), "STREAMING", privacy_mode=private
            )
            return request

        request = await self._call(make)
        if session in self._sessions:  # closed meanwhile by another task: keep it closed
            self._sessions[session] = box.key_ids
        return request

    async def keys(self, session: bytes, licence: bytes) -> dict[bytes, bytes]:
        self._check(session)
        if not licence:
            raise LicenseError("licence response is empty", cdm=self.name)

        def load() -> list[Any]:
            self._cdm.parse_license(session, licence)
            keys: list[Any] = self._cdm.get_keys(session, "CONTENT")
            return keys

        loaded = await self._call(load)
        found = {key.kid.bytes: key.key for key in loaded if len(key.key) == 16}
        missing = [kid.hex() for kid in self._sessions.get(session, ()) if kid not in found]
        if missing:
            raise LicenseError(
                "licence lacks a requested key", cdm=self.name, kid=",".join(missing)
            )
        log.debug("drm.keys_loaded cdm=widevine kids=%d", len(found))
        return found
