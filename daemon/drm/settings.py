"""DRM settings: what `drm:` in the config maps to (the lead maps YAML to this)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from daemon.core.redact import Secret

BUILTIN_CDMS = ("none", "clearkey", "widevine", "remote")


@dataclass(frozen=True)
class DrmSettings:
    """Which CDM to use and how to reach it.

    `cdm`: `none` | `clearkey` | `widevine` | `remote` | the name of a `speakerd.cdm`
    entry point. `plugin_options` is passed untouched to a plug-in's factory.
    """

    cdm: str = "none"
    # drm.widevine
    widevine_device: Path | None = None
    #: Ask the licence server for its service certificate and encrypt the client id.
    privacy_mode: bool = True
    #: A DrmCertificate (ROOT) file to verify service certificates with instead of
    #: Google's root: only for licence servers with their own test PKI (the sandbox).
    service_certificate_root: Path | None = None
    # drm.remote (pywidevine serve)
    remote_host: str | None = None
    remote_secret: Secret | None = None
    remote_device: str | None = None
    # timeouts (seconds) and retries for the remote CDM
    request_timeout: float = 10.0
    connect_timeout: float = 3.0
    retries: int = 2
    retry_backoff: float = 0.25
    plugin_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.cdm:
            raise ValueError("drm.cdm must name a CDM")
        if self.request_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("drm timeouts must be positive")
        if self.retries < 0:
            raise ValueError("drm.remote retries must be >= 0")
