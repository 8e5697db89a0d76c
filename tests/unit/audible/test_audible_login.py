"""PKCE helpers, the sign-in URL, code extraction, locales."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from daemon.contracts.audible import LOCALES
from daemon.core.errors import AuthError, ConfigError
from daemon.services.audible import Endpoints, get_locale, start_external_login
from daemon.services.audible.login import (
    build_client_id,
    code_challenge,
    extract_authorization_code,
    new_code_verifier,
    new_device_serial,
)

EXPECTED_IDS = {
    "us": ("com", "AF2M0KC94RCEA"),
    "uk": ("co.uk", "A2I9A3Q2GNFNGQ"),
    "de": ("de", "AN7V1F1VY261K"),
    "fr": ("fr", "A2728XDNODOQ8T"),
    "ca": ("ca", "A2CQZ5RBY40XE"),
    "it": ("it", "A2N7FU2W2BU2ZC"),
    "au": ("com.au", "AN7EY7DTAW63G"),
    "in": ("in", "AJO3FBRUE6J4S"),
    "jp": ("co.jp", "A1QAP3MOU4173J"),
    "es": ("es", "ALMIKO4SZCSAR"),
    "br": ("com.br", "A10J1VAYUDTYRN"),
}


def test_all_marketplaces_from_the_spec() -> None:
    assert {k: (v.tld, v.marketplace_id) for k, v in LOCALES.items()} == EXPECTED_IDS
    assert get_locale(" UK ").tld == "co.uk"
    with pytest.raises(ConfigError, match="use one of"):
        get_locale("xx")


def test_endpoints_fill_the_tld() -> None:
    real = Endpoints()
    assert real.api_base(get_locale("jp")) == ("https://api.audible.co.jp", {})
    assert real.identity_base(get_locale("de"))[0] == "https://api.amazon.de"
    sandbox = Endpoints.sandbox("http://127.0.0.1:9/")
    assert sandbox.api_base(get_locale("uk")) == (
        "http://127.0.0.1:9",
        {"Host": "api.audible.co.uk"},
    )


def test_verifier_and_challenge() -> None:
    verifier = new_code_verifier()
    assert len(verifier.reveal()) == 43
    assert "=" not in verifier.reveal()
    digest = hashlib.sha256(verifier.reveal().encode()).digest()
    assert code_challenge(verifier) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert repr(verifier) == "Secret(***)"


def test_serial_and_client_id() -> None:
    serial = new_device_serial()
    assert len(serial) == 32
    assert serial == serial.upper()
    assert bytes.fromhex(build_client_id(serial)) == f"{serial}#A2CZJZGLK2JJVM".encode()


def test_signin_url_parameters() -> None:
    pending = start_external_login(get_locale("de"), Endpoints(), serial="ABC")
    parts = urlsplit(pending.signin_url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.amazon.de", "/ap/signin")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["openid.oa2.response_type"] == "code"
    assert q["openid.oa2.code_challenge_method"] == "S256"
    assert q["openid.oa2.code_challenge"] == code_challenge(pending.code_verifier)
    assert q["openid.return_to"] == "https://www.amazon.de/ap/maplanding"
    assert q["openid.assoc_handle"] == "amzn_audible_ios_de"
    assert q["openid.oa2.client_id"] == "device:" + build_client_id("ABC")
    assert q["marketPlaceId"] == "AN7V1F1VY261K"
    assert q["pageId"] == "amzn_audible_ios"
    assert q["openid.oa2.scope"] == "device_auth_access"
    assert pending.code_verifier.reveal() not in pending.signin_url


@pytest.mark.parametrize(
    "pasted",
    [
        "https://www.amazon.com/ap/maplanding?openid.mode=id_res&openid.oa2.authorization_code=ANcode1",
        "  https://www.amazon.com/ap/maplanding?authorization_code=ANcode1\n",
        "https://x/ap/maplanding?code=ANcode1",
        "openid.oa2.authorization_code=ANcode1&x=y",
        "ANcode1",
    ],
)
def test_extract_code(pasted: str) -> None:
    assert extract_authorization_code(pasted).reveal() == "ANcode1"


@pytest.mark.parametrize("pasted", ["", "https://www.amazon.com/ap/maplanding?x=1", "two words"])
def test_extract_code_refuses_junk(pasted: str) -> None:
    with pytest.raises(AuthError):
        extract_authorization_code(pasted)


def test_pending_complete_keeps_secrets_masked() -> None:
    pending = start_external_login(get_locale("us"), Endpoints())
    result = pending.complete(
        "https://www.amazon.com/ap/maplanding?openid.oa2.authorization_code=SEKRIT"
    )
    assert "SEKRIT" not in repr(result)
    assert pending.code_verifier.reveal() not in repr(result)
    assert result.serial == pending.serial
