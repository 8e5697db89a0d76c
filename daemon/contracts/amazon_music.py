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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

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


class Capability(enum.StrEnum):
    """X-Amzn-Audio-Device-Capability tokens (first four DOCUMENTED example; 360 is AM-C07)."""

    STD_RES = "STD_RES"
    HI_FI = "HI_FI"
    HI_RES = "HI_RES"
    THREE_DIMENSIONAL = "THREE_DIMENSIONAL"
    REAL_AUDIO_360 = "REAL_AUDIO_360"


#: AM-C07: canonical order in which the client lists its tokens.
CAPABILITY_ORDER: Final[tuple[Capability, ...]] = tuple(Capability)


class Quality(enum.StrEnum):
    """DOCUMENTED display qualities (audio-formats page)."""

    SD = "SD"
    HD = "HD"
    UHD = "UHD"
    ATMOS = "ATMOS"
    RA360 = "360RA"


#: AM-C07: token -> quality it unlocks.
CAPABILITY_QUALITY: Final[Mapping[Capability, Quality]] = {
    Capability.STD_RES: Quality.SD,
    Capability.HI_FI: Quality.HD,
    Capability.HI_RES: Quality.UHD,
    Capability.THREE_DIMENSIONAL: Quality.ATMOS,
    Capability.REAL_AUDIO_360: Quality.RA360,
}

#: DOCUMENTED: badge text per quality (SD has none).
QUALITY_BADGE: Final[Mapping[Quality, str | None]] = {
    Quality.SD: None,
    Quality.HD: "HD",
    Quality.UHD: "Ultra HD",
    Quality.ATMOS: "Atmos",
    Quality.RA360: "360",
}


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
