"""One error root, one family per layer (DESIGN.md §5).

Errors carry structured fields and build their message from them, so a message never
depends on a caller remembering to format it, and secrets never reach it: only fields
that are safe to show are accepted. Errors that cross the LAN API have a stable `code`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DaemonError(Exception):
    """Root of every error speakerd raises on purpose."""

    code: ClassVar[str] = "internal"
    #: sysexits code used when this error ends the process at start-up.
    exit_code: ClassVar[int] = 70  # EX_SOFTWARE

    def __init__(self, message: str, **fields: Any) -> None:
        self.fields: dict[str, Any] = fields
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.fields.items() if v is not None)
        return f"{self.detail} ({where})" if where else self.detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render()!r})"


# --- configuration -----------------------------------------------------------------


class ConfigError(DaemonError):
    """The configuration (or the state directory it names) is unusable. Exit 78."""

    code = "config"
    exit_code = 78  # EX_CONFIG


# --- state and secrets -------------------------------------------------------------


class StateError(DaemonError):
    """A state file or the state directory cannot be read or written safely."""

    code = "state"
    exit_code = 78


class SecretStoreError(StateError):
    """An encrypted state file cannot be opened (wrong device key, tampering, corruption)."""

    code = "secret_store"


# --- cloud services ----------------------------------------------------------------


class ServiceError(DaemonError):
    """A cloud service answered badly or not at all."""

    code = "service"
    exit_code = 69  # EX_UNAVAILABLE


class AuthError(ServiceError):
    """Credentials are missing, expired or revoked; a person must act (sign in again)."""

    code = "auth"


class TransportError(ServiceError):
    """The request could not be completed: connect error, reset, timeout, 5xx."""

    code = "transport"


class RateLimited(ServiceError):
    """The service asked us to slow down (429); `retry_after` in seconds when given."""

    code = "rate_limited"


class ProtocolError(ServiceError):
    """The service answered with something that does not follow its contract."""

    code = "protocol"


# --- media ----------------------------------------------------------------------------


class ManifestError(DaemonError):
    """An MPD is malformed, hostile or unusable; names the element path."""

    code = "manifest"


class MediaError(DaemonError):
    """An MP4/ISO-BMFF structure is malformed or unsupported; names box path and offset."""

    code = "media"


class DecryptError(MediaError):
    """Common Encryption could not be removed (unknown scheme, missing key, bad senc)."""

    code = "decrypt"


# --- DRM ------------------------------------------------------------------------------


class DrmError(DaemonError):
    """The CDM cannot do its work (not configured, device file unusable, remote CDM down)."""

    code = "drm"


class DrmSetupError(DrmError):
    """A file the CDM's configuration names is missing or unusable: a setup fault that a
    restart cannot fix, so it ends the process with 78 like a configuration error."""

    code = "drm_setup"
    exit_code = 78


class LicenseError(DrmError):
    """A licence was denied, tampered with, or lacks a needed key."""

    code = "license"


# --- playback -------------------------------------------------------------------------


class PlaybackError(DaemonError):
    """The player cannot carry out a command or continue a track."""

    code = "playback"


class SinkError(PlaybackError):
    """The audio output cannot be opened, refuses a format, or failed mid-write."""

    code = "sink"


# --- control --------------------------------------------------------------------------


class ControlError(DaemonError):
    """A LAN control request is refused; `code` is stable across versions."""

    code = "control"
