"""Voucher decryption against an independent encryption; session persistence shape."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.core.errors import AuthError, LicenseError, ProtocolError
from daemon.services.audible import AudibleSession, decrypt_voucher
from daemon.services.audible.session import parse_registration

PEM = "-----BEGIN RSA PRIVATE KEY-----\nK\n-----END RSA PRIVATE KEY-----\n"
DEV = {
    "device_type": "A2CZJZGLK2JJVM",
    "device_serial": "SERIAL9",
    "customer_id": "amzn1.account.Q",
}


def encrypt(plain: bytes, asin: str, serial: str = "SERIAL9") -> str:
    digest = hashlib.sha256(f"A2CZJZGLK2JJVM{serial}amzn1.account.Q{asin}".encode()).digest()
    plain += b"\x00" * (-len(plain) % 16)
    enc = Cipher(algorithms.AES(digest[:16]), modes.CBC(digest[16:])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def test_voucher_round_trip() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    blob = encrypt(json.dumps({"key": key.hex(), "iv": iv.hex(), "rules": []}).encode(), "B0A")
    result = decrypt_voucher(blob, asin="B0A", **DEV)
    assert (result.key, result.iv) == (key, iv)
    assert key.hex() not in repr(result)
    assert result.ffmpeg_options() == {"audible_key": key.hex(), "audible_iv": iv.hex()}


def test_voucher_prefix_fallback_on_damaged_json() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    text = f'{{"key":"{key.hex()}","iv":"{iv.hex()}","rules":[BROKEN'.encode()
    assert decrypt_voucher(encrypt(text, "B0A"), asin="B0A", **DEV).key == key


@pytest.mark.parametrize("case", ["other_device", "other_asin", "not_base64", "bad_length"])
def test_voucher_for_someone_else_is_refused(case: str) -> None:
    plain = json.dumps({"key": "00" * 16, "iv": "11" * 16}).encode()
    blob = {
        "other_device": encrypt(plain, "B0A", serial="OTHER"),
        "other_asin": encrypt(plain, "B0B"),
        "not_base64": "%%%",
        "bad_length": base64.b64encode(b"x" * 15).decode(),
    }[case]
    with pytest.raises(LicenseError):
        decrypt_voucher(blob, asin="B0A", **DEV)


def registration(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "response": {
            "success": {
                "tokens": {
                    "bearer": {
                        "access_token": "Atna|A",
                        "refresh_token": "Atnr|R",
                        "expires_in": "3600",
                    },
                    "mac_dms": {
                        "device_private_key": PEM,
                        "adp_token": "{enc:a}{key:b}{iv:c}{name:d}{serial:Mg==}",
                    },
                },
                "extensions": {
                    "device_info": {
                        "device_serial_number": "S1",
                        "device_type": "A2CZJZGLK2JJVM",
                        "device_name": "Alice's",
                    },
                    "customer_info": {"user_id": "amzn1.account.Q", "name": "Alice"},
                },
            }
        },
    }
    body.update(changes)
    return body


def test_registration_parse_and_json_round_trip() -> None:
    session = parse_registration(registration(), "S1", "us", now=1000.0)
    assert session.expires == 4600.0
    again = AudibleSession.from_json(json.loads(json.dumps(session.to_json())))
    assert again == session
    text = repr(session)
    for secret in ("Atna|A", "Atnr|R", "BEGIN RSA", "{enc:a}"):
        assert secret not in text


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["response"]["success"]["tokens"].pop("mac_dms"),
        lambda b: b["response"]["success"]["tokens"]["bearer"].update(expires_in="soon"),
        lambda b: b["response"]["success"]["tokens"]["mac_dms"].update(adp_token="{enc:a}"),
        lambda b: b["response"]["success"]["extensions"]["customer_info"].update(user_id=5),
        lambda b: b["response"].update(success=[]),
    ],
)
def test_registration_missing_or_mistyped_fields(mutate: object) -> None:
    body = registration()
    mutate(body)  # type: ignore[operator]
    with pytest.raises(ProtocolError):
        parse_registration(body, "S1", "us", now=0.0)


@pytest.mark.parametrize(
    "damage",
    [None, [], {"device_info": 1}, {"locale_code": "xx"}, {"expires": "soon"}, {"adp_token": "x"}],
)
def test_damaged_saved_session_asks_for_login(damage: object) -> None:
    good = parse_registration(registration(), "S1", "us", now=0.0).to_json()
    data = damage if not isinstance(damage, dict) else {**good, **damage}
    with pytest.raises(AuthError, match="speakerd login audible"):
        AudibleSession.from_json(data)
