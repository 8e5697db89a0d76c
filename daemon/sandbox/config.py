"""Sandbox configuration: one frozen dataclass, defaults suited to the embedded mode.

`SandboxConfig()` is what `service: sandbox` runs with (loopback, free port, admin routes
off, auto-approval on); `speakerd sandbox` and tests override fields with `replace()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from daemon.contracts import amazon_music as am
from daemon.sandbox import choices

#: The security profile client id the sandbox enables by default (AM-C06 allow-list).
DEFAULT_CLIENT_ID: Final = "amzn1.application-oa2-client.speakerd-sandbox"
#: Request bodies above this size are answered with 413.
MAX_BODY_BYTES: Final = 1024 * 1024
CATALOGS: Final = ("small", "default")
FAULT_KINDS: Final = (
    "latency",  # delay_s before answering
    "bandwidth",  # cap body throughput at bytes_per_s
    "status",  # answer `status` (5xx burst) instead of the real reply
    "reset",  # close the connection after `after_bytes` of the body
    "stall",  # send `after_bytes` then stall for delay_s
    "expire_urls",  # media/manifest URLs answer 403 as if expired
    "token_expiry",  # the bearer token is treated as expired (401)
    "licence_denial",  # the licence endpoint denies with `reason`
)


def default_data_dir() -> Path:
    """The cache for generated content: $XDG_CACHE_HOME/speakerd/sandbox."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "speakerd" / "sandbox"


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One fault: applies to requests whose path starts with `path_prefix` (AM-C31).

    `count` limits how many requests it hits (None = unlimited), `probability` picks
    requests with the sandbox's seeded generator, so a run is reproducible from the seed.
    """

    kind: str
    path_prefix: str = "/"
    count: int | None = None
    probability: float = 1.0
    status: int = 503
    delay_s: float = 0.0
    bytes_per_s: int = 0
    after_bytes: int = 0
    reason: str = am.DenialReason.NOT_ENTITLED.value

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if not self.path_prefix.startswith("/"):
            raise ValueError("fault path_prefix must start with '/'")
        if self.count is not None and self.count < 0:
            raise ValueError("fault count must be >= 0")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("fault probability must be within [0, 1]")
        if not 100 <= self.status <= 599:
            raise ValueError("fault status must be an HTTP status")
        if self.delay_s < 0 or self.bytes_per_s < 0 or self.after_bytes < 0:
            raise ValueError("fault delay_s, bytes_per_s and after_bytes must be >= 0")
        if self.kind == "bandwidth" and self.bytes_per_s <= 0:
            raise ValueError("a bandwidth fault needs bytes_per_s > 0")
        if self.kind == "licence_denial" and self.reason not in set(am.DenialReason):
            raise ValueError(f"unknown denialReason {self.reason!r}")


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything the sandbox can be told at start; several parts change at runtime via hooks."""

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path | None = None
    catalog: str = "default"
    tls: bool = False
    #: /_sandbox/ admin routes (AM-C34); off unless enabled.
    admin_enabled: bool = False
    #: Approve a code pair at its first poll, i.e. after the daemon has shown the code.
    auto_approve: bool = True
    client_ids: tuple[str, ...] = (DEFAULT_CLIENT_ID,)
    codepair_lifetime_s: float = am.CODEPAIR_LIFETIME_S
    interval_s: float = choices.SANDBOX_POLL_INTERVAL_S
    access_token_lifetime_s: float = am.ACCESS_TOKEN_LIFETIME_S
    rotate_refresh: bool = True
    tier: choices.Tier = choices.Tier.UNLIMITED
    country: str = "US"
    licence_backend: am.LicenceBackend = am.LicenceBackend.WIDEVINE_TEST
    #: AM-C24: accept/answer the JSON-wrapped licence variant.
    licence_json: bool = False
    #: AM-C11: serve clear SD without a DRM header instead of answering 400.
    lenient_drm: bool = False
    manifest_lifetime_s: float = choices.MANIFEST_URL_LIFETIME_S
    max_streams: int = choices.DEFAULT_MAX_STREAMS
    segment_seconds: int = choices.SEGMENT_SECONDS
    #: AM-C31: per-token rate limit; 0 disables it.
    rate_limit_per_s: float = 0.0
    rate_limit_burst: int = choices.RATE_LIMIT_BURST
    #: AM-C14: vary URI shapes per run so clients that build URIs fail.
    shuffle_uris: bool = False
    seed: int = 0
    #: False: browse, LWA and events only (no content generation; manifests answer 501).
    generate_content: bool = True
    faults: tuple[FaultRule, ...] = field(default_factory=tuple)
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        # Accept plain strings for the enum fields (YAML, CLI, tests) and store the enums.
        object.__setattr__(self, "tier", choices.Tier(self.tier))
        object.__setattr__(self, "licence_backend", am.LicenceBackend(self.licence_backend))
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "client_ids", tuple(self.client_ids))
        if self.catalog not in CATALOGS:
            raise ValueError(f"catalog must be one of {', '.join(CATALOGS)}")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be within 0..65535")
        if not self.client_ids:
            raise ValueError("client_ids must name at least one allowed client id")
        for name in ("codepair_lifetime_s", "interval_s", "access_token_lifetime_s",
                     "manifest_lifetime_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.max_streams < 1:
            raise ValueError("max_streams must be >= 1")
        if self.segment_seconds < 1:
            raise ValueError("segment_seconds must be >= 1")

    @property
    def resolved_data_dir(self) -> Path:
        """The content cache directory."""
        return self.data_dir if self.data_dir is not None else default_data_dir()
