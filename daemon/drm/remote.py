"""Remote Widevine CDM: the `pywidevine serve` HTTP API, spoken through the shared HttpClient.

The device and its key stay on another host; this side only moves base64 and hex. No
pywidevine import here. The HTTP layer retries transport failures where a retry can help
and translates them; `_request` turns its errors, and `_raise_for` the server's refusals,
into DrmError/LicenseError.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import replace
from typing import Any, Final

from daemon.core.clock import Clock, SystemClock
from daemon.core.errors import DrmError, LicenseError, ProtocolError, ServiceError
from daemon.core.redact import Secret
from daemon.core.resource import StartableResource
from daemon.core.retry import RetryPolicy
from daemon.drm.pssh import WIDEVINE, parse_pssh
from daemon.services.http import HttpClient, Timeouts

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
        http: HttpClient | None = None,
    ) -> None:
        if not host.startswith(("http://", "https://")):
            raise DrmError("drm.remote_url must be an http(s) URL", host=host)
        if not device or "/" in device:
            raise DrmError("drm.remote_device must be a device name", device=device)
        self._host = host.rstrip("/")
        self._secret = secret
        self._device = device
        self._privacy_mode = privacy_mode
        self._timeouts = Timeouts(
            connect=connect_timeout, read=request_timeout, request=request_timeout
        )
        # A request that reached the server is repeated only when repeating is harmless
        # (`_once` passes `idempotent`); one that never left may always be.
        self._retry = RetryPolicy(
            max_attempts=retries + 1,
            base_delay=retry_backoff,
            factor=2.0,
            max_delay=float("inf"),
            total=float("inf"),
            full_jitter=False,
            jitter=0.0,
        )
        #: the same policy without status retries, for requests that must not repeat
        self._retry_unsent_only = replace(self._retry, retry_statuses=frozenset())
        self._owns_http = http is None
        self._http = http if http is not None else HttpClient(clock=clock or SystemClock())
        self._sessions: dict[str, tuple[bytes, ...]] = {}
        self.device_info: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"RemoteCdm(host={self._host!r}, device={self._device!r}, secret=***)"

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        if self._owns_http:
            await self._http.start()
        await self._request("GET", "/", idempotent=True)

    async def aclose(self) -> None:
        for session in list(self._sessions):
            await self.close(bytes.fromhex(session))
        if self._owns_http:
            await self._http.aclose()

    # --- HTTP ------------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, idempotent: bool
    ) -> dict[str, Any]:
        if self._owns_http:
            try:
                await self._http.start()
            except RuntimeError:
                raise DrmError("remote CDM client is closed", host=self._host) from None
        try:
            resp = await self._http.request(
                method,
                self._host + path,
                headers={"X-Secret-Key": self._secret.reveal()},
                json_body=body,
                retry=self._retry if idempotent else self._retry_unsent_only,
                idempotent=idempotent,
                timeouts=self._timeouts,
                max_body=_MAX_RESPONSE,
            )
        except ProtocolError as exc:
            detail = exc.detail
            raise DrmError(f"remote CDM answer is unusable: {detail}", host=self._host) from None
        except ServiceError as exc:
            raise DrmError(
                f"remote CDM is down or unreachable: {exc.detail}",
                host=self._host,
                attempts=exc.fields.get("attempts", 1),
            ) from None
        doc = _json(resp.body)
        if resp.status >= 400:
            _raise_for(resp.status, doc, self._host)
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
        raise DrmError("remote CDM refused the secret (401): check drm.remote_secret", host=host)
    for prefix, meaning in _LICENCE_MESSAGES:
        if message.startswith(prefix):
            raise LicenseError(meaning, cdm="remote", status=status)
    for prefix, meaning in _DRM_MESSAGES:
        if message.startswith(prefix):
            raise DrmError(meaning, cdm="remote", status=status)
    if status == 403:
        raise DrmError(
            "remote CDM refused access to the device (403): check drm.remote_device",
            host=host,
            status=status,
        )
    raise DrmError("remote CDM rejected the request", host=host, status=status)
