"""Amazon Music Device API + Login With Amazon: the wire facts client and sandbox share.

Paths, headers, field names, enums and documented limits (spec/amazon-music.md §0); both
sides import them and neither hard-codes them. DOCUMENTED marks public Amazon facts, AM-Cnn
our own contract items (§13). What the client chooses is in `daemon.services.amazon_policy`,
what the sandbox chooses in `daemon.sandbox.choices`. Pure: no I/O, no state.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from daemon.core.tiers import CAPABILITY_ORDER, Capability, Quality

# ---------------------------------------------------------------------------------------
# Login With Amazon (spec §2)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED: paths on the LWA host (the host itself is configuration, AM-C03).
LWA_CODEPAIR_PATH: Final = "/auth/o2/create/codepair"
LWA_TOKEN_PATH: Final = "/auth/o2/token"  # noqa: S105 - protocol literal, not a secret

#: DOCUMENTED: the only Device API scope.
LWA_SCOPE: Final = "amazon_music:access"
#: DOCUMENTED: literal response_type for code-based linking.
LWA_RESPONSE_TYPE: Final = "device_code"
#: DOCUMENTED grant types.
GRANT_DEVICE_CODE: Final = "device_code"
GRANT_REFRESH_TOKEN: Final = "refresh_token"  # noqa: S105 - protocol literal, not a secret
#: DOCUMENTED: token_type value (compared case-insensitively).
TOKEN_TYPE_BEARER: Final = "bearer"  # noqa: S105 - protocol literal, not a secret

#: DOCUMENTED: token prefixes and size limits (§2.5).
ACCESS_TOKEN_PREFIX: Final = "Atza|"  # noqa: S105 - protocol literal, not a secret
REFRESH_TOKEN_PREFIX: Final = "Atzr|"  # noqa: S105 - protocol literal, not a secret
TOKEN_MAX_BYTES: Final = 2048
#: DOCUMENTED: access-token lifetime (expires_in) and code-pair lifetime (doc example).
ACCESS_TOKEN_LIFETIME_S: Final = 3600
CODEPAIR_LIFETIME_S: Final = 600
#: DOCUMENTED (example): six upper-case letters.
USER_CODE_LENGTH: Final = 6


class LwaError(enum.StrEnum):
    """Error codes of the code-pair and token endpoints (DOCUMENTED + AM-C02/AM-C05)."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    INVALID_CODE_PAIR = "invalid_code_pair"
    INVALID_GRANT = "invalid_grant"
    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"
    INVALID_VALUE = "InvalidValue"
    SERVER_ERROR = "servererror"
    #: RFC 8628 name for a user's denial; the sandbox's deny hook answers with it.
    ACCESS_DENIED = "access_denied"


# ---------------------------------------------------------------------------------------
# Request headers (spec §3)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED header names (HTTP names are case-insensitive).
H_AUTHORIZATION: Final = "Authorization"
H_ACCEPT_LANGUAGE: Final = "Accept-Language"
H_MUSIC_SITE: Final = "X-Amz-Music-Site"
H_IMAGES_ACCEPT: Final = "X-Amz-Music-Images-Accept"
H_IMAGES_SHRINK: Final = "X-Amz-Music-Images-Shrink"
H_IMAGE_STYLE: Final = "amzn-image-style"
H_WORKAROUND: Final = "X-Amz-Workaround"
H_REDIRECT_STATUS: Final = "X-Amz-Redirect-Status"
H_REDIRECT_LOCATION: Final = "X-Amz-Redirect-Location"
H_DRM_TYPE: Final = "X-Amzn-Audio-DRMType"
H_DEVICE_CAPABILITY: Final = "X-Amzn-Audio-Device-Capability"
H_DEVICE_ID: Final = "X-Amzn-Device-Id"
WORKAROUND_REDIRECT: Final = "redirect"

#: DOCUMENTED: deprecated headers a client must never send.
DEPRECATED_HEADERS: Final[tuple[str, ...]] = (
    "X-Amzn-Audio-Preferences",
    "X-Amzn-Audio-Device-Support-Max",
    "X-Amz-Device-Max-Sample-Rate",
)

