"""Audible contract constants: documented facts plus every SANDBOX CHOICE (AU-Cnn).

Shared by the client (`daemon.services.audible`) and the sandbox (`daemon.sandbox.audible`)
so that a corrected fact changes one place. Source: spec/audible.md. Pure values only:
no I/O, no mutable module state.
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

# AU-C01: a "multi-marketplace" fixture account owns titles in these two stores.
MULTI_MARKETPLACE_FIXTURE: Final = ("us", "uk")

# --- §3.1 login (DOCUMENTED) / AU-C02, AU-C06 iOS profile -----------------------------------

DEVICE_TYPE: Final = "A2CZJZGLK2JJVM"
APP_NAME: Final = "Audible"
APP_VERSION: Final = "3.56.2"
SOFTWARE_VERSION: Final = "35602678"
OS_VERSION: Final = "15.0.0"
DEVICE_MODEL: Final = "iPhone"
DEVICE_NAME_TEMPLATE: Final = (
    "%FIRST_NAME%%FIRST_NAME_POSSESSIVE_STRING%%DUPE_STRATEGY_1ST%Audible for iPhone"
)
SIGNIN_PATH: Final = "/ap/signin"
MAPLANDING_PATH: Final = "/ap/maplanding"
OPENID_IDENTIFIER_SELECT: Final = "http://specs.openid.net/auth/2.0/identifier_select"
# The code parameter names accepted from a pasted maplanding URL, in order (§3.2 step 5).
AUTH_CODE_PARAMS: Final = ("openid.oa2.authorization_code", "authorization_code", "code")
LOGIN_USER_AGENT: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)

# --- §3.3 legacy form login / AU-C03 --------------------------------------------------------

SIGNIN_FORM_NAME: Final = "signIn"
MFA_FORM_ID: Final = "auth-mfa-form"
ERROR_BOX_ID: Final = "auth-error-message-box"
# AU-C03: the sandbox's fixed test answers.
SANDBOX_CAPTCHA_ANSWER: Final = "speakerd"
SANDBOX_OTP_CODE: Final = "123456"

# --- §4 registration / AU-C07, AU-C22 --------------------------------------------------------

REGISTER_PATH: Final = "/auth/register"
DEREGISTER_PATH: Final = "/auth/deregister"
TOKEN_PATH: Final = "/auth/token"
PROFILE_PATH: Final = "/user/profile"
REQUESTED_TOKEN_TYPES: Final = (
    "bearer",
    "mac_dms",
    "website_cookies",
    "store_authentication_cookie",
)
ADP_TOKEN_NAME: Final = "QURQVG9rZW5FbmNyeXB0aW9uS2V5"  # base64("ADPTokenEncryptionKey")
ADP_TOKEN_SEGMENTS: Final = ("enc", "key", "iv", "name", "serial")
# AU-C07: 2048-bit keys by default; 1024 allowed for speed (tests).
SANDBOX_RSA_KEY_BITS: Final = 2048
# AU-C22: authorization codes are single-use and live 5 minutes.
AUTH_CODE_TTL_SECONDS: Final = 300.0
CREDENTIAL_ERROR_HEADER: Final = (
    'Basic realm="{host}/auth/register", error="CredentialError", '
    'error_description="The input credential is invalid."'
)

# --- §5 signing / AU-C09, AU-C10 -------------------------------------------------------------

SIGNATURE_ALG: Final = "SHA256withRSA:1.0"
# AU-C09: the client's timestamp format (UTC, no fraction).
SIGNATURE_TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
# AU-C09: the sandbox accepts signatures within ±15 min of its clock.
SIGNATURE_SKEW_SECONDS: Final = 900.0
# AU-C10: mkb79's default API headers.
DEFAULT_API_HEADERS: Final = MappingProxyType(
    {"Accept": "application/json", "Accept-Charset": "utf-8", "Content-Type": "application/json"}
)

# --- §6 tokens / AU-C11, AU-C12, AU-C13 ------------------------------------------------------

ACCESS_TOKEN_TTL_SECONDS: Final = 3600
# Client refreshes this long before expiry so a token never dies mid-request.
REFRESH_MARGIN_SECONDS: Final = 300.0
ACCESS_TOKEN_HEADER: Final = "x-amz-access-token"  # AU-C12
ACCESS_TOKEN_PREFIX: Final = "Atna|"
REFRESH_TOKEN_PREFIX: Final = "Atnr|"

# --- §7 API / AU-C14 .. AU-C17 ---------------------------------------------------------------

API_PREFIX: Final = "/1.0"
LIBRARY_MAX_NUM_RESULTS: Final = 1000
# AU-C14: the client's library sync parameters.
LIBRARY_PAGE_SIZE: Final = 200
LIBRARY_SORT_BY: Final = "-PurchaseDate"
LIBRARY_RESPONSE_GROUPS: Final = (
    "product_desc",
    "product_attrs",
    "contributors",
    "media",
    "relationships",
    "series",
    "listening_status",
    "customer_rights",
)
LIBRARY_VALID_RESPONSE_GROUPS: Final = frozenset(
    [
        "contributors",
        "customer_rights",
        "media",
        "price",
        "product_attrs",
        "product_desc",
        "product_details",
        "product_extended_attrs",
        "product_plan_details",
        "product_plans",
        "rating",
        "sample",
        "sku",
        "series",
        "reviews",
        "ws4v",
        "origin",
        "relationships",
        "review_attrs",
        "categories",
        "badge_types",
        "category_ladders",
        "claim_code_url",
        "in_wishlist",
        "is_archived",
        "is_downloaded",
        "is_finished",
        "is_playable",
        "is_removable",
        "is_returnable",
        "is_visible",
        "listening_status",
        "order_details",
        "origin_asin",
        "pdf_url",
        "percent_complete",
        "periodicals",
        "provided_review",
        "always-returned",
    ]
)
CATALOG_VALID_RESPONSE_GROUPS: Final = frozenset(
    [
        "contributors",
        "media",
        "price",
        "product_attrs",
        "product_desc",
        "product_details",
        "product_extended_attrs",
        "product_plan_details",
        "product_plans",
        "rating",
        "sample",
        "sku",
        "series",
        "reviews",
        "relationships",
        "review_attrs",
        "category_ladders",
        "claim_code_url",
        "provided_review",
        "rights",
        "customer_rights",
        "goodreads_ratings",
        "always-returned",
    ]
)
METADATA_RESPONSE_GROUPS: Final = frozenset(
    {"chapter_info", "content_reference", "content_url", "always-returned"}
)
LIBRARY_SORT_VALUES: Final = frozenset(
    s + k for s in ("", "-") for k in ("Author", "Length", "Narrator", "PurchaseDate", "Title")
)
# AU-C15: the client's licence request body.
LICENSE_REQUEST_BODY: Final = MappingProxyType(
    {
        "consumption_type": "Download",
        "quality": "High",
        "supported_media_features": {
            "drm_types": ["Mpeg", "Adrm"],
            "codecs": ["mp4a.40.2"],
            "chapter_titles_type": "Tree",
            "previews": False,
            "catalog_samples": False,
        },
        "response_groups": "last_position_heard,content_reference,chapter_info",
        "spatial": False,
    }
)
DRM_TYPES: Final = frozenset(
    {"Mpeg", "PlayReady", "Hls", "Dash", "Adrm", "FairPlay", "Widevine", "HlsCmaf"}
)
CONSUMPTION_TYPES: Final = frozenset({"Download", "Streaming", "Offline"})
# AU-C16: the drm types the sandbox grants, in order of preference.
SANDBOX_GRANTED_DRM_TYPES: Final = ("Adrm", "Hls", "Mpeg")
# AU-C15: a cached licence is not reused within this many seconds of its expiry.
LICENCE_REUSE_MARGIN_SECONDS: Final = 600.0
# AU-C17: last-position reads carry at most 25 ASINs.
LASTPOSITIONS_MAX_ASINS: Final = 25
POSITION_PUSH_INTERVAL_SECONDS: Final = 30.0
# AU-C21: after CustomerThrottled the client stops requesting licences for 24 h.
THROTTLE_BACKOFF_SECONDS: Final = 24 * 3600.0
CDN_USER_AGENT: Final = "Audible/671 CFNetwork/1240.0.4 Darwin/20.6.0"
# Seconds a sandbox CDN URL stays valid (the real URLs carry `Expires`).
SANDBOX_CDN_URL_TTL_SECONDS: Final = 3600

# --- §9 errors / AU-C20, AU-C23, AU-C24 --------------------------------------------------------

MSG_NOT_AUTHENTICATED: Final = "Request could not be authenticated"
MSG_SERVER_ERROR: Final = "Whoops! Looks like something went wrong."
MSG_NO_RESPONSE_GROUPS: Final = "No response groups populated."
MAX_REQUEST_BODY_BYTES: Final = 1024 * 1024
SANDBOX_ADMIN_PREFIX: Final = "/_sandbox/audible"
# The message a person sees when the registration is gone or refresh is refused.
RELOGIN_HINT: Final = "Audible sign-in expired: run `speakerd login audible`"
# Secret-store entry name for the session (AU-C08).
SESSION_SECRET_NAME: Final = "audible-session"


def validation_message(errors: list[str]) -> str:
    """The §9.1 validation body text for one or more constraint failures."""
    noun = "validation error detected" if len(errors) == 1 else "validation errors detected"
    return f"{len(errors)} {noun}: " + "; ".join(errors)


def pattern_violation(value: str, field: str, pattern: str) -> str:
    """One §9.1 constraint failure: `Value 'x' at 'numResults' failed to satisfy ...`."""
    return (
        f"Value '{value}' at '{field}' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    )


def null_violation(field: str) -> str:
    """One §9.1 constraint failure for a missing value."""
    return f"Value null at '{field}' failed to satisfy constraint: Member must not be null"
