"""Settings of the LAN control API (the lead maps daemon config onto this dataclass)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from daemon.core.redact import Secret

#: Static label codes that a person could guess; refused at start (spec §2.2).
_TRIVIAL_CODES = frozenset({"12345678", "87654321", "12341234", "11223344", "01234567"})


def is_trivial_code(code: str) -> bool:
    """True for codes a block-list refuses: repeated, sequential or well-known."""
    if len(set(code)) <= 2 or code in _TRIVIAL_CODES:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    return len(steps) == 1


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """Listeners, limits and pairing policy of the control API.

    `https_port` 0 picks a free port (tests); `http_port` None disables the plain listener,
    which otherwise serves only device info, pairing, health and a redirect.
    """

    bind: tuple[str, ...] = ("0.0.0.0",)  # noqa: S104 - a LAN API listens on the LAN
    https_port: int = 7443
    http_port: int | None = None
    api_path: str = "/api/v1"
    model: str = "speakerd"
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
    static_pairing_code: Secret | None = None
    open_pairing_when_unpaired: bool = True
    # per source IP: pairing requests per minute and general requests per second
    pair_rate_per_minute: int = 30
    request_rate_per_second: float = 50.0
    request_burst: int = 100
    local_names: tuple[str, ...] = field(default_factory=tuple)
