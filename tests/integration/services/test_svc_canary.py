"""Canary: every login flow at DEBUG; no token, device code or key in logs, errors or files."""

from __future__ import annotations

import base64
import io
import logging
import traceback
from pathlib import Path
from urllib.parse import quote

import pytest

from daemon.contracts import amazon_music as am
from daemon.core.errors import DaemonError
from daemon.core.retry import RetryPolicy
from daemon.services import login_amazon

from .conftest import MakeEnv


def forms(secret: str) -> list[str]:
    """The raw value, its URL- and base64-encoded forms and a distinctive inner slice."""
    raw = secret.encode()
    out = [
        secret,
        quote(secret, safe=""),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]
    if len(secret) > 24:
        out.append(secret[6:30])
    return out


async def test_login_flows_leak_nothing(
    make_env: MakeEnv, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    printed = io.StringIO()
    secrets: set[str] = set()

    def harvest(env_: object) -> None:
        lwa = env.sandbox.lwa
        secrets.update(lwa.access)
        secrets.update(lwa.refresh)
        secrets.update(p.device_code for p in lwa.pairs.values())

    def keep(exc: BaseException) -> None:
        errors.append(str(exc))
        errors.append(repr(exc))
        errors.append("".join(traceback.format_exception(exc)))

    env = await make_env(
        retry=RetryPolicy(max_attempts=2), auto_approve=True, access_token_lifetime_s=120
    )
    # 1. terminal login (code shown, polled, tokens stored)
    assert await login_amazon.run(env.lwa, out=printed, err=printed) == 0
    harvest(env)
    # 2. refresh with rotation, then a 401 that forces another refresh
    await env.lwa.refresh()
    harvest(env)
    await env.admin("lwa/expire-tokens")
    await env.music().root()
    harvest(env)
    # 3. transient failures of the token endpoint
    await env.admin(
        "faults", {"kind": "status", "status": 503, "count": 2, "path_prefix": am.LWA_TOKEN_PATH}
    )
    try:
        await env.lwa.refresh()
    except DaemonError as exc:
        keep(exc)
    harvest(env)
    # 4. slow_down and an expired code pair
    env2 = await make_env(codepair_lifetime_s=12)
    await env2.admin("lwa/settings", {"force_slow_down": 1})
    try:
        await env2.lwa.link(lambda pair: None)
    except DaemonError as exc:
        keep(exc)
    secrets.update(p.device_code for p in env2.sandbox.lwa.pairs.values())
    # 5. revoked refresh token
    harvest(env)
    await env.admin("lwa/revoke", {})
    try:
        await env.lwa.refresh()
    except DaemonError as exc:
        keep(exc)
    try:
        await env.lwa.token()
    except DaemonError as exc:
        keep(exc)
    # the device keys are secrets too
    key_files = sorted(p for p in tmp_path.rglob("k") if p.is_file())
    assert key_files
    for key_file in key_files:
        material = key_file.read_bytes()
        secrets.update({material.hex(), base64.b64encode(material).decode()})

    assert len(secrets) >= 8  # tokens, rotated refresh tokens, device codes, keys
    logs = [record.getMessage() for record in caplog.records]
    logs += [record.exc_text or "" for record in caplog.records]
    assert any("lwa." in line for line in logs)  # the flows did log at DEBUG/INFO
    saved = [p for p in tmp_path.rglob("*") if p.is_file() and p not in key_files]
    assert saved
    blobs = [p.read_bytes() for p in saved]
    texts = [*logs, *errors, printed.getvalue()]
    hits = []
    for secret in secrets:
        for form in forms(secret):
            hits += [("text", form[:12]) for text in texts if form in text]
            hits += [("file", form[:12]) for blob in blobs if form.encode() in blob]
    assert hits == []
    assert "speakerd login amazon" in " ".join(errors)
