"""Remote Widevine CDM: the `pywidevine serve` HTTP API, reimplemented on aiohttp.

The device and its key stay on another host; this side only moves base64 and hex. No
pywidevine import here. HTTP failures become DrmError/LicenseError in `_raise_for`, the one
boundary; transport failures are retried only where a retry can help.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any, Final

import aiohttp

from daemon.core.clock import Clock, SystemClock
from daemon.core.errors import DrmError, LicenseError
from daemon.core.redact import Secret
from daemon.core.resource import StartableResource
from daemon.drm.pssh import WIDEVINE, parse_pssh

log = logging.getLogger("daemon.drm")

_MAX_RESPONSE: Final = 1 << 20
#: `pywidevine serve` answers 400 with these message openings; what each means for us.
_LICENCE_MESSAGES: Final = (
    ("Signature Validation failed on the License", "licence signature does not match (tampered)"),
    (
        "Invalid Context",
        "licence is for another session or device",
    ),
    ("Invalid License Message", "response is not a Widevine licence"),
)
_DRM_MESSAGES: Final = (
    ("Signature Validation failed on the Service", "service certificate is not trusted"),
    ("Invalid Service Certificate", "service certificate cannot be parsed"),
    ("Invalid Session ID", "unknown or expired remote CDM session"),
    ("Invalid Init Data", "PSSH init data is not valid Widevine init data"),
    ("Too many Sessions", "the remote CDM has too many sessions open"),
    ("No Cdm session", "the remote CDM has no session for this device"),
    ("No Service Certificate set but Privacy", "the remote CDM enforces privacy mode"),
)


class _Retryable(Exception):
    """A transport failure worth another attempt."""

    def __init__(self, cause: str, *, sent: bool) -> None:
        super().__init__(cause)
        self.cause = cause
        self.sent = sent


class RemoteCdm(StartableResource):
    """A `pywidevine serve` device reached over HTTP (`host`, `X-Secret-Key`, device name)."""

    name = "remote"
    system_id: uuid.UUID = WIDEVINE

    def __init__(
        self,
        host: str,
        secret: Secret,
        device: str,
        *,
        privacy_mode: bool = True,
        request_timeout: float = 10.0,
        connect_timeout: float = 3.0,
        retries: int = 2,
        retry_backoff: float = 0.25,
        clock: Clock | None = None,
    ) -> None:
        if not host.startswith(("http://", "https://")):
            raise DrmError("drm.remote.host must be an http(s) URL", host=host)
        if not device or "/" in device:
            raise DrmError("drm.remote.device must be a device name", device=device)
        self._host = host.rstrip("/")
        self._secret = secret
        self._device = device
        self._privacy_mode = privacy_mode
        self._timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
        self._retries = retries
        self._backoff = retry_backoff
        self._clock = clock or SystemClock()
        self._http: aiohttp.ClientSession | None = None
        self._sessions: dict[str, tuple[bytes, ...]] = {}
        self.device_info: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"RemoteCdm(host={self._host!r}, device={self._device!r}, secret=***)"

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        await self._request("GET", "/", idempotent=True)

    async def aclose(self) -> None:
        for session in list(self._sessions):
            await self.close(bytes.fromhex(session))
        http, self._http = self._http, None
        if http is not None:
            await http.close()


    # --- HTTP ------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        attempt = 0
        while True:
            try:
                return await self._once(method, path, body)
            except _Retryable as failure:
                # A request that reached the server is repeated only when repeating is
                # harmless; one that never left (connect refused) always may be.
                if attempt >= self._retries or (failure.sent and not idempotent):
                    raise DrmError(
                        f"remote CDM is down or unreachable: {failure.cause}",
                        host=self._host,
                        attempts=attempt + 1,
                    ) from None
            attempt += 1
            log.warning("drm.remote_retry host=%s attempt=%d", self._host, attempt)
            await self._clock.sleep(self._backoff * 2 ** (attempt - 1))

    async def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        assert self._http is not None
        headers = {"X-Secret-Key": self._secret.reveal()}
        try:
            async with self._http.request(
                method, self._host + path, json=body, headers=headers
            ) as resp:
                raw = await resp.content.read(_MAX_RESPONSE + 1)
                status = resp.status
        except aiohttp.ClientConnectorError:
            raise _Retryable("connection refused or host unreachable", sent=False) from None
        except TimeoutError:
            raise _Retryable("timed out", sent=True) from None
        except aiohttp.ClientError as exc:
            raise _Retryable(type(exc).__name__, sent=True) from None
        if status >= 500:
            raise _Retryable(f"HTTP {status}", sent=True)
        doc = _json(raw)
        if status >= 400:
            _raise_for(status, doc, self._host)
        if path == "/":
            return doc
        data = doc.get("data", {})
        if not isinstance(data, dict):
            raise DrmError("remote CDM answered without a data object", host=self._host)
        return data

    def _url(self, action: str) -> str:
        return f"/{self._device}/{action}"

    # --- the Cdm protocol -------------------------------------------------------------------

    async def open(self) -> bytes:
        data = await self._request("GET", self._url("open"), idempotent=False)
        try:
            session_hex = str(data["session_id"])
            session = bytes.fromhex(session_hex)
            device = data.get("device") or {}
            self.device_info = {k: int(device[k]) for k in ("system_id", "security_level")}
        except (KeyError, ValueError, TypeError):
            raise DrmError("remote CDM open answer is malformed", host=self._host) from None
        self._sessions[session.hex()] = ()
        return session

    async def close(self, session: bytes) -> None:
        if self._sessions.pop(session.hex(), None) is None:
            return
        try:
            await self._request("GET", self._url(f"close/{session.hex()}"), idempotent=True)
        except DrmError as exc:
            # The session dies with the server's Cdm anyway; nothing else can be done.
            log.warning("drm.remote_close_failed host=%s error=%s", self._host, exc.detail)

    def _check(self, session: bytes) -> str:
        if session.hex() not in self._sessions:
            raise DrmError("unknown or closed CDM session", cdm=self.name)
        return session.hex()

    async def challenge(
        self, session: bytes, pssh: bytes, *, service_certificate: bytes | None = None
    ) -> bytes:
        sid = self._check(session)
        box = parse_pssh(pssh)
        if box.system_id != WIDEVINE:
            raise DrmError("PSSH is for another DRM system", cdm=self.name, system=box.system_name)
        private = bool(service_certificate) and self._privacy_mode
        if private:
            assert service_certificate is not None
            await self._request(
                "POST",
                self._url("set_service_certificate"),
                {"session_id": sid, "certificate": base64.b64encode(service_certificate).decode()},
                idempotent=True,
            )
        data = await self._request(
            "POST",
            self._url("get_license_challenge/STREAMING"),
            {
                "session_id": sid,
                "init_data": base64.b64encode(box.raw).decode(),
                "privacy_mode": private,
            },
            idempotent=True,
        )
        try:
            challenge = base64.b64decode(data["challenge_b64"], validate=True)
        except (KeyError, ValueError, TypeError):
            raise DrmError("remote CDM challenge answer is malformed", host=self._host) from None
        if sid in self._sessions:  # closed meanwhile by another task: keep it closed
            self._sessions[sid] = box.key_ids
        return challenge

    async def keys(self, session: bytes, licence: bytes) -> dict[bytes, bytes]:
        sid = self._check(session)
        if not licence:
            raise LicenseError("licence response is empty", cdm=self.name)
        # Not idempotent: a licence parses once; a repeat would fail with Invalid Context.
        await self._request(
            "POST",
            self._url("parse_license"),
            {"session_id": sid, "license_message": base64.b64encode(licence).decode()},
            idempotent=False,
        )
        data = await self._request(
            "POST", self._url("get_keys/CONTENT"), {"session_id": sid}, idempotent=True
        )
        found: dict[bytes, bytes] = {}
        try:
            for entry in data["keys"]:
                kid, key = uuid.UUID(hex=entry["key_id"]).bytes, bytes.fromhex(entry["key"])
                if len(key) == 16:
                    found[kid] = key
        except (KeyError, ValueError, TypeError):
            raise DrmError("remote CDM keys answer is malformed", host=self._host) from None
        missing = [kid.hex() for kid in self._sessions.get(sid, ()) if kid not in found]
        if missing:
            kids = ",".join(missing)
            raise LicenseError("licence lacks a requested key", cdm=self.name, kid=kids)
        return found


def _json(raw: bytes) -> dict[str, Any]:
    if len(raw) > _MAX_RESPONSE:
        raise DrmError("remote CDM answer is too large")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise DrmError("remote CDM answered with something that is not JSON") from None
    if not isinstance(doc, dict):
        raise DrmError("remote CDM answered with something that is not a JSON object")
    return doc


def _raise_for(status: int, doc: dict[str, Any], host: str) -> None:
    message = str(doc.get("message", ""))
    if status == 401:
        raise DrmError("remote CDM refused the secret (401): check drm.remote.secret", host=host)
    for prefix, meaning in _LICENCE_MESSAGES:
        if message.startswith(prefix):
            raise LicenseError(meaning, cdm="remote", status=status)
    for prefix, meaning in _DRM_MESSAGES:
        if message.startswith(prefix):
            raise DrmError(meaning, cdm="remote", status=status)
    if status == 403:
        raise DrmError(
            "remote CDM refused access to the device (403): check drm.remote.device",
            host=host,
            status=status,
        )
    raise DrmError("remote CDM rejected the request", host=host, status=status)
