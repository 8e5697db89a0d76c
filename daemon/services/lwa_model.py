"""Login With Amazon values: settings, the code pair, the token pair, the sign-in errors,
and how an LWA error body is read (spec/amazon-music.md §2). Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from daemon.contracts import amazon_music as am
from daemon.core.errors import AuthError, ConfigError, ProtocolError
from daemon.core.redact import Secret
from daemon.services import amazon_policy
from daemon.services.http import HttpResponse

RELOGIN: Final = "run `speakerd login amazon`"


class SignInRequired(AuthError):
    """No usable Amazon sign-in: never linked, revoked (`invalid_grant`) or refused twice."""

    code = "auth_sign_in_required"


class CodePairExpired(AuthError):
    """The code pair expired before the user entered it."""

    code = "auth_code_expired"


class LinkDenied(AuthError):
    """The user (or Amazon) refused the link."""

    code = "auth_link_denied"


class LwaConfigError(AuthError):
    """LWA rejected the request itself (client id, scope): an operator must fix config."""

    code = "auth_lwa_config"
    exit_code = 78


class LinkState(enum.Enum):
    """Whether the client holds usable tokens."""

    UNLINKED = "unlinked"
    LINKED = "linked"
    #: tokens were revoked or refused; a new login is needed
    SIGN_IN_REQUIRED = "sign_in_required"


@dataclass(frozen=True, slots=True)
class LwaSettings:
    """Configuration of the LWA client; the `amazon` config section maps onto these fields."""

    client_id: str
    base_url: str = amazon_policy.LWA_DEFAULT_BASE_URL
    #: Accept-Language on the code-pair request (AM-C01), one of am.SUPPORTED_LANGUAGES
    language: str = am.DEFAULT_LANGUAGE
    #: refresh this long before expiry (AM-C03 asks >= 30 s; 60 s leaves room for a retry)
    refresh_head_start_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ConfigError("LWA client_id must not be empty", path="amazon.client_id")
        language = self.language.strip().lower().replace("_", "-")  # AM-C33 spelling
        if language not in am.SUPPORTED_LANGUAGES:
            raise ConfigError(
                f"unsupported Amazon language {self.language!r}; use one of "
                + ", ".join(am.SUPPORTED_LANGUAGES),
                path="amazon.language",
            )
        object.__setattr__(self, "language", language)
        if self.refresh_head_start_s < amazon_policy.REFRESH_HEAD_START_S:
            raise ConfigError(
                f"the token refresh head start must be >= {amazon_policy.REFRESH_HEAD_START_S} s",
                path="amazon.refresh_head_start_s",
            )


@dataclass(frozen=True, slots=True)
class CodePair:
    """What the user needs (user_code, verification_uri) plus the secret polling handle."""

    user_code: str
    verification_uri: str
    device_code: Secret
    expires_in: float
    interval: float
    #: monotonic time the pair was received
    issued_at: float


@dataclass(frozen=True, slots=True)
class Tokens:
    """The held token pair and when the access token expires."""

    access: Secret
    refresh: Secret
    #: monotonic deadline (immune to wall-clock jumps)
    expires_mono: float
    #: wall-clock expiry for persistence; None while the wall clock is implausible
    expires_wall: float | None


OnCode = Callable[[CodePair], Awaitable[None] | None]


def positive_number(value: Any) -> bool:
    """A JSON number above zero (booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def error_code(resp: HttpResponse) -> str | None:
    """The `error` field of an LWA error body; None for anything unparseable."""
    try:
        body = resp.json_object()
    except ProtocolError:
        return None
    code = body.get("error")
    if not isinstance(code, str) or not code or len(code) > 64:
        return None
    return code if code.replace("_", "").isalnum() else None
