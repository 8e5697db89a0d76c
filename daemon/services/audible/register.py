"""Device registration (§4.1): the iOS-profile body (AU-C06) and the `/auth/register` call."""

from __future__ import annotations

import json
import logging
from typing import Any

from daemon.contracts import audible as c
from daemon.core.clock import Clock
from daemon.core.errors import AuthError
from daemon.services.audible import policy
from daemon.services.http import HttpClient

from . import transport
from .locales import Endpoints
from .login import LoginResult
from .session import AudibleSession, parse_registration

log = logging.getLogger("daemon.services.audible")


def _registration_body(login: LoginResult) -> dict[str, Any]:
    """The §4.1 iOS-profile body (AU-C06)."""
    tld = login.locale.tld
    pool = "audible" if login.with_username else "amazon"
    return {
        "requested_token_type": list(policy.REQUESTED_TOKEN_TYPES),
        "cookies": {"website_cookies": [], "domain": f".{pool}.{tld}"},
        "registration_data": {
            "domain": "Device",
            "app_version": policy.APP_VERSION,
            "device_serial": login.serial,
            "device_type": policy.DEVICE_TYPE,
            "device_name": policy.DEVICE_NAME_TEMPLATE,
            "os_version": policy.OS_VERSION,
            "software_version": policy.SOFTWARE_VERSION,
            "device_model": policy.DEVICE_MODEL,
            "app_name": policy.APP_NAME,
        },
        "auth_data": {
            "client_id": f"{login.serial}#{policy.DEVICE_TYPE}".encode().hex(),
            "authorization_code": login.authorization_code.reveal(),
            "code_verifier": login.code_verifier.reveal(),
            "code_algorithm": "SHA-256",
            "client_domain": "DeviceLegacy",
        },
        "requested_extensions": ["device_info", "customer_info"],
    }


async def register_device(
    login: LoginResult, *, http: HttpClient, clock: Clock, endpoints: Endpoints
) -> AudibleSession:
    """Exchange the login's code at `/auth/register` for a device registration."""
    base, host = endpoints.identity_base(login.locale, with_username=login.with_username)
    body = json.dumps(_registration_body(login)).encode()
    headers = {**host, "Content-Type": "application/json", "Accept": "application/json"}
    response = await transport.send(
        http, "POST", base + c.REGISTER_PATH, headers=headers, body=body
    )
    if response.status == 401:
        raise AuthError(
            "Audible did not accept the sign-in code (it expired, was used "
            "already, or belongs to another marketplace); run `speakerd login "
            "audible` again and paste the address within a few minutes"
        )
    transport.raise_for_status(response)
    session = parse_registration(
        transport.json_object(response),
        login.serial,
        login.locale.country_code,
        clock.time(),
        login.with_username,
    )
    log.info("audible.registered locale=%s", login.locale.country_code)
    return session
