"""sign_request checked with an independent RSA verify over the spec §5 string."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.core.errors import AuthError
from daemon.services.audible.signing import sign_request

ADP = "{enc:ZW5j}{key:a2V5}{iv:aXY=}{name:QURQVG9rZW5FbmNyeXB0aW9uS2V5}{serial:Mg==}"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def pkcs1_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def verify(key: rsa.RSAPrivateKey, headers: dict[str, str], expected_string: bytes) -> None:
    sig_b64, _, _stamp = headers["x-adp-signature"].partition(":")
    key.public_key().verify(
        base64.b64decode(sig_b64, validate=True),
        expected_string,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_get_signature_verifies_over_the_spec_string(key: rsa.RSAPrivateKey) -> None:
    now = datetime(2026, 9, 30, 12, 33, 4, 987654, tzinfo=UTC)
    headers = sign_request(
        "get", "/1.0/library?num_results=5&page=2", b"", ADP, pkcs1_pem(key), now
    )
    assert set(headers) == {"x-adp-token", "x-adp-alg", "x-adp-signature"}
    assert headers["x-adp-token"] == ADP
    assert headers["x-adp-alg"] == "SHA256withRSA:1.0"
    assert headers["x-adp-signature"].endswith(":2026-09-30T12:33:04.987654Z")
    # Upper-case method, empty line for the empty body, token last (§5).
    verify(
        key,
        headers,
        b"GET\n/1.0/library?num_results=5&page=2\n2026-09-30T12:33:04.987654Z\n\n" + ADP.encode(),
    )


def test_post_body_is_signed(key: rsa.RSAPrivateKey) -> None:
    body = b'{"consumption_type":"Download","note":"\xc3\xa9"}'
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = sign_request(
        "POST", "/1.0/content/B0X/licenserequest", body, ADP, pkcs1_pem(key).encode(), now
    )
    expected = (
        b"POST\n/1.0/content/B0X/licenserequest\n2026-01-02T03:04:05.000000Z\n"
        + body
        + b"\n"
        + ADP.encode()
    )
    verify(key, headers, expected)
    with pytest.raises(InvalidSignature):  # a different body does not verify
        verify(key, headers, expected.replace(b"Download", b"Streaming"))


def test_timestamp_is_utc_for_any_zone_and_naive_is_utc(key: rsa.RSAPrivateKey) -> None:
    zoned = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 1, 2, 3, 4, 5)
    for now in (zoned, naive):
        headers = sign_request("GET", "/x", b"", ADP, pkcs1_pem(key), now)
        assert headers["x-adp-signature"].split(":", 1)[1] == "2026-01-02T03:04:05.000000Z"


def test_pkcs8_der_base64_key_is_accepted(key: rsa.RSAPrivateKey) -> None:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    headers = sign_request("GET", "/a", b"", ADP, base64.b64encode(der).decode(), now)
    verify(key, headers, b"GET\n/a\n2026-01-01T00:00:00.000000Z\n\n" + ADP.encode())


def test_unreadable_key_is_an_auth_error_without_the_key() -> None:
    junk = "-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(AuthError) as caught:
        sign_request("GET", "/a", b"", ADP, junk, datetime.now(UTC))
    assert "TOPSECRETMATERIAL" not in str(caught.value)
    assert "speakerd login audible" in str(caught.value)


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
    path=st.text(alphabet="abcXYZ019/-_.~%=&?,", min_size=1, max_size=40),
    body=st.text(max_size=60),
)
def test_any_request_verifies(key: rsa.RSAPrivateKey, method: str, path: str, body: str) -> None:
    now = datetime(2030, 6, 7, 8, 9, 10, tzinfo=UTC)
    raw = body.encode()
    headers = sign_request(method, path, raw, ADP, pkcs1_pem(key), now)
    expected = f"{method}\n{path}\n2030-06-07T08:09:10.000000Z\n{body}\n{ADP}".encode()
    verify(key, headers, expected)


def test_request_signer_matches_sign_request_and_hides_the_key(key: rsa.RSAPrivateKey) -> None:
    from daemon.services.audible.signing import RequestSigner

    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    signer = RequestSigner(ADP, pkcs1_pem(key))
    headers = signer.headers("PUT", "/1.0/lastpositions/B0X", b'{"a":1}', now)
    # PKCS#1 v1.5 is deterministic: the one-shot function gives the same bytes.
    assert headers == sign_request(
        "PUT", "/1.0/lastpositions/B0X", b'{"a":1}', ADP, pkcs1_pem(key), now
    )
    verify(
        key,
        headers,
        b'PUT\n/1.0/lastpositions/B0X\n2026-03-04T05:06:07.000000Z\n{"a":1}\n' + ADP.encode(),
    )
    assert "PRIVATE" not in repr(signer)
    assert "{enc:" not in repr(signer)
