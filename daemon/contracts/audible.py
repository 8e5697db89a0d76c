"""Audible: the wire facts client and sandbox share (spec/audible.md, AU-Cnn).

Marketplaces, hosts, paths, form names, header names, token prefixes and documented limits;
both `daemon.services.audible` and `daemon.sandbox.audible` import them. What the client
chooses is in `daemon.services.audible.policy`, what the sandbox chooses in
`daemon.sandbox.audible.choices`. Pure values only: no I/O, no mutable module state.
"""

# ruff: noqa: S105  # header names, paths and token prefixes here are not secrets
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# --- §2 marketplaces (DOCUMENTED) / AU-C01 (all 11 implemented) ---------------------------


@dataclass(frozen=True, slots=True)
class Locale:
    """One Audible marketplace: the TLD feeds every host template."""

    country_code: str
    tld: str
    marketplace_id: str
    accept_language: str


LOCALES: Final = MappingProxyType(
    {
        loc.country_code: loc
        for loc in (
            Locale("us", "com", "AF2M0KC94RCEA", "en-US"),
            Locale("uk", "co.uk", "A2I9A3Q2GNFNGQ", "en-GB"),
            Locale("de", "de", "AN7V1F1VY261K", "de-DE"),
            Locale("fr", "fr", "A2728XDNODOQ8T", "fr-FR"),
            Locale("ca", "ca", "A2CQZ5RBY40XE", "en-CA"),
            Locale("it", "it", "A2N7FU2W2BU2ZC", "it-IT"),
            Locale("au", "com.au", "AN7EY7DTAW63G", "en-AU"),
            Locale("in", "in", "AJO3FBRUE6J4S", "en-IN"),
            Locale("jp", "co.jp", "A1QAP3MOU4173J", "ja-JP"),
            Locale("es", "es", "ALMIKO4SZCSAR", "es-ES"),
            Locale("br", "com.br", "A10J1VAYUDTYRN", "pt-BR"),
        )
    }
)
DEFAULT_LOCALE: Final = "us"

# Host templates (§0 swap rule): `{tld}` is filled from the locale.
WWW_HOST: Final = "www.amazon.{tld}"
IDENTITY_HOST: Final = "api.amazon.{tld}"
API_HOST: Final = "api.audible.{tld}"
# Pre-Amazon ("username") accounts sign in, register, refresh and deregister on Audible's
# own hosts (mkb79 `with_username`); only these marketplaces ever had such accounts.
USERNAME_WWW_HOST: Final = "www.audible.{tld}"
USERNAME_IDENTITY_HOST: Final = "api.audible.{tld}"
USERNAME_LOCALES: Final = frozenset({"us", "uk", "de"})
# §1: activation and the legacy content service are `.com` for every marketplace; an AAX
# download redirect names `cds.audible.com`, moved to the marketplace's `cds.audible.{tld}`.
ACTIVATION_HOST: Final = "www.audible.com"
LEGACY_CONTENT_HOST: Final = "cde-ta-g7g.amazon.com"
DOWNLOAD_HOST: Final = "cds.audible.{tld}"
ACTIVATION_PATH: Final = "/license/token"
ACTIVATION_QUERY: Final = "player_manuf=Audible,iPhone&action=register&player_model=iPhone"
FS_DOWNLOAD_PATH: Final = "/FionaCDEServiceEngine/FSDownloadContent"
AAX_DOWNLOAD_PATH: Final = "/download"
COOKIE_EXCHANGE_PATH: Final = "/ap/exchangetoken/cookies"
ACCOUNT_POOL_AMAZON: Final = "Amazon"
ACCOUNT_POOL_AUDIBLE: Final = "Audible"


# --- §3.1 login (DOCUMENTED) / AU-C02, AU-C06 iOS profile -----------------------------------

SIGNIN_PATH: Final = "/ap/signin"
MAPLANDING_PATH: Final = "/ap/maplanding"

# --- §3.3 legacy form login / AU-C03 --------------------------------------------------------

SIGNIN_FORM_NAME: Final = "signIn"
MFA_FORM_ID: Final = "auth-mfa-form"
# The other §3.3 steps, keyed on these ids/classes/names by client and sandbox alike.
DEVICE_SELECT_FORM_ID: Final = "auth-select-device-form"
DEVICE_OPTION_INPUT: Final = "otpDeviceContext"
CVF_CONTAINER_ID: Final = "cvf-page-content"
APPROVAL_FORM_IDS: Final = ("resend-approval-alert", "resend-approval-form")
APPROVAL_WAIT_CLASS: Final = "transaction-approval-word-break"
# `metadata1`: "ECdITeCs:" + base64(XXTEA("{CRC32 hex upper}#{json}")) under this key.
METADATA1_PREFIX: Final = "ECdITeCs:"
METADATA1_KEY: Final = b"a\x03\x8fp4\x18\x97\x99:\xeb\xe7\x8b\x85\x97$4"

# --- §4 registration / AU-C07, AU-C22 --------------------------------------------------------

REGISTER_PATH: Final = "/auth/register"
DEREGISTER_PATH: Final = "/auth/deregister"
TOKEN_PATH: Final = "/auth/token"
PROFILE_PATH: Final = "/user/profile"

# --- §5 signing / AU-C09, AU-C10 -------------------------------------------------------------

SIGNATURE_ALG: Final = "SHA256withRSA:1.0"
# AU-C09: the sandbox accepts signatures within ±15 min of its clock.
SIGNATURE_SKEW_SECONDS: Final = 900.0

# --- §6 tokens / AU-C11, AU-C12, AU-C13 ------------------------------------------------------

ACCESS_TOKEN_TTL_SECONDS: Final = 3600
ACCESS_TOKEN_HEADER: Final = "x-amz-access-token"  # AU-C12
ACCESS_TOKEN_PREFIX: Final = "Atna|"
REFRESH_TOKEN_PREFIX: Final = "Atnr|"

# --- §7 API / AU-C14 .. AU-C17 ---------------------------------------------------------------

API_PREFIX: Final = "/1.0"
LIBRARY_MAX_NUM_RESULTS: Final = 1000
# AU-C17: last-position reads carry at most 25 ASINs.
LASTPOSITIONS_MAX_ASINS: Final = 25
