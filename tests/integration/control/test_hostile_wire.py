"""Hostile bytes on the wire: parser errors, oversized heads, huge numbers, bad PAKE points.

Each case goes to the real HTTPS server over loopback; the logs are captured at every
level and formatted with tracebacks, so a secret anywhere in them is found.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import traceback

import aiohttp
import pytest

from daemon.control.pake import b64e
from tests.integration.control.conftest import Rig, RigFactory
from tests.integration.control.fakes import insecure

TOKEN = "sk-" + "Q7wE9rT1yU3iO5pA" * 4  # a bearer value that must never be echoed


async def raw_exchange(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=insecure())
    try:
        writer.write(payload)
        await writer.drain()
        chunks = []
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)
    except (ConnectionError, OSError):
        return b"".join(chunks) if "chunks" in locals() else b""
    finally:
        writer.close()


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Every record as a person would read it, tracebacks included."""
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


@pytest.mark.parametrize("head", [
    # an Authorization header over the field limit: the parser refuses it
    f"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}"
    + "x" * 9000 + "\r\n\r\n",
    # a request line over the limit with the token in the query
    f"GET /api/v1/status?t={TOKEN}{'y' * 9000} HTTP/1.1\r\nHost: localhost\r\n\r\n",
    # a malformed header line carrying the token
    f"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nBearer {TOKEN}\r\n\r\n",
    # an invalid character in a header value next to the token
    f"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\x01"
    "\r\n\r\n",
])
async def test_parser_errors_echo_no_secret_and_log_one_line_of_ours(
        rig: Rig, head: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await raw_exchange(rig.server.https_port, head.encode("latin-1"))
    assert answer.startswith(b"HTTP/1."), answer[:200]
    assert answer[9:10] == b"4", answer[:200]
    assert TOKEN.encode() not in answer
    assert b"Q7wE9rT1yU3iO5pA" not in answer
    assert b"application/json" in answer.split(b"\r\n\r\n", 1)[0]
    text = everything_logged(caplog.records)
    assert "Q7wE9rT1yU3iO5pA" not in text
    for record in caplog.records:
        assert record.name.startswith("daemon."), (record.name, record.getMessage())
        assert record.exc_info is None or record.exc_info[1] is None
        assert "\n" not in record.getMessage()
    status, _ = await rig.call("GET", "/info")  # the server still serves others
    assert status == 200


async def test_json_integer_over_the_digit_limit_is_400(rig: Rig) -> None:
    _, token = await rig.pair()
    body = '{"volume": ' + "9" * 5000 + "}"
    status, data = await rig.call("POST", "/player/volume", token, data=body,
                                  headers={"Content-Type": "application/json"})
    assert status == 400, data
    assert data["error"]["code"] == "malformed_json"


async def test_off_curve_pake_element_fails_the_attempt_at_once(rig: Rig) -> None:
    rig.server.open_pairing()
    # the right side byte and length, but y=2 has no x on Ed25519 (the library's NotOnCurve)
    off_curve = b"A" + b"\x02" + b"\x00" * 31
    status, data = await rig.call("POST", "/pair/start", json={"pake": b64e(off_curve)})
    assert status == 401, data
    assert data["error"]["code"] == "pairing_failed"
    assert rig.server.pairing.status()["failures"] == 1
    # the slot is free at once: a real phone pairs without waiting for the session timeout
    phone_id, token = await rig.pair("after")
    assert phone_id
    assert token


async def test_a_keep_alive_request_head_is_bounded_by_the_header_timeout(
        make_rig: RigFactory) -> None:
    # the keep-alive timeout (30 s) must not be what bounds a dribbled second head
    rig = await make_rig(header_timeout_s=0.3, keepalive_timeout_s=30.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.server.https_port,
                                                   ssl=insecure())
    try:
        writer.write(b"GET /api/v1/info HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await asyncio.wait_for(reader.readexactly(length), 5)
        writer.write(b"GET /api/v1/info HTTP/1.1\r\nHost: local")  # never finished
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 5)  # EOF when the server hangs up
    finally:
        writer.close()
    assert rest == b""
    assert rig.server.connection_stats["header_timeouts"] == 1


async def test_a_body_is_not_mistaken_for_a_slow_head(make_rig: RigFactory) -> None:
    rig = await make_rig(header_timeout_s=0.3)
    _, token = await rig.pair()
    for _ in range(3):  # keep-alive requests with bodies on one pooled connection
        status, _ = await rig.call("POST", "/player/volume", token, json={"level": 30})
        assert status in (200, 202)
        await asyncio.sleep(0.4)
    assert rig.server.connection_stats["header_timeouts"] == 0


@pytest.mark.parametrize("target", ["http://evil.example/api/v1/info",
                                    "https://evil.example:7443/api/v1/info",
                                    "http://169.254.169.254/api/v1/info"])
async def test_absolute_form_target_with_a_foreign_host_is_refused(rig: Rig,
                                                                   target: str) -> None:
    head = f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    answer = await raw_exchange(rig.server.https_port, head.encode())
    assert answer.startswith(b"HTTP/1.1 421"), answer[:120]


async def test_absolute_form_target_naming_the_device_is_served(rig: Rig) -> None:
    port = rig.server.https_port
    head = (f"GET https://localhost:{port}/api/v1/info HTTP/1.1\r\nHost: localhost\r\n"
            "Connection: close\r\n\r\n")
    answer = await raw_exchange(port, head.encode())
    assert answer.startswith(b"HTTP/1.1 200"), answer[:120]


async def test_tls12_offers_no_cbc_suite(rig: Rig) -> None:
    accepted = []
    for suite in ("ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA",
                  "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES128-SHA256",
                  "ECDHE-ECDSA-AES128-SHA256", "AES128-SHA", "AES256-SHA256"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.set_ciphers(suite)
        except ssl.SSLError:
            continue  # this OpenSSL build has no such suite
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", rig.server.https_port,
                                                      ssl=ctx)
        except (ssl.SSLError, ConnectionError, OSError):
            continue
        accepted.append(suite)
        writer.close()
    assert accepted == []
    # and TLS 1.2 with an AEAD suite still works
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    _, writer = await asyncio.open_connection("127.0.0.1", rig.server.https_port, ssl=ctx)
    cipher = writer.get_extra_info("cipher")
    writer.close()
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]


