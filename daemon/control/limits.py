"""Listeners, limits and pairing policy of the LAN control API: what it takes besides
`control:` in the configuration (its port and setup code) and the device model."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ControlLimits:
    """Listeners, limits and pairing policy of the control API.

    `http_port` None disables the plain listener, which otherwise serves only device info,
    pairing, health and a redirect (0 picks a free port).
    """

    bind: tuple[str, ...] = ("0.0.0.0",)  # noqa: S104 - a LAN API listens on the LAN
    http_port: int | None = None
    api_path: str = "/api/v1"
    #: extra allowed browser origins besides the device's own https origins
    extra_origins: tuple[str, ...] = ()
    #: extra Host names accepted besides <host>.local, the device IPs and localhost
    extra_hosts: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    max_ws_message_bytes: int = 64 * 1024
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 30.0
    tls_handshake_timeout_s: float = 10.0
    max_connections: int = 256
    max_connections_per_ip: int = 32
    ws_auth_timeout_s: float = 10.0
    ws_heartbeat_s: float = 20.0
    # pairing policy (spec §2.1)
    pairing_window_s: float = 300.0
    pairing_max_failures: int = 10
    pairing_session_timeout_s: float = 30.0
    max_phones: int = 16
    open_pairing_when_unpaired: bool = True
    # per source IP: pairing requests per minute and general requests per second
    pair_rate_per_minute: int = 30
    request_rate_per_second: float = 50.0
    request_burst: int = 100
    local_names: tuple[str, ...] = field(default_factory=tuple)
