"""Amazon Music Device API + Login With Amazon: documented constants and SANDBOX CHOICES.

Both the daemon's clients (`daemon/services/lwa.py`, `music.py`) and the sandbox import this
module; neither hard-codes any value defined here (spec/amazon-music.md §0). Constants
marked DOCUMENTED come from public Amazon pages; those marked AM-Cnn are our choices (§13).
Pure: no I/O, no asyncio, no mutable module state.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from daemon.core.tiers import (
    CAPABILITY_ORDER,
    CAPABILITY_QUALITY,
    Capability,
    Quality,
)

# ---------------------------------------------------------------------------------------
# Login With Amazon (spec §2)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED: paths on the LWA host (host itself is configuration; AM-C03 default below).
LWA_CODEPAIR_PATH: Final = "/auth/o2/create/codepair"
LWA_TOKEN_PATH: Final = "/auth/o2/token"  # noqa: S105 - protocol literal, not a secret
#: AM-C03: default LWA host (regional hosts are configuration).
LWA_DEFAULT_BASE_URL: Final = "https://api.amazon.com"

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
ACCESS_TOKEN_MIN_CHARS: Final = 350
TOKEN_MAX_BYTES: Final = 2048
#: DOCUMENTED: access-token lifetime (expires_in) and code-pair lifetime (doc example).
ACCESS_TOKEN_LIFETIME_S: Final = 3600
CODEPAIR_LIFETIME_S: Final = 600
#: DOCUMENTED (example): six upper-case letters.
USER_CODE_LENGTH: Final = 6

#: AM-C05: interval the sandbox announces by default (docs' example is 30 s).
SANDBOX_POLL_INTERVAL_S: Final = 5


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


class LwaAction(enum.Enum):
    """What the client does with each LWA error (AM-C02)."""

    KEEP_POLLING = "keep_polling"
    SLOW_DOWN = "slow_down"
    NEW_CODE_PAIR = "new_code_pair"
    UNLINK = "unlink"
    FATAL = "fatal"
    RETRY = "retry"


#: AM-C02: client action per error code; unknown codes are FATAL.
LWA_ERROR_ACTIONS: Final[Mapping[str, LwaAction]] = {
    LwaError.AUTHORIZATION_PENDING: LwaAction.KEEP_POLLING,
    LwaError.SLOW_DOWN: LwaAction.SLOW_DOWN,
    LwaError.INVALID_CODE_PAIR: LwaAction.NEW_CODE_PAIR,
    LwaError.INVALID_GRANT: LwaAction.UNLINK,
    LwaError.ACCESS_DENIED: LwaAction.UNLINK,
    LwaError.INVALID_REQUEST: LwaAction.FATAL,
    LwaError.INVALID_CLIENT: LwaAction.FATAL,
    LwaError.UNAUTHORIZED_CLIENT: LwaAction.FATAL,
    LwaError.UNSUPPORTED_GRANT_TYPE: LwaAction.FATAL,
    LwaError.INVALID_SCOPE: LwaAction.FATAL,
    LwaError.INVALID_VALUE: LwaAction.FATAL,
    LwaError.SERVER_ERROR: LwaAction.RETRY,
}

#: AM-C05: HTTP status the sandbox uses per error (Amazon's real statuses are undocumented).
LWA_ERROR_STATUS: Final[Mapping[str, int]] = {
    **{code.value: 400 for code in LwaError},
    LwaError.SERVER_ERROR.value: 500,
}

#: AM-C02: poll-interval bounds and the slow_down factor.
POLL_INTERVAL_MIN_S: Final = 5.0
POLL_INTERVAL_MAX_S: Final = 60.0
SLOW_DOWN_FACTOR: Final = 2.0
#: AM-C02: retry steps for network failures / 5xx / servererror, each with ±50 % jitter.
LWA_BACKOFF_STEPS_S: Final[tuple[float, ...]] = (0.0, 1.0, 2.0, 4.0, 10.0, 30.0, 60.0)
LWA_BACKOFF_JITTER: Final = 0.5

#: AM-C03: start refreshing this many seconds before the access token expires.
REFRESH_HEAD_START_S: Final = 30.0


def lwa_action(error_code: str) -> LwaAction:
    """AM-C02: the client's action for an LWA error code (unknown codes are fatal)."""
    return LWA_ERROR_ACTIONS.get(error_code, LwaAction.FATAL)


