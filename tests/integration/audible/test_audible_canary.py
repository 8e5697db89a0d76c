"""Canary: run the login flows at DEBUG with known secrets; none may leak anywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_sandbox_helpers import OffsetClock

from daemon.core.errors import DaemonError
from daemon.core.redact import Secret
from daemon.sandbox.audible import STATE_KEY, AudibleSandboxSettings, choices
from daemon.services.audible import AudibleClient, Endpoints, form_login, get_locale, login_cli
from daemon.services.http import HttpClient
from daemon.state.secrets import SecretStore

CANARY_PASSWORD = "CanaryPassw0rd-7f3a9c"


@pytest.fixture
def sandbox_settings() -> AudibleSandboxSettings:
    return AudibleSandboxSettings(
        rsa_key_bits=1024, chapter_seconds=1.0, account_password=CANARY_PASSWORD, otp=True
    )


async def test_no_secret_in_logs_errors_or_files(
    sandbox: TestServer,
    http: HttpClient,
    client_clock: OffsetClock,
    store: SecretStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = str(sandbox.make_url("")).rstrip("/")
    endpoints = Endpoints.sandbox(base)
    locale = get_locale("us")
    errors: list[str] = []
    secrets: list[str] = [CANARY_PASSWORD, choices.SANDBOX_OTP_CODE]

    # 1. Legacy form login: a wrong password, then the right one with an OTP step.
    try:
        await form_login(http, locale, endpoints, "listener@example.com", Secret("Wr0ngCanary!"))
    except DaemonError as exc:
        errors.append(str(exc))
    secrets.append("Wr0ngCanary!")
    login = await form_login(
        http,
        locale,
        endpoints,
        "listener@example.com",
        Secret(CANARY_PASSWORD),
        otp_callback=lambda: choices.SANDBOX_OTP_CODE,
    )
    secrets += [login.authorization_code.reveal(), login.code_verifier.reveal()]
    client = await AudibleClient.register(
        login, http=http, clock=client_clock, endpoints=endpoints, store=store
    )
    await client.refresh_access_token()
    await client.library_page()
    licence = await client.licence_request("B0SPKRD001")
    key = await client.content_key(licence)
    assert licence.license_response is not None
    secrets += [licence.license_response.reveal(), key.key.hex(), key.iv.hex()]

    # 2. External login through the CLI (pasted maplanding URL).
    pasted: list[str] = []

    async def phone(_prompt: str) -> str:
        lines = [x.strip() for x in out.getvalue().splitlines() if "/ap/signin?" in x]
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{base}/_sandbox/audible/login/approve", json={"signin_url": lines[-1]}) as r,
        ):
            url: str = base + (await r.json())["maplanding_url"]
        pasted.append(url.split("authorization_code=", 1)[1].split("&", 1)[0])
        return url

    import io

    out, err = io.StringIO(), io.StringIO()
    rc = await login_cli.run(
        locale_code="us",
        http=http,
        clock=client_clock,
        endpoints=endpoints,
        store=store,
        force=True,
        prompt=phone,
        out=out,
        err=err,
    )
    assert rc == 0, err.getvalue()
    secrets += pasted

    # 3. Failures that print errors: a revoked registration refreshing.
    async with aiohttp.ClientSession() as s:
        await (await s.post(f"{base}/_sandbox/audible/registrations/revoke", json={})).read()
    restored = await AudibleClient.restore(
        store, http=http, clock=client_clock, endpoints=endpoints
    )
    for call in (restored.refresh_access_token, restored.library_page):
        try:
            await call()
        except DaemonError as exc:
            errors.append(str(exc))
    errors.append(err.getvalue())
    errors.append(out.getvalue())

    # Every token, key and registration secret the sandbox issued is a canary too.
    state = sandbox.app[STATE_KEY]
    for reg in state.registrations.values():
        secrets += [reg.adp_token, reg.refresh_token]
    secrets += list(state.access_tokens)
    pem = restored.session.device_private_key.reveal()
    secrets += [line for line in pem.splitlines() if len(line) > 40]

    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    logs = caplog.text
    assert "password is incorrect" in errors[0]
    assert "speakerd login audible" in errors[1]
    assert "audible.registered" in logs  # the capture really saw the client's logging
    assert "audible.token_refreshed" in logs
    for secret in secrets:
        assert len(secret) >= 6
        assert secret not in logs, "secret in logs"
        assert all(secret not in e for e in errors), "secret in an error message"
        assert secret.encode() not in files, "secret in a saved file"
