"""The sandbox's own answers where the Amazon contract leaves the server free (AM-Cnn).

Error statuses and bodies it builds (AM-C05, AM-C24, AM-C28, AM-C32), its media formats and
account tiers (AM-C07, AM-C22), image sizing (AM-C13), manifest and segment choices
(AM-C23), languages it negotiates (AM-C33) and its hook paths (AM-C34). Pure: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from daemon.contracts import amazon_music as am
from daemon.core.tiers import CAPABILITY_QUALITY, Capability, Quality

#: AM-C05: interval the sandbox announces by default (docs' example is 30 s).
SANDBOX_POLL_INTERVAL_S: Final = 5

#: AM-C05: HTTP status the sandbox uses per error (Amazon's real statuses are undocumented).
LWA_ERROR_STATUS: Final[Mapping[str, int]] = {
    **{code.value: 400 for code in am.LwaError},
    am.LwaError.SERVER_ERROR.value: 500,
}


def lwa_error_body(code: str, description: str) -> dict[str, str]:
    """AM-C05: the error body `{"error", "error_description"}`."""
    return {"error": code, "error_description": description}


#: AM-C10, strict form: a capability header value containing whitespace is a
#: 400 naming the header (the client never sends spaces: see `capability_header()`).
CAPABILITY_HEADER_REJECTS_WHITESPACE: Final = True


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

IMAGE_ROLES: Final = frozenset({"navigation-node", "item", "track-container", "track", "*"})

IMAGE_STYLE_SIZES: Final = frozenset({500, 160, 110, 75, 30})

IMAGE_EXTENSIONS: Final[Mapping[str, str]] = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}

DEFAULT_IMAGE_EXTENSION: Final = "jpg"

_SHRINK_ENTRY_RE: Final = re.compile(r"^([a-z*-]+)\s*=\s*([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")

_IMAGE_STYLE_RE: Final = re.compile(r"^SL([0-9]+)$", re.IGNORECASE)

#: AM-C13: image URI path format.
IMAGE_PATH_FORMAT: Final = "/images/{image_id}._SX{width}_SY{height}_.{ext}"

IMAGE_PATH_RE: Final = re.compile(
    r"^/images/(?P<image_id>[A-Za-z0-9-]{1,64})\._(?:SX(?P<width>[0-9]{1,5})_SY(?P<height>[0-9]{1,5})"
    r"|SL(?P<side>[0-9]{1,5}))_\.(?P<ext>png|jpg)$"
)

#: AM-C13b: with `amzn-image-style: *` image URIs carry this placeholder for the client to
#: fill with `SL<n>` (served like any other size).
IMAGE_PLACEHOLDER_FORMAT: Final = "/images/{image_id}._*_.{ext}"


def wants_image_placeholder(value: str | None) -> bool:
    """AM-C13b: `amzn-image-style: *` asks for placeholder image URIs."""
    return value is not None and value.strip() == "*"


def parse_shrink_spec(value: str | None) -> dict[str, tuple[int, int]]:
    """AM-C13: `role=WxH` entries; malformed entries and unknown roles are ignored."""
    sizes: dict[str, tuple[int, int]] = {}
    for entry in am.split_header_list(value):
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


#: AM-C23: manifest URL lifetime.
MANIFEST_URL_LIFETIME_S: Final = 15 * 60

#: AM-C23 / DOCUMENTED: the first 30 s are clear; sandbox segments are 10 s.
CLEAR_LEAD_S: Final = 30

SEGMENT_SECONDS: Final = 10

MPD_PROFILE: Final = "urn:mpeg:dash:profile:isoff-on-demand:2011"

BIT_DEPTH_SCHEME: Final = "amz-music:bitDepth"

AVAILABLE_COUNTRIES: Final = frozenset(
    {"US", "GB", "DE", "AT", "FR", "IT", "ES", "JP", "CA", "MX", "BR", "AU", "NZ", "IN"}
)

SKIP_ON_RATING: Final = frozenset({"thumbs_down"})

LICENCE_DENIED_TYPE: Final = "com.amazon.digitalmusiclocator#DrmLicenseDeniedException"


def licence_denial_body(reason: str, message: str) -> dict[str, str]:
    """AM-C24: the 403 denial body."""
    return {
        "__type": LICENCE_DENIED_TYPE,
        "DrmType": am.DRM_WIDEVINE,
        "denialReason": reason,
        "message": message,
    }


TERMINAL_EVENTS: Final = frozenset(
    {
        am.EventType.PLAYBACK_FINISHED,
        am.EventType.PLAYBACK_SKIPPED,
        am.EventType.PLAYBACK_STOPPED,
        am.EventType.PLAYBACK_ERROR,
    }
)

PLAYED_THRESHOLD_MS: Final = 30_000

#: AM-C28: 401 challenge and error code.
WWW_AUTHENTICATE_INVALID_TOKEN: Final = 'Bearer error="invalid_token"'  # noqa: S105

INVALID_TOKEN_ERROR: Final = "invalid_token"  # noqa: S105

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


RATE_LIMIT_BURST: Final = 20


def negotiate_language(accept_language: str | None) -> str:
    """AM-C33: highest-q supported code (es_mx == es-mx), else `en-us`."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(am.split_header_list(accept_language)):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        code = tag.strip().lower().replace("_", "-")
        if code in am.SUPPORTED_LANGUAGES and quality > 0:
            ranked.append((-quality, index, code))
    return min(ranked)[2] if ranked else am.DEFAULT_LANGUAGE


#: AM-C05: verification page path (the codepair's verification_uri).
SANDBOX_VERIFICATION_PATH: Final = "/code"
