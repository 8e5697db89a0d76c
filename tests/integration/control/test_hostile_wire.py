"""Hostile bytes on the wire: parser errors, oversized heads, huge numbers, bad PAKE points.

Each case goes to the real HTTPS server over loopback; the logs are captured at every
level and formatted with tracebacks, so a secret anywhere in them is found.
"""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest

from daemon.control.pake import b64e
from tests.integration.control.conftest import Rig
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
