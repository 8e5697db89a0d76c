"""What the Amazon clients choose where the contract leaves the client free (AM-Cnn).

LWA poll pacing and error handling (AM-C02), refresh timing (AM-C03), the defaults the
client sends (AM-C09, AM-C17), the device id (AM-C08), what a licence denial means to the
player (AM-C26), and the retry policies (AM-C02, AM-C29). Pure: no I/O, no mutable state.
The wire facts both sides share are in `daemon.contracts.amazon_music`.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from daemon.contracts import amazon_music as am
from daemon.core.retry import RetryPolicy

#: AM-C03: default LWA host (regional hosts are configuration).
LWA_DEFAULT_BASE_URL: Final = "https://api.amazon.com"


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
    am.LwaError.AUTHORIZATION_PENDING: LwaAction.KEEP_POLLING,
    am.LwaError.SLOW_DOWN: LwaAction.SLOW_DOWN,
    am.LwaError.INVALID_CODE_PAIR: LwaAction.NEW_CODE_PAIR,
    am.LwaError.INVALID_GRANT: LwaAction.UNLINK,
    am.LwaError.ACCESS_DENIED: LwaAction.UNLINK,
    am.LwaError.INVALID_REQUEST: LwaAction.FATAL,
    am.LwaError.INVALID_CLIENT: LwaAction.FATAL,
    am.LwaError.UNAUTHORIZED_CLIENT: LwaAction.FATAL,
    am.LwaError.UNSUPPORTED_GRANT_TYPE: LwaAction.FATAL,
    am.LwaError.INVALID_SCOPE: LwaAction.FATAL,
    am.LwaError.INVALID_VALUE: LwaAction.FATAL,
    am.LwaError.SERVER_ERROR: LwaAction.RETRY,
}

#: AM-C02: poll-interval bounds and the slow_down factor.
POLL_INTERVAL_MIN_S: Final = 5.0

POLL_INTERVAL_MAX_S: Final = 60.0

SLOW_DOWN_FACTOR: Final = 2.0

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
    if error_code == am.LwaError.SLOW_DOWN:
        return clamp_poll_interval(current_s * SLOW_DOWN_FACTOR)
    return clamp_poll_interval(current_s)


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
    if not isinstance(token_type, str) or token_type.lower() != am.TOKEN_TYPE_BEARER:
        return None
    if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
        return None
    if len(access.encode()) > am.TOKEN_MAX_BYTES or len(refresh.encode()) > am.TOKEN_MAX_BYTES:
        return None
    return TokenResponse(access, refresh, token_type, int(expires))


#: AM-C09: default shrink-spec and Accept header the client sends.
DEFAULT_IMAGES_SHRINK: Final = "*=400x400"

DEFAULT_ACCEPT: Final = "application/json"

#: AM-C17: default site id (configuration in the daemon).
DEFAULT_MUSIC_SITE: Final = "music.amazon.com"

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


class DenialAction(enum.Enum):
    """AM-C26: what the client does with a licence denial."""

    STOP_AND_REPORT = "stop_and_report"
    TRACK_ERROR = "track_error"
    PLAYBACK_ERROR = "playback_error"


#: AM-C26: denial reason -> client action (others: PLAYBACK_ERROR).
DENIAL_ACTIONS: Final[Mapping[str, DenialAction]] = {
    am.DenialReason.CONCURRENCY_LIMIT: DenialAction.STOP_AND_REPORT,
    am.DenialReason.NOT_ENTITLED: DenialAction.TRACK_ERROR,
}


def denial_action(reason: str) -> DenialAction:
    """AM-C26: the client's action for a licence denial reason."""
    return DENIAL_ACTIONS.get(reason, DenialAction.PLAYBACK_ERROR)


#: AM-C29: 403/410 on media means "re-fetch the TrackDefinition/manifest", not retry.
MEDIA_REFETCH_STATUSES: Final = frozenset({403, 410})


#: AM-C02: retry steps for network failures / 5xx / servererror, each with ±50 % jitter;
#: the LWA loops retry until the code pair expires or the refresh succeeds.
LWA_RETRY: Final = RetryPolicy(
    max_attempts=1_000_000,
    steps=(0.0, 1.0, 2.0, 4.0, 10.0, 30.0, 60.0),
    max_delay=90.0,  # the last step plus its jitter
    full_jitter=False,
    jitter=0.5,
)

_RETRYABLE_API: Final = frozenset({429, 500, 502, 503, 504})
#: AM-C29: API GETs (documents, TrackDefinitions); Retry-After is honoured when present.
API_RETRY: Final = RetryPolicy(
    max_attempts=5,
    base_delay=1.0,
    factor=2.0,
    max_delay=60.0,
    full_jitter=False,
    jitter=0.5,
    retry_statuses=_RETRYABLE_API,
)
#: AM-C29 + lan-security-and-operations.md §6: segments and manifests.
MEDIA_RETRY: Final = replace(API_RETRY, max_attempts=3, max_delay=8.0)
