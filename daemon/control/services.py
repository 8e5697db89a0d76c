"""What the control API needs from other components, as Protocols (fakes in tests).

The composition root (daemon/app/lan.py) supplies the real ones: the service clients
behind `Browser` and `SignIn`, and the config/state-backed `DeviceSettings`. Each returns
JSON-safe dicts; raising a `daemon.core.errors.DaemonError` maps to an API error with that
error's `code`.
"""

from __future__ import annotations

from typing import Any, Protocol


class Browser(Protocol):
    """Browse and search, proxied to the music/audiobook service clients."""

    async def browse(self, uri: str) -> dict[str, Any]:
        """Children of a catalog node; `uri` as returned in a previous browse ('' = root)."""
        ...

    async def search(self, query: str, kinds: tuple[str, ...] = ()) -> dict[str, Any]: ...


class SignIn(Protocol):
    """Account linking: Amazon code-based linking and the Audible external login."""

    def state(self) -> dict[str, Any]:
        """e.g. {"amazon": {"state": "linked"|"pending"|"unlinked", ...}, "audible": {...}}.
        Never tokens: only what a phone may show (user code, verification URL, expiry)."""
        ...

    async def start_amazon(self) -> dict[str, Any]: ...

    async def start_audible(self) -> dict[str, Any]:
        """Returns at least {"login_url": ...} for the phone's browser."""
        ...

    async def submit_audible(self, response_url: str) -> dict[str, Any]:
        """The URL (with the authorization code) the phone's browser ended on."""
        ...


class DeviceSettings(Protocol):
    """The device's user-editable settings (name, default quality, output)."""

    def get(self) -> dict[str, Any]:
        """At least {"name": str, "default_quality": str, "output": str}."""
        ...

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply validated changes; returns the new settings. May raise ConfigError."""
        ...
