"""Values of the HTTP layer: a complete response, timeouts, the token supplier, safe URLs.

No I/O here; `daemon.services.http.HttpClient` produces and consumes these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from multidict import CIMultiDictProxy

from daemon.core.errors import AuthError, ProtocolError
from daemon.core.redact import Secret


def safe_url(url: str) -> str:
    """The URL without query, fragment or user info: fit for logs and error messages.

    Query strings carry signatures (`?t=<signed>`) and fragments are local names, so
    neither belongs in a log line.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt limits in seconds (lan-security-and-operations.md §6.2 defaults)."""

    connect: float = 10.0
    #: no bytes from the server for this long ends the attempt
    read: float = 30.0
    #: the whole attempt, connect to last body byte
    request: float = 30.0


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response: status, headers and the whole (size-limited) body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON; an HTML error page or broken JSON is a `ProtocolError`."""
        import json

        if self.content_type in {"text/html", "application/xhtml+xml"}:
            raise ProtocolError(
                "service answered with an HTML page instead of JSON",
                url=safe_url(self.url),
                status=self.status,
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(
                "service answered with malformed JSON",
                url=safe_url(self.url),
                status=self.status,
                length=len(self.body),
            ) from None

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise ProtocolError(
                "service answered with JSON that is not an object",
                url=safe_url(self.url),
                status=self.status,
            )
        return value


class Authenticator(Protocol):
    """Supplies bearer tokens and refreshes after a 401 (implemented by `LwaClient`)."""

    async def token(self) -> Secret:
        """A currently valid access token (never blocks while the held one is valid)."""
        ...

    async def refresh_rejected(self, rejected: Secret) -> Secret:
        """The server refused `rejected`: refresh (once, shared) and return the new token."""
        ...

    def rejected_error(self, url: str) -> AuthError:
        """The error for a token refused twice in a row; says what the person must do."""
        ...