def clamp_poll_interval(seconds: float) -> float:
    """AM-C02: bound any poll interval to [5 s, 60 s]."""
    return min(POLL_INTERVAL_MAX_S, max(POLL_INTERVAL_MIN_S, float(seconds)))


def next_poll_interval(current_s: float, error_code: str | None) -> float:
    """AM-C02: interval after a poll answered with `error_code` (None = keep it)."""
    if error_code == LwaError.SLOW_DOWN:
        return clamp_poll_interval(current_s * SLOW_DOWN_FACTOR)
    return clamp_poll_interval(current_s)


def lwa_backoff_step(attempt: int) -> float:
    """AM-C02: nominal delay before retry number `attempt` (0-based), before jitter."""
    return LWA_BACKOFF_STEPS_S[min(max(attempt, 0), len(LWA_BACKOFF_STEPS_S) - 1)]


def jittered(seconds: float, unit_random: float, jitter: float = LWA_BACKOFF_JITTER) -> float:
    """Apply ±`jitter` (fraction) to `seconds`; `unit_random` is a draw in [0, 1)."""
    return max(0.0, seconds * (1.0 + jitter * (2.0 * unit_random - 1.0)))


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A token endpoint success body that passed the §2.4 acceptance rule."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


def parse_token_response(body: object) -> TokenResponse | None:
    """§2.4: accept only bodies with both tokens, token_type bearer and expires_in > 0."""
    if not isinstance(body, dict):
        return None
    access = body.get("access_token")
    refresh = body.get("refresh_token")
    token_type = body.get("token_type")
    expires = body.get("expires_in")
    if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
        return None
    if not isinstance(token_type, str) or token_type.lower() != TOKEN_TYPE_BEARER:
        return None
    if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
        return None
    if len(access.encode()) > TOKEN_MAX_BYTES or len(refresh.encode()) > TOKEN_MAX_BYTES:
        return None
    return TokenResponse(access, refresh, token_type, int(expires))


def lwa_error_body(code: str, description: str) -> dict[str, str]:
    """AM-C05: the error body `{"error", "error_description"}`."""
    return {"error": code, "error_description": description}


#: AM-C01: the client sends Accept-Language on the code-pair request (see AM-C33 for values).
CODEPAIR_SENDS_ACCEPT_LANGUAGE: Final = True


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

#: AM-C09: default shrink-spec and Accept header the client sends.
DEFAULT_IMAGES_SHRINK: Final = "*=400x400"
DEFAULT_ACCEPT: Final = "application/json"
#: AM-C17: default site id (configuration in the daemon).
DEFAULT_MUSIC_SITE: Final = "music.amazon.com"

#: Issue 3 tightens AM-C10 for the capability header: a value containing whitespace is a
#: 400 naming the header (the client never sends spaces: see `capability_header()`).
CAPABILITY_HEADER_REJECTS_WHITESPACE: Final = True

#: Headers every playback, licence and event request must carry (AM-C11, AM-C12).
PLAYBACK_REQUIRED_HEADERS: Final[tuple[str, ...]] = (H_DEVICE_ID, H_DRM_TYPE)


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
# Device id (AM-C08, client side)
# ---------------------------------------------------------------------------------------

DEVICE_ID_HEX_CHARS: Final = 32
_MAC_RE: Final = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def device_id_from_mac(mac: str) -> str:
    """AM-C08: first 32 lower-case hex chars of SHA-256 over the MAC in lower-case colon form.

    Accepts `AA-BB-…`, `aabb…` and colon forms; the caller persists the result.
    """
    digits = re.sub(r"[^0-9a-fA-F]", "", mac).lower()
    if len(digits) != 12:
        raise ValueError("MAC address must have 12 hex digits")
    canonical = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    assert _MAC_RE.match(canonical)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:DEVICE_ID_HEX_CHARS]


# ---------------------------------------------------------------------------------------
# Capability tokens, qualities, formats, tiers (AM-C07, AM-C22)
# ---------------------------------------------------------------------------------------




@dataclass(frozen=True, slots=True)
class FormatInfo:
    """One sandbox media format (AM-C07 fixture table)."""

    format_id: str
    quality: Quality
    codecs: str
    sample_rate: int
    bit_depth: int | None
    lossless: bool


