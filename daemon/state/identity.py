"""The device's stable identity: the id sent as X-Amzn-Device-Id and a short serial.

Created once from the primary MAC address and /etc/machine-id with a random salt, then
persisted in the state directory, so it survives restarts and NIC changes (AM-C08: 32
lower-case hex characters of SHA-256). The salt keeps the id from revealing the MAC.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from daemon.core.errors import StateError
from daemon.state.files import read_json, write_json

log = logging.getLogger("daemon.identity")

_FILE = "identity.json"
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_ID_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str

    @property
    def short_id(self) -> str:
        """Eight hex characters: enough to tell speakers apart in a home, not a secret."""
        return self.device_id[:8]


def primary_mac(sys_class_net: Path = Path("/sys/class/net")) -> str | None:
    """The MAC of the first wired, then wireless, then any other physical interface."""
    candidates: list[tuple[int, str, str]] = []
    try:
        names = sorted(os.listdir(sys_class_net))
    except OSError:
        return None
    for name in names:
        if name == "lo":
            continue
        try:
            mac = (sys_class_net / name / "address").read_text().strip().lower()
        except OSError:
            continue
        if not _MAC_RE.match(mac) or mac == "00:00:00:00:00:00":
            continue
        rank = 0 if name.startswith(("eth", "en")) else 1 if name.startswith(("wl",)) else 2
        candidates.append((rank, name, mac))
    return min(candidates)[2] if candidates else None


def _machine_id(path: Path = Path("/etc/machine-id")) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def load_or_create_identity(state_dir: Path, *, mac: str | None = None,
                            machine_id: str | None = None) -> DeviceIdentity:
    """Return the persisted identity, creating it on the first start."""
    path = state_dir / _FILE
    stored = read_json(path)
    if stored is not None:
        device_id = stored.get("device_id")
        if not isinstance(device_id, str) or not _ID_RE.match(device_id):
            raise StateError("identity file holds no valid device_id; restore it from a"
                             " backup or delete it to create a new identity", path=str(path))
        return DeviceIdentity(device_id)
    mac = primary_mac() if mac is None else mac
    machine = _machine_id() if machine_id is None else machine_id
    salt = secrets.token_bytes(16)
    digest = hashlib.sha256(salt + (mac or "").encode() + b"\n" + machine.encode()).hexdigest()
    identity = DeviceIdentity(digest[:32])
    write_json(path, {"device_id": identity.device_id, "version": 1})
    log.info("identity.created short_id=%s mac_found=%s", identity.short_id, mac is not None)
    return identity
