"""The sandbox's W3C ClearKey server: request parsing, JWK output, denials."""

from __future__ import annotations

import base64
import json

import pytest

from daemon.sandbox.licence import (
    DENIAL_TYPE,
    BadChallenge,
    LicenceDenied,
    clearkey_response,
    issue_clearkey,
)

KID1, KEY1 = bytes(range(16)), bytes(range(16, 32))
KID2, KEY2 = bytes(range(32, 48)), bytes(range(48, 64))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_returns_only_requested_keys_as_jwk() -> None:
    body = json.dumps({"kids": [_b64(KID2)], "type": "temporary"}).encode()
    answer = json.loads(issue_clearkey(body, {KID1: KEY1, KID2: KEY2}))
    assert answer["type"] == "temporary"
    assert [(k["kty"], _unb64(k["kid"]), _unb64(k["k"])) for k in answer["keys"]] == [
        ("oct", KID2, KEY2)
    ]
    assert all("=" not in k["kid"] + k["k"] for k in answer["keys"])


def test_response_without_request_lists_every_key() -> None:
    answer = json.loads(clearkey_response({KID1: KEY1, KID2: KEY2}))
    assert {_unb64(k["kid"]): _unb64(k["k"]) for k in answer["keys"]} == {KID1: KEY1, KID2: KEY2}


def test_unknown_kid_is_not_entitled() -> None:
    body = json.dumps({"kids": [_b64(KID2)]}).encode()
    with pytest.raises(LicenceDenied) as info:
        issue_clearkey(body, {KID1: KEY1})
    assert info.value.body() == {
        "__type": DENIAL_TYPE,
        "DrmType": "CLEARKEY",
        "denialReason": "NOT_ENTITLED",
        "message": info.value.message,
    }
    assert info.value.status == 403


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"kids": []}',
        b'{"kids": "x"}',
        b'{"kids": ["AAAA"]}',
        b'{"kids": [5]}',
        json.dumps({"kids": [_b64(KID1)], "type": "forever"}).encode(),
    ],
)
def test_malformed_requests_are_bad_challenges(body: bytes) -> None:
    with pytest.raises(BadChallenge):
        issue_clearkey(body, {KID1: KEY1})


def test_denial_reason_must_be_known() -> None:
    with pytest.raises(ValueError, match="denialReason"):
        LicenceDenied("NOPE", "x")  # type: ignore[arg-type]
