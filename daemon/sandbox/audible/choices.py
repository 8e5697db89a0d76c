"""The Audible sandbox's own answers where the contract leaves the server free (AU-Cnn).

Its login test answers (AU-C03), registration keys and code lifetime (AU-C07, AU-C22),
the response groups, sort values and DRM types it validates (AU-C14 .. AU-C16), its CDN
URL lifetime, and its error messages and limits (AU-C20, AU-C23, AU-C24).
The wire facts both sides share are in `daemon.contracts.audible`.
"""

# ruff: noqa: S105  # names and test answers here are not secrets
from __future__ import annotations

from typing import Final

ERROR_BOX_ID: Final = "auth-error-message-box"
# AU-C03: the sandbox's fixed test answers.
SANDBOX_CAPTCHA_ANSWER: Final = "speakerd"
SANDBOX_OTP_CODE: Final = "123456"
# The code the sandbox "sends" by email/SMS in the CVF step, and the MFA devices it offers.
SANDBOX_CVF_CODE: Final = "654321"
SANDBOX_MFA_DEVICES: Final = (("auth-TOTP", "totp-app", "Authenticator app"),
                              ("auth-SMS", "sms-1234", "Text message to ***-***-1234"))
ADP_TOKEN_NAME: Final = "QURQVG9rZW5FbmNyeXB0aW9uS2V5"  # base64("ADPTokenEncryptionKey")
# AU-C07: 2048-bit keys by default; 1024 allowed for speed (tests).
SANDBOX_RSA_KEY_BITS: Final = 2048
# AU-C22: authorization codes are single-use and live 5 minutes.
AUTH_CODE_TTL_SECONDS: Final = 300.0
CREDENTIAL_ERROR_HEADER: Final = (
    'Basic realm="{host}/auth/register", error="CredentialError", '
    'error_description="The input credential is invalid."'
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
DRM_TYPES: Final = frozenset(
    {"Mpeg", "PlayReady", "Hls", "Dash", "Adrm", "FairPlay", "Widevine", "HlsCmaf"}
)
CONSUMPTION_TYPES: Final = frozenset({"Download", "Streaming", "Offline"})
# AU-C16: the drm types the sandbox grants, in order of preference.
SANDBOX_GRANTED_DRM_TYPES: Final = ("Adrm", "Hls", "Mpeg")
# Seconds a sandbox CDN URL stays valid (the real URLs carry `Expires`).
SANDBOX_CDN_URL_TTL_SECONDS: Final = 3600
MSG_NOT_AUTHENTICATED: Final = "Request could not be authenticated"
MSG_SERVER_ERROR: Final = "Whoops! Looks like something went wrong."
MSG_NO_RESPONSE_GROUPS: Final = "No response groups populated."
MAX_REQUEST_BODY_BYTES: Final = 1024 * 1024
SANDBOX_ADMIN_PREFIX: Final = "/_sandbox/audible"


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
