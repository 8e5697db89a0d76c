"""Errors of the sandbox licence servers, each knowing the HTTP answer it becomes.

The HTTP endpoint (not this package) turns them into responses: `status` and `body()`.
Messages never carry key material.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

DENIAL_TYPE: Final = "com.amazon.digitalmusiclocator#DrmLicenseDeniedException"

DenialReason = Literal[
    "VMP_VALIDATION_FAILED", "CONCURRENCY_LIMIT", "NOT_ENTITLED", "DEVICE_ID_MISMATCH"
]
DENIAL_REASONS: Final[frozenset[str]] = frozenset(
    {"VMP_VALIDATION_FAILED", "CONCURRENCY_LIMIT", "NOT_ENTITLED", "DEVICE_ID_MISMATCH"}
)


class LicenceServerError(Exception):
    """Root of the licence servers' errors; `status` is the HTTP status to answer."""

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        """JSON body for the HTTP answer."""
        return {"message": self.message}


class BadChallenge(LicenceServerError):
    """The request body is not a licence request this server understands (400)."""

    status = 400


class LicenceDenied(LicenceServerError):
    """The licence is refused for a reason the client may act on (403, AM-C24 body)."""

    status = 403

    def __init__(self, reason: DenialReason, message: str, *, drm_type: str = "WIDEVINE") -> None:
        if reason not in DENIAL_REASONS:
            raise ValueError(f"unknown denialReason {reason!r}")
        self.denial_reason: DenialReason = reason
        self.drm_type = drm_type
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {
            "__type": DENIAL_TYPE,
            "DrmType": self.drm_type,
            "denialReason": self.denial_reason,
            "message": self.message,
        }


class WidevineUnavailable(LicenceServerError):
    """pywidevine (its protobuf module) is not installed (501)."""

    status = 501

    def __init__(self) -> None:
        super().__init__(
            "the sandbox Widevine licence server needs pywidevine: pip install 'speakerd[widevine]'"
        )


def load_protocol() -> Any:
    """Import pywidevine's protobuf module, or raise WidevineUnavailable."""
    try:
        from pywidevine import license_protocol_pb2
    except ImportError:
        raise WidevineUnavailable() from None
    return license_protocol_pb2