async def _hold(port: int, count: int, source: str) -> list[asyncio.StreamWriter]:
    """`count` idle TLS connections from `source` that never send a request."""
    held = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=insecure(),
                                                  local_addr=(source, 0))
        held.append(writer)
    return held


async def test_a_paired_phone_is_served_past_a_connection_flood(make_rig: RigFactory) -> None:
    rig = await make_rig(max_connections=12, max_connections_per_ip=8, header_timeout_s=30)
    _, token = await rig.pair()
    port = rig.server.https_port
    base = f"https://127.0.0.1:{port}/api/v1"
    # the paired phone's keep-alive connection, trusted once its token was accepted
    async with aiohttp.ClientSession() as phone:
        async with phone.get(f"{base}/status", ssl=insecure(),
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
        # an app on the same phone (same address) and a second LAN host fill every cap
        held = await _hold(port, 8, "127.0.0.1") + await _hold(port, 6, "127.0.0.2")
        try:
            async with phone.get(f"{base}/status", ssl=insecure(),
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200
            # a new connection from the phone gets in: an unauthenticated one is shed
            async with aiohttp.ClientSession() as fresh, fresh.get(
                    f"{base}/status", ssl=insecure(),
                    headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200
        finally:
            for writer in held:
                writer.close()
    stats = rig.server.connection_stats
    assert stats["shed"] >= 1
    assert stats["open"] <= 12