#: AM-C07: the sandbox fixture formats (media engineer's ids) and what they are.
FORMATS: Final[Mapping[str, FormatInfo]] = {
    f.format_id: f
    for f in (
        FormatInfo("OPUS_48", Quality.SD, "opus", 48000, None, False),
        FormatInfo("OPUS_192", Quality.SD, "opus", 48000, None, False),
        FormatInfo("OPUS_320", Quality.SD, "opus", 48000, None, False),
        FormatInfo("FLAC_16_44", Quality.HD, "flac", 44100, 16, True),
        FormatInfo("FLAC_24_96", Quality.UHD, "flac", 96000, 24, True),
        FormatInfo("FLAC_24_192", Quality.UHD, "flac", 192000, 24, True),
        FormatInfo("EC3", Quality.ATMOS, "ec-3", 48000, None, False),
    )
}


def format_quality(format_id: str) -> Quality | None:
    """AM-C07: quality of a format id; ids with a known prefix are classified by codec."""
    info = FORMATS.get(format_id)
    if info is not None:
        return info.quality
    upper = format_id.upper()
    if upper.startswith(("OPUS", "AAC")):
        return Quality.SD
    if upper.startswith("FLAC_16"):
        return Quality.HD
    if upper.startswith("FLAC_24"):
        return Quality.UHD
    if upper.startswith(("EC3", "AC4")):
        return Quality.ATMOS
    if upper.startswith("MHM1"):
        return Quality.RA360
    return None


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


class Tier(enum.StrEnum):
    """AM-C22: account tier fixtures."""

    FREE = "FREE"
    PRIME = "PRIME"
    UNLIMITED = "UNLIMITED"


#: DOCUMENTED: Free and Prime get SD only. AM-C22: Unlimited gets everything.
TIER_QUALITIES: Final[Mapping[Tier, frozenset[Quality]]] = {
    Tier.FREE: frozenset({Quality.SD}),
    Tier.PRIME: frozenset({Quality.SD}),
    Tier.UNLIMITED: frozenset(Quality),
}

#: AM-C07: qualities the sandbox can never produce (no offline encoder).
UNPRODUCIBLE_QUALITIES: Final = frozenset({Quality.RA360})


def offered_formats(
    capabilities: Iterable[Capability], tier: Tier, track_formats: Iterable[str]
) -> list[str]:
    """AM-C23: formats in the manifest = capabilities ∩ tier ∩ track formats (track order)."""
    wanted = {CAPABILITY_QUALITY[c] for c in capabilities} & TIER_QUALITIES[tier]
    wanted -= UNPRODUCIBLE_QUALITIES
    return [f for f in track_formats if format_quality(f) in wanted]


#: AM-C22: Prime station skip limit.
PRIME_SKIPS_PER_WINDOW: Final = 6
PRIME_SKIP_WINDOW_S: Final = 3600


# ---------------------------------------------------------------------------------------
# Images (AM-C13)
# ---------------------------------------------------------------------------------------

