"""DRM-layer errors beyond the shared `DrmError` / `LicenseError` family."""

from __future__ import annotations

import json
from typing import Final

from daemon.core.errors import DrmError, LicenseError

#: The denial reasons the Music licence endpoint gives (amazon-music.md §7.2).
DENIAL_REASONS: Final = frozenset(
    {"VMP_VALIDATION_FAILED", "CONCURRENCY_LIMIT", "NOT_ENTITLED", "DEVICE_ID_MISMATCH"}
)


class CdmNotConfigured(DrmError):
    """`drm.cdm: none` (or nothing) and a track needs a licence."""

    code = "drm_not_configured"


class LicenseDenied(LicenseError):
    """The licence service refused the licence; `reason` is its denialReason."""

    code = "license_denied"

    def __init__(self, message: str, *, reason: str, **fields: object) -> None:
        self.reason = reason
        super().__init__(message, reason=reason, **fields)


def denial_from_response(status: int, body: bytes) -> LicenseDenied | None:
    """The LicenseDenied a licence endpoint's 403 JSON body describes, or None.

    For the services client: `{"__type": "...DrmLicenseDeniedException", "denialReason": ...}`.
    The service's free-text message is not copied (it is not ours to show).
    """
    if status != 403:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    reason = doc.get("denialReason")
    if not isinstance(reason, str) or not reason:
        return None
    safe = reason if reason in DENIAL_REASONS else "UNKNOWN"
    return LicenseDenied("licence denied by the service", reason=safe, status=status)
