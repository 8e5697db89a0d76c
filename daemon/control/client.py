"""The phone side of the control API (reference client; used by `speakerd remote`).

`pair()` runs the SPAKE2 exchange and returns what to store; `RemoteClient` then talks to
the speaker over HTTPS pinned to the certificate fingerprint learned inside the PAKE, so
an impostor (same mDNS name, another certificate) never receives the token: the TLS
handshake fails before any request bytes are sent.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from daemon.control.pake import PakeError, PhoneSession, b64d, b64e
from daemon.core.errors import ControlError
from daemon.core.redact import Secret
from daemon.core.resource import AsyncResource
from daemon.state.files import atomic_write, ensure_private_dir, read_json

_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class RemoteError(ControlError):
    """The speaker refused a request, or the speaker is not the paired one."""

    code = "remote"


@dataclass(frozen=True, slots=True)
class Pairing:
    host: str
    port: int
    fingerprint: str
    token: Secret
    phone_id: str
    device_id: str

    def to_record(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "fingerprint": self.fingerprint,
                "token": self.token.reveal(), "phone_id": self.phone_id,
                "device_id": self.device_id}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Pairing:
        try:
            return cls(host=str(record["host"]), port=int(record["port"]),
                       fingerprint=str(record["fingerprint"]), token=Secret(str(record["token"])),
                       phone_id=str(record["phone_id"]), device_id=str(record["device_id"]))
        except (KeyError, TypeError, ValueError):
            raise RemoteError("stored pairing is malformed") from None


def save_pairing(config_dir: Path, pairing: Pairing) -> Path:
    """Store the pairing (it holds the token) as a 0600 file in a 0700 directory."""
    ensure_private_dir(config_dir)
    path = config_dir / "remote.json"
    atomic_write(path, json.dumps(pairing.to_record(), indent=2).encode())
    return path


def load_pairing(config_dir: Path) -> Pairing:
    record = read_json(config_dir / "remote.json")
    if record is None:
        raise RemoteError("not paired with a speaker: run `speakerd remote pair HOST` first")
    return Pairing.from_record(record)


def _url(host: str, port: int, path: str) -> str:
    literal = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"https://{literal}:{port}{path}"


def _unverified_context() -> ssl.SSLContext:
    # pairing happens before the phone knows the pin; the PAKE, not TLS, authenticates it,
    # and the fingerprint of this very connection is checked against the one sealed inside
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                ctx: ssl.SSLContext) -> dict[str, Any]:
    async with session.post(url, json=body, ssl=ctx) as resp:
        data = await resp.json(content_type=None)
        if resp.status != 200:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            raise RemoteError(f"pairing refused: {err.get('code', resp.status)}",
                              status=resp.status)
        if not isinstance(data, dict):
            raise RemoteError("speaker answered with something that is not an object")
        return data


def network_sentence(host: str, port: int, exc: BaseException) -> str:
    """One sentence for a network or TLS failure (no traceback reaches a person)."""
    where = f"{host}:{port}"
    if isinstance(exc, TimeoutError):
        return f"the speaker at {where} did not answer in time; check it is on and reachable"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS with the speaker at {where} failed; is it a speaker on port {port}?"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot find {host}: the name does not resolve on this machine"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return f"cannot reach the speaker at {where} ({reason.lower()})"
    if isinstance(exc, aiohttp.ContentTypeError | ValueError):
        return f"{where} answered with something that is not the speaker's API"
    return f"cannot talk to the speaker at {where} ({type(exc).__name__})"


async def pair(host: str, port: int, code: Secret, phone_name: str,
               api_path: str = "/api/v1") -> Pairing:
    """Run the pairing exchange against host:port; raises RemoteError on any mismatch
    or network problem (one sentence, never a third-party exception)."""
    try:
        return await _pair(host, port, code, phone_name, api_path)
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
        raise RemoteError(network_sentence(host, port, exc)) from None


async def _pair(host: str, port: int, code: Secret, phone_name: str,
                api_path: str) -> Pairing:
    phone = await asyncio.to_thread(PhoneSession, code.reveal())
    ctx = _unverified_context()
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        first = await _post(session, _url(host, port, f"{api_path}/pair/start"),
                                   {"pake": b64e(phone.message)}, ctx)
        try:
            session_id = str(first["session"])
            msg_b = b64d(first["pake"])
            confirm, hello = await asyncio.to_thread(
                phone.finish, session_id, msg_b, {"name": phone_name})
        except (KeyError, PakeError):
            raise RemoteError("speaker's pairing answer is invalid") from None
        second = await _post(session, _url(host, port, f"{api_path}/pair/finish"),
                                    {"session": session_id, "confirm": b64e(confirm),
                                     "hello": hello}, ctx)
        try:
            welcome = phone.open_welcome(second.get("welcome"))
        except PakeError:
            raise RemoteError("speaker could not prove it knows the code") from None
        fingerprint = str(welcome.get("fingerprint", ""))
        token = welcome.get("token")
        if len(fingerprint) != 64 or not isinstance(token, str) or len(token) < 43:
            raise RemoteError("speaker sent no usable token or fingerprint")
        try:
            pin = aiohttp.Fingerprint(bytes.fromhex(fingerprint))
        except ValueError:
            raise RemoteError("speaker sent a malformed fingerprint") from None
        # the speaker we talk to must serve the certificate it vouched for inside the PAKE
        port = int(welcome.get("https_port", port))
        try:
            async with session.get(_url(host, port, f"{api_path}/info"), ssl=pin) as resp:
                info = await resp.json(content_type=None)
        except aiohttp.ServerFingerprintMismatch:
            raise RemoteError("the speaker's certificate is not the one it vouched for") \
                from None
        if not isinstance(info, dict) or info.get("id") != welcome.get("device_id"):
            raise RemoteError("the speaker's identity does not match its pairing answer")
    return Pairing(host=host, port=port, fingerprint=fingerprint, token=Secret(token),
                   phone_id=str(welcome.get("phone_id")),
                   device_id=str(welcome.get("device_id")))


class RemoteClient(AsyncResource):
    """Authenticated requests over HTTPS pinned to the paired certificate."""

    def __init__(self, pairing: Pairing, api_path: str = "/api/v1",
                 host: str | None = None) -> None:
        self._pairing = pairing
        self._api = api_path
        self._host = host or pairing.host
        self._session: aiohttp.ClientSession | None = None
        self._pin = aiohttp.Fingerprint(bytes.fromhex(pairing.fingerprint))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str,
                      body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        headers = {"Authorization": f"Bearer {self._pairing.token.reveal()}"}
        try:
            async with self._session.request(
                method, _url(self._host, self._pairing.port, self._api + path), json=body,
                headers=headers, ssl=self._pin,
            ) as resp:
                if resp.content_type == "application/json":
                    data = await resp.json()
                else:
                    data = await resp.text()
        except aiohttp.ServerFingerprintMismatch:
            raise RemoteError("the speaker's certificate does not match the pin:"
                              " not the paired speaker") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RemoteError(network_sentence(self._host, self._pairing.port, exc)) from None
        if resp.status >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            raise RemoteError(f"{err.get('code', 'error')}: {err.get('message', resp.reason)}",
                              status=resp.status)
        return data