IMAGE_ROLES: Final = frozenset({"navigation-node", "item", "track-container", "track", "*"})
IMAGE_STYLE_SIZES: Final = frozenset({500, 160, 110, 75, 30})
IMAGE_EXTENSIONS: Final[Mapping[str, str]] = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}
DEFAULT_IMAGE_EXTENSION: Final = "jpg"
_SHRINK_ENTRY_RE: Final = re.compile(r"^([a-z*-]+)\s*=\s*([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
_IMAGE_STYLE_RE: Final = re.compile(r"^SL([0-9]+)$", re.IGNORECASE)
#: AM-C13: image URI path format.
IMAGE_PATH_FORMAT: Final = "/images/{image_id}._SX{width}_SY{height}_.{ext}"
IMAGE_PATH_RE: Final = re.compile(
    r"^/images/(?P<image_id>[A-Za-z0-9-]{1,64})\._SX(?P<width>[0-9]{1,5})_SY(?P<height>[0-9]{1,5})_"
    r"\.(?P<ext>png|jpg)$"
)


def parse_shrink_spec(value: str | None) -> dict[str, tuple[int, int]]:
    """AM-C13: `role=WxH` entries; malformed entries and unknown roles are ignored."""
    sizes: dict[str, tuple[int, int]] = {}
    for entry in split_header_list(value):
        match = _SHRINK_ENTRY_RE.match(entry)
        if match and match.group(1) in IMAGE_ROLES:
            sizes[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return sizes


def parse_image_style(value: str | None) -> int | None:
    """AM-C13: `SL<n>` with n in {500,160,110,75,30}; anything else is ignored."""
    if not value:
        return None
    match = _IMAGE_STYLE_RE.match(value.strip())
    if match and int(match.group(1)) in IMAGE_STYLE_SIZES:
        return int(match.group(1))
    return None


def image_bound(
    role: str, shrink: Mapping[str, tuple[int, int]], style: int | None
) -> tuple[int, int] | None:
    """AM-C13: the maximum size for `role`: its own entry, else `*`, else SL<n>, else None."""
    if role in shrink:
        return shrink[role]
    if "*" in shrink:
        return shrink["*"]
    if style is not None:
        return (style, style)
    return None


def fit_within(original: tuple[int, int], bound: tuple[int, int] | None) -> tuple[int, int]:
    """AM-C13: shrink to fit `bound` keeping the aspect ratio; never enlarge."""
    width, height = original
    if bound is None:
        return original
    scale = min(1.0, bound[0] / width, bound[1] / height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def image_extension(images_accept: str | None) -> str:
    """AM-C13: file extension from X-Amz-Music-Images-Accept (`png`/`jpeg`; default jpg)."""
    if not images_accept:
        return DEFAULT_IMAGE_EXTENSION
    key = images_accept.strip().lower().removeprefix("image/")
    return IMAGE_EXTENSIONS.get(key, DEFAULT_IMAGE_EXTENSION)


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
# Documents, manifests, availability, ratings (AM-C14, C15, C18, C20, C23)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED dictionaries of a Document<T> (absent or null = empty).
DOC_DICTIONARIES: Final[tuple[str, ...]] = (
    "navigationNodeSummaries",
    "navigationNodeDescriptions",
    "itemDescriptions",
    "playables",
    "trackContainerChunkDescriptions",
    "trackInstances",
    "trackDefinitions",
    "generalErrorReports",
    "trackRatingResponses",
    "availabilityResponses",
)
#: DOCUMENTED: redirect statuses the API may use.
REDIRECT_STATUSES: Final = frozenset({301, 303, 307})

#: AM-C23: `licenseUri` in TrackDefinition.audio is a sandbox extension.
AUDIO_LICENSE_URI_FIELD: Final = "licenseUri"
#: AM-C23: manifest URL lifetime.
MANIFEST_URL_LIFETIME_S: Final = 15 * 60
#: AM-C23 / DOCUMENTED: the first 30 s are clear; sandbox segments are 10 s.
CLEAR_LEAD_S: Final = 30
SEGMENT_SECONDS: Final = 10
MPD_PROFILE: Final = "urn:mpeg:dash:profile:isoff-on-demand:2011"
BIT_DEPTH_SCHEME: Final = "amz-music:bitDepth"

#: AM-C18: availability path and available countries.
AVAILABILITY_PATH: Final = "/availability/"
AVAILABLE_COUNTRIES: Final = frozenset(
    {"US", "GB", "DE", "AT", "FR", "IT", "ES", "JP", "CA", "MX", "BR", "AU", "NZ", "IN"}
)

#: DOCUMENTED: search paths (§4.7); the client prefers a path from the root document.
SEARCH_PATH: Final = "/search/"
FLAT_SEARCH_PATH: Final = "/flat_search/"

#: DOCUMENTED: thumb ratings. AM-C20: thumbs_down answers shouldSkip true.
THUMB_RATINGS: Final = frozenset({"thumbs_up", "thumbs_down", "neutral"})
SKIP_ON_RATING: Final = frozenset({"thumbs_down"})

#: AM-C17: site host -> country.
SITE_COUNTRIES: Final[Mapping[str, str]] = {
    "music.amazon.com": "US",
    "music.amazon.co.uk": "GB",
    "music.amazon.de": "DE",
    "music.amazon.fr": "FR",
    "music.amazon.it": "IT",
    "music.amazon.es": "ES",
    "music.amazon.co.jp": "JP",
    "music.amazon.ca": "CA",
    "music.amazon.com.mx": "MX",
    "music.amazon.com.br": "BR",
    "music.amazon.com.au": "AU",
    "music.amazon.in": "IN",
}


# ---------------------------------------------------------------------------------------
# Licence (AM-C24, AM-C25, AM-C26)
# ---------------------------------------------------------------------------------------

LICENCE_CONTENT_TYPE: Final = "application/octet-stream"
#: AM-C24: a Widevine SERVICE_CERTIFICATE_REQUEST challenge.
SERVICE_CERTIFICATE_REQUEST: Final = b"\x08\x04"
#: AM-C24: JSON-wrapped variant (behind a sandbox flag).
LICENCE_JSON_CHALLENGE_KEY: Final = "licenseChallenge"
LICENCE_JSON_LICENCE_KEY: Final = "license"
LICENCE_DENIED_TYPE: Final = "com.amazon.digitalmusiclocator#DrmLicenseDeniedException"


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


class DenialAction(enum.Enum):
    """AM-C26: what the client does with a licence denial."""

    STOP_AND_REPORT = "stop_and_report"
    TRACK_ERROR = "track_error"
    PLAYBACK_ERROR = "playback_error"


#: AM-C26: denial reason -> client action (others: PLAYBACK_ERROR).
DENIAL_ACTIONS: Final[Mapping[str, DenialAction]] = {
    DenialReason.CONCURRENCY_LIMIT: DenialAction.STOP_AND_REPORT,
    DenialReason.NOT_ENTITLED: DenialAction.TRACK_ERROR,
}
#: AM-C26: keys kept for the current/previous/next track instances only.
LICENCE_KEY_WINDOW: Final = 3


def licence_denial_body(reason: str, message: str) -> dict[str, str]:
    """AM-C24: the 403 denial body."""
    return {
        "__type": LICENCE_DENIED_TYPE,
        "DrmType": DRM_WIDEVINE,
        "denialReason": reason,
        "message": message,
    }


def denial_action(reason: str) -> DenialAction:
    """AM-C26: the client's action for a licence denial reason."""
    return DENIAL_ACTIONS.get(reason, DenialAction.PLAYBACK_ERROR)


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


TERMINAL_EVENTS: Final = frozenset(
    {
        EventType.PLAYBACK_FINISHED,
        EventType.PLAYBACK_SKIPPED,
        EventType.PLAYBACK_STOPPED,
        EventType.PLAYBACK_ERROR,
    }
)


class EventReason(enum.StrEnum):
    """AM-C27: `reason` values for STOPPED/SKIPPED/ERROR."""

    USER_NEXT = "USER_NEXT"
    USER_PREVIOUS = "USER_PREVIOUS"
    USER_STOP = "USER_STOP"
    DECODE_ERROR = "DECODE_ERROR"
    LICENSE_ERROR = "LICENSE_ERROR"
    NETWORK_ERROR = "NETWORK_ERROR"


#: AM-C27: fields of an event report and their JSON types.
EVENT_FIELDS: Final[tuple[str, ...]] = (
    "eventType",
    "trackPosition",
    "wallClockTime",
    "playedDuration",
    "audioQuality",
    "drmType",
    "reason",
)
#: AM-C27: PROGRESS cadence and the "played" threshold.
PROGRESS_INTERVAL_S: Final = 30
PLAYED_THRESHOLD_MS: Final = 30_000
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
# Errors (DOCUMENTED GeneralErrorReport; AM-C28 401; AM-C32 concurrency)
# ---------------------------------------------------------------------------------------

#: DOCUMENTED: user-facing problems are 409 with a GeneralErrorReport document.
GENERAL_ERROR_STATUS: Final = 409
#: DOCUMENTED: the only HTML allowed in `explanation`.
EXPLANATION_ALLOWED_TAGS: Final = frozenset({"a", "br"})
#: AM-C28: 401 challenge and error code.
WWW_AUTHENTICATE_INVALID_TOKEN: Final = 'Bearer error="invalid_token"'  # noqa: S105
INVALID_TOKEN_ERROR: Final = "invalid_token"  # noqa: S105
#: DOCUMENTED (Web API): expired-token error code.
INVALID_ACCESS_TOKEN_CODE: Final = "INVALID_ACCESS_TOKEN"  # noqa: S105
#: AM-C32: Web-API-style concurrency error.
MAX_CONCURRENCY_CODE: Final = "MAX_CONCURRENCY_REACHED"
#: AM-C32: simultaneous streams per account.
DEFAULT_MAX_STREAMS: Final = 1
#: Object key of the report in a 409 document (observed `_obj0`).
ERROR_REPORT_KEY: Final = "_obj0"


def unauthorized_body(message: str) -> dict[str, str]:
    """AM-C28: body of a Device API 401."""
    return {"error": INVALID_TOKEN_ERROR, "message": message}


def general_error_document(
    terse: str, brief: str, explanation: str, options: Sequence[Mapping[str, object]] = ()
) -> dict[str, Any]:
    """DOCUMENTED: a Document whose result is a GeneralErrorReport."""
    return {
        "result": f"#{ERROR_REPORT_KEY}",
        "generalErrorReports": {
            ERROR_REPORT_KEY: {
                "terse": terse,
                "brief": brief,
                "explanation": explanation,
                "options": [dict(o) for o in options],
            }
        },
    }


#: AM-C32/AM-C33: texts of the concurrency report (en-us and de-de fixtures).
CONCURRENCY_TEXTS: Final[Mapping[str, tuple[str, str, str]]] = {
    "en-us": (
        "Playing elsewhere",
        "Your music is playing on another device",
        "Amazon Music can play on one device at a time.<br>Choose Play here to move it.",
    ),
    "de-de": (
        "Wird woanders abgespielt",
        "Deine Musik läuft auf einem anderen Gerät",
        "Amazon Music spielt jeweils auf einem Gerät.<br>Wähle Hier abspielen.",
    ),
}
CONCURRENCY_OPTION_LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "en-us": ("Play here", "OK"),
    "de-de": ("Hier abspielen", "OK"),
}


def message_body(message: str) -> dict[str, str]:
    """Fallback error body where the spec documents none: `{"message": ...}`."""
    return {"message": message}


# ---------------------------------------------------------------------------------------
# Retry policy (AM-C29) and rate limits (AM-C31)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """AM-C29: exponential backoff with ±jitter; `delay` is the nominal wait before a retry."""

    max_attempts: int
    base_s: float
    factor: float
    jitter: float
    cap_s: float
    retry_statuses: frozenset[int]

    def delay(self, retry_number: int, unit_random: float) -> float:
        """Wait before retry `retry_number` (1-based), jittered with `unit_random` in [0,1)."""
        nominal = min(self.cap_s, self.base_s * self.factor ** max(0, retry_number - 1))
        return min(self.cap_s, jittered(nominal, unit_random, self.jitter))

    def should_retry(self, status: int | None) -> bool:
        """True for network errors (`None`) and the retryable statuses."""
        return status is None or status in self.retry_statuses


_RETRYABLE_API: Final = frozenset({429, 500, 502, 503, 504})
#: AM-C29: API GETs (documents, TrackDefinitions); honour Retry-After when present.
API_RETRY: Final = RetryPolicy(5, 1.0, 2.0, 0.5, 60.0, _RETRYABLE_API)
#: AM-C29 + lan-security-and-operations.md §6: segments and manifests.
MEDIA_RETRY: Final = RetryPolicy(3, 1.0, 2.0, 0.5, 8.0, _RETRYABLE_API)
#: AM-C29: 403/410 on media means "re-fetch the TrackDefinition/manifest", not retry.
MEDIA_REFETCH_STATUSES: Final = frozenset({403, 410})
#: AM-C29: event POSTs are never retried while playing.
EVENT_RETRY_WHILE_PLAYING: Final = False

#: AM-C31: per-token rate limit (requests/s, burst).
RATE_LIMIT_PER_S: Final = 10.0
RATE_LIMIT_BURST: Final = 20


# ---------------------------------------------------------------------------------------
# Languages (DOCUMENTED list; AM-C33 negotiation)
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


def negotiate_language(accept_language: str | None) -> str:
    """AM-C33: highest-q supported code (es_mx == es-mx), else `en-us`."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(split_header_list(accept_language)):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        code = tag.strip().lower().replace("_", "-")
        if code in SUPPORTED_LANGUAGES and quality > 0:
            ranked.append((-quality, index, code))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


# ---------------------------------------------------------------------------------------
# Sandbox hooks (AM-C34)
# ---------------------------------------------------------------------------------------

SANDBOX_HOOK_PREFIX: Final = "/_sandbox/"
#: AM-C05: verification page path (the codepair's verification_uri).
SANDBOX_VERIFICATION_PATH: Final = "/code"
