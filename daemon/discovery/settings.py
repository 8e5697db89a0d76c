"""Settings of the mDNS announcer (the lead maps `discovery.*` config onto this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SERVICE_TYPE = "_speakerd._tcp.local."
HTTP_SERVICE_TYPE = "_http._tcp.local."


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    """`interfaces`: "all" (non-loopback, non-virtual) or interface names like ("eth0",).

    `host_label` is the mDNS host name (without .local); empty means speakerd-<device id>.
    """

    interfaces: Literal["all"] | tuple[str, ...] = "all"
    ip_version: Literal["v4", "v6", "both", "all"] = "v4"  # "all" = "both"
    service_type: str = SERVICE_TYPE
    announce_http: bool = True
    host_label: str = ""
    model: str = "speakerd"
    api_path: str = "/api/v1"
    api_version: str = "1"
    poll_interval_s: float = 1.0  # address watcher (polling getifaddrs; netlink-free)
    settle_s: float = 0.5  # quiet time before re-announcing, coalesces link flaps
    max_renames: int = 20
