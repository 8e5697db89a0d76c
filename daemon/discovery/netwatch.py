"""Interface addresses (getifaddrs via ifaddr) filtered by the configured allowlist."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

import ifaddr

# "all" means real LAN interfaces: container bridges, tunnels and VPNs are left out
# unless named explicitly (spec §7.3, test F6).
_VIRTUAL_PREFIXES = ("lo", "docker", "br-", "virbr", "veth", "tun", "tap", "wg", "zt",
                     "tailscale", "vmnet", "cni", "flannel", "kube")


def _wanted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, ip_version: str,
            explicit: bool) -> bool:
    # loopback only when named explicitly (tests inside a namespace use `lo`)
    if (ip.is_loopback and not explicit) or ip.is_multicast or ip.is_unspecified:
        return False
    if ip.version == 4:
        return ip_version in ("v4", "both", "all")
    return ip_version in ("v6", "both", "all")


_DOWN_STATES = frozenset({"down", "lowerlayerdown", "dormant", "notpresent"})


def _is_up(name: str) -> bool:
    """Link state from sysfs; an interface whose link is down announces nothing (its
    return must trigger a fresh probe and announcement, RFC 6762 §8)."""
    try:
        state = Path(f"/sys/class/net/{name}/operstate").read_text().strip()
    except OSError:
        return True  # no sysfs (or a virtual interface without it): trust the addresses
    return state not in _DOWN_STATES


def current_addresses(interfaces: str | Iterable[str], ip_version: str) -> dict[str, list[str]]:
    """{interface: [address, ...]} for the allowed interfaces; IPv6 link-local carry %scope."""
    names = None if interfaces == "all" else set(interfaces)
    result: dict[str, list[str]] = {}
    for adapter in ifaddr.get_adapters():
        name = str(adapter.nice_name)
        if names is None:
            if name.startswith(_VIRTUAL_PREFIXES):
                continue
        elif name not in names:
            continue
        if not _is_up(name):
            continue
        for entry in adapter.ips:
            text = str(entry.ip[0]) if isinstance(entry.ip, tuple) else str(entry.ip)
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if _wanted(ip, ip_version, names is not None):
                result.setdefault(name, []).append(ip.compressed)
    for addresses in result.values():
        addresses.sort()
    return result


def flat(addresses: dict[str, list[str]]) -> list[str]:
    return sorted({a for values in addresses.values() for a in values})
