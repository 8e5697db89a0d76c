"""What the Audible client chooses where the contract leaves it free (AU-Cnn).

The device profile it registers as (AU-C02, AU-C06: mkb79's iOS profile), the login and
registration requests it sends (§3.2, AU-C07), its signing timestamp and default headers
(AU-C09, AU-C10), refresh timing (AU-C11), library sync and licence request parameters
(AU-C14, AU-C15), its throttle pause (AU-C21) and where the session is kept (AU-C08).
The wire facts both sides share are in `daemon.contracts.audible`.
"""

# ruff: noqa: S105  # token type names here are not secrets
from __future__ import annotations

from types import MappingProxyType
from typing import Final

# --- The device profile: every request that names the app takes it from here ----------
# Values of the current Audible for iPhone app as mkb79/Audible 0.13.1 sends them
# (registration body, refresh and cookie-exchange forms, `map-md` init cookie, sign-in UA).
DEVICE_TYPE: Final = "A2CZJZGLK2JJVM"
APP_NAME: Final = "Audible"
APP_VERSION: Final = "4.60"
SOFTWARE_VERSION: Final = "46000856"
OS_VERSION: Final = "26.2"
DEVICE_MODEL: Final = "iPhone"
BUNDLE_ID: Final = "com.audible.iphone"
# The sign-in pages see the app's web view; WebKit has frozen the OS token it reports
# (18_7) while the device itself registers with the OS_VERSION above.
LOGIN_USER_AGENT: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
DEVICE_NAME_TEMPLATE: Final = (
    "%FIRST_NAME%%FIRST_NAME_POSSESSIVE_STRING%%DUPE_STRATEGY_1ST%Audible for iPhone"
)
OPENID_IDENTIFIER_SELECT: Final = "http://specs.openid.net/auth/2.0/identifier_select"
# The code parameter names accepted from a pasted maplanding URL, in order (§3.2 step 5).
AUTH_CODE_PARAMS: Final = ("openid.oa2.authorization_code", "authorization_code", "code")
REQUESTED_TOKEN_TYPES: Final = (
    "bearer",
    "mac_dms",
    "website_cookies",
    "store_authentication_cookie",
)
# AU-C09: the client's timestamp format: UTC with microseconds and `Z`, as the seed's
# example and mkb79 send it (mkb79 now writes `+00:00Z`; both parse the same).
SIGNATURE_TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
# AU-C10: mkb79's default API headers.
DEFAULT_API_HEADERS: Final = MappingProxyType(
    {"Accept": "application/json", "Accept-Charset": "utf-8", "Content-Type": "application/json"}
)
# Client refreshes this long before expiry so a token never dies mid-request.
REFRESH_MARGIN_SECONDS: Final = 300.0
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
# AU-C15: a cached licence is not reused within this many seconds of its expiry.
LICENCE_REUSE_MARGIN_SECONDS: Final = 600.0
# AU-C21: after CustomerThrottled the client stops requesting licences for 24 h.
THROTTLE_BACKOFF_SECONDS: Final = 24 * 3600.0
# The message a person sees when the registration is gone or refresh is refused.
RELOGIN_HINT: Final = "Audible sign-in expired: run `speakerd login audible`"
# Secret-store entry name for the session (AU-C08).
SESSION_SECRET_NAME: Final = "audible-session"
