"""Plain helpers (independent of daemon.services.audible) to drive the sandbox by hand."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from daemon.core.clock import SystemClock

DEVICE_TYPE = "A2CZJZGLK2JJVM"


class OffsetClock(SystemClock):
    """The real clock shifted by `offset` seconds (a device whose clock is off)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def signin_params(serial: str, challenge: str, cc: str = "us") -> dict[str, str]:
    client_id = f"{serial}#{DEVICE_TYPE}".encode().hex()
    return {
        "openid.oa2.response_type": "code",
        "openid.oa2.code_challenge_method": "S256",
        "openid.oa2.code_challenge": challenge,
        "openid.return_to": "https://www.amazon.com/ap/maplanding",
        "openid.assoc_handle": f"amzn_audible_ios_{cc}",
        "openid.oa2.client_id": f"device:{client_id}",
        "openid.oa2.scope": "device_auth_access",
        "openid.mode": "checkid_setup",
    }


def register_body(serial: str, code: str, verifier: str) -> dict[str, Any]:
    return {
        "requested_token_type": [
            "bearer",
            "mac_dms",
            "website_cookies",
            "store_authentication_cookie",
        ],
        "cookies": {"website_cookies": [], "domain": ".amazon.com"},
        "registration_data": {
            "domain": "Device",
            "app_version": "3.56.2",
            "device_serial": serial,
            "device_type": DEVICE_TYPE,
            "device_name": "x",
            "os_version": "15.0.0",
            "software_version": "35602678",
            "device_model": "iPhone",
            "app_name": "Audible",
        },
        "auth_data": {
            "client_id": f"{serial}#{DEVICE_TYPE}".encode().hex(),
            "authorization_code": code,
            "code_verifier": verifier,
            "code_algorithm": "SHA-256",
            "client_domain": "DeviceLegacy",
        },
        "requested_extensions": ["device_info", "customer_info"],
    }


async def login_code(
    http: aiohttp.ClientSession,
    base: str,
    serial: str,
    challenge: str,
    email: str = "listener@example.com",
    password: str = "sandbox-password",
) -> str:
    """Walk the sign-in page with a form POST; return the authorization code."""
    async with http.get(f"{base}/ap/signin?{urlencode(signin_params(serial, challenge))}") as r:
        assert r.status == 200
        page = await r.text()
    session = page.split('name="session" value="', 1)[1].split('"', 1)[0]
    async with http.post(
        f"{base}/ap/signin",
        data={"session": session, "email": email, "password": password},
        allow_redirects=False,
    ) as r:
        assert r.status == 302, await r.text()
        location = r.headers["Location"]
    return parse_qs(urlsplit(location).query)["openid.oa2.authorization_code"][0]


async def register(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    serial = secrets.token_hex(16).upper()
    verifier, challenge = pkce()
    code = await login_code(http, base, serial, challenge)
    async with http.post(f"{base}/auth/register", json=register_body(serial, code, verifier)) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
    success: dict[str, Any] = body["response"]["success"]
    success["serial"] = serial
    return success


def sign(
    reg: dict[str, Any],
    method: str,
    target: str,
    body: bytes = b"",
    when: datetime | None = None,
    stamp: str | None = None,
) -> dict[str, str]:
    """Independent signing per spec §5 for the sandbox tests."""
    mac = reg["tokens"]["mac_dms"]
    stamp = stamp or (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"{method}\n{target}\n{stamp}\n{body.decode()}\n{mac['adp_token']}"
    key = cast(rsa.RSAPrivateKey,
               serialization.load_pem_private_key(mac["device_private_key"].encode(), None))
    sig = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return {
        "x-adp-token": mac["adp_token"],
        "x-adp-alg": "SHA256withRSA:1.0",
        "x-adp-signature": f"{base64.b64encode(sig).decode()}:{stamp}",
    }