#: DOCUMENTED: the only supported DRM system. AM-C10: the client sends it upper-case.
DRM_WIDEVINE: Final = "WIDEVINE"


#: AM-C13b: the `*` image placeholder and the CDN's scaling form that fills it.
IMAGE_PLACEHOLDER: Final = "._*_."
IMAGE_SIDE_MIN: Final = 30
IMAGE_SIDE_MAX: Final = 1200


def fill_image_placeholder(uri: str, side: int) -> str:
    """`…/<id>._*_.jpg` -> `…/<id>._SL<side>_.jpg`, side clamped to 30..1200; other URIs
    are returned as they are (the client never builds image URIs otherwise)."""
    if IMAGE_PLACEHOLDER not in uri:
        return uri
    side = min(IMAGE_SIDE_MAX, max(IMAGE_SIDE_MIN, side))
    return uri.replace(IMAGE_PLACEHOLDER, f"._SL{side}_.")


def split_header_list(value: str | None) -> list[str]:
    """AM-C10: comma-separated items, whitespace trimmed, empty items dropped."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def header_list_contains(value: str | None, wanted: str) -> bool:
    """AM-C10: case-insensitive membership in a comma-separated header value."""
    return wanted.lower() in (item.lower() for item in split_header_list(value))


def bearer(token: str) -> str:
    """DOCUMENTED: the Authorization value for an LWA access token."""
    return f"Bearer {token}"


# ---------------------------------------------------------------------------------------
# Capability tokens (AM-C07)
# ---------------------------------------------------------------------------------------


def parse_capabilities(value: str | None) -> frozenset[Capability]:
    """AM-C07/AM-C10: known tokens, case-insensitive; unknown ignored; absent = STD_RES.

    A header that is present but names no known token also means STD_RES only.
    """
    known = {c.value: c for c in Capability}
    found = {known[t.upper()] for t in split_header_list(value) if t.upper() in known}
    return frozenset(found) if found else frozenset({Capability.STD_RES})


def capability_header(capabilities: Iterable[Capability]) -> str:
    """AM-C07: the header value in canonical order, comma-separated without spaces."""
    wanted = set(capabilities)
    return ",".join(c.value for c in CAPABILITY_ORDER if c in wanted)


# ---------------------------------------------------------------------------------------
# Times and units (AM-C16)
# ---------------------------------------------------------------------------------------


def format_timestamp(epoch_s: float) -> str:
    """AM-C16: ISO-8601 UTC with milliseconds, e.g. `2024-05-01T12:15:00.000Z`."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: object) -> float | None:
    """AM-C16: an ISO-8601 UTC string or an epoch-milliseconds number -> epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None
    return moment.timestamp()


# ---------------------------------------------------------------------------------------
# Documents, availability, search, ratings (AM-C18, C20, C23)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED: redirect statuses the API may use.
REDIRECT_STATUSES: Final = frozenset({301, 303, 307})

#: AM-C23: `licenseUri` in TrackDefinition.audio is a sandbox extension.
AUDIO_LICENSE_URI_FIELD: Final = "licenseUri"

#: AM-C18: availability path.
AVAILABILITY_PATH: Final = "/availability/"

#: DOCUMENTED: search paths (§4.7); the client prefers a path from the root document.
SEARCH_PATH: Final = "/search/"
FLAT_SEARCH_PATH: Final = "/flat_search/"

#: DOCUMENTED: thumb ratings. AM-C20: thumbs_down answers shouldSkip true.
THUMB_RATINGS: Final = frozenset({"thumbs_up", "thumbs_down", "neutral"})


# ---------------------------------------------------------------------------------------
# Licence (AM-C24, AM-C25)
# ---------------------------------------------------------------------------------------

LICENCE_CONTENT_TYPE: Final = "application/octet-stream"
#: AM-C24: a Widevine SERVICE_CERTIFICATE_REQUEST challenge.
SERVICE_CERTIFICATE_REQUEST: Final = b"\x08\x04"
#: AM-C24: JSON-wrapped variant (behind a sandbox flag).
LICENCE_JSON_CHALLENGE_KEY: Final = "licenseChallenge"
LICENCE_JSON_LICENCE_KEY: Final = "license"


class DenialReason(enum.StrEnum):
    """AM-C24: licence `denialReason` values."""

    VMP_VALIDATION_FAILED = "VMP_VALIDATION_FAILED"
    CONCURRENCY_LIMIT = "CONCURRENCY_LIMIT"
    NOT_ENTITLED = "NOT_ENTITLED"
    DEVICE_ID_MISMATCH = "DEVICE_ID_MISMATCH"


class LicenceBackend(enum.StrEnum):
    """AM-C25: sandbox licence backends."""

    WIDEVINE_TEST = "widevine-test"
    CLEARKEY = "clearkey"
    OPAQUE = "opaque"


# ---------------------------------------------------------------------------------------
# Playback events (AM-C27)
# ---------------------------------------------------------------------------------------


class EventType(enum.StrEnum):
    """AM-C27: playback event types."""

    PLAYBACK_STARTED = "PLAYBACK_STARTED"
    PLAYBACK_PAUSED = "PLAYBACK_PAUSED"
    PLAYBACK_RESUMED = "PLAYBACK_RESUMED"
    PLAYBACK_PROGRESS = "PLAYBACK_PROGRESS"
    PLAYBACK_FINISHED = "PLAYBACK_FINISHED"
    PLAYBACK_SKIPPED = "PLAYBACK_SKIPPED"
    PLAYBACK_STOPPED = "PLAYBACK_STOPPED"
    PLAYBACK_ERROR = "PLAYBACK_ERROR"


class EventReason(enum.StrEnum):
    """AM-C27: `reason` values for STOPPED/SKIPPED/ERROR."""

    USER_NEXT = "USER_NEXT"
    USER_PREVIOUS = "USER_PREVIOUS"
    USER_STOP = "USER_STOP"
    DECODE_ERROR = "DECODE_ERROR"
    LICENSE_ERROR = "LICENSE_ERROR"
    NETWORK_ERROR = "NETWORK_ERROR"


#: AM-C27: fields of an event report; all but `reason` are required.
EVENT_FIELDS: Final[tuple[str, ...]] = (
    "eventType",
    "trackPosition",
    "wallClockTime",
    "playedDuration",
    "audioQuality",
    "drmType",
    "reason",
)
#: AM-C27: collector replies.
EVENT_ACCEPTED_STATUS: Final = 204


def playback_event(
    event_type: EventType,
    *,
    track_position_ms: int,
    wall_clock_s: float,
    played_duration_ms: int,
    audio_quality: Quality,
    reason: EventReason | None = None,
) -> dict[str, object]:
    """AM-C27: build one event report body."""
    return {
        "eventType": event_type.value,
        "trackPosition": int(track_position_ms),
        "wallClockTime": format_timestamp(wall_clock_s),
        "playedDuration": int(played_duration_ms),
        "audioQuality": audio_quality.value,
        "drmType": DRM_WIDEVINE,
        "reason": reason.value if reason is not None else None,
    }


# ---------------------------------------------------------------------------------------
# Errors (DOCUMENTED GeneralErrorReport)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED: user-facing problems are 409 with a GeneralErrorReport document.
GENERAL_ERROR_STATUS: Final = 409


# ---------------------------------------------------------------------------------------
# Languages (DOCUMENTED list)
# ---------------------------------------------------------------------------------------

SUPPORTED_LANGUAGES: Final[tuple[str, ...]] = (
    "de-de",
    "en-au",
    "en-ca",
    "en-gb",
    "en-in",
    "en-nz",
    "en-us",
    "es-es",
    "es-mx",
    "fr-ca",
    "fr-fr",
    "it-it",
    "ja-jp",
    "pt-br",
)
DEFAULT_LANGUAGE: Final = "en-us"
