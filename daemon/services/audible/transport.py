"""The Audible client's one HTTP boundary (AU-C20 error mapping).

Requests go through the shared `daemon.services.http.HttpClient` (which already turns
aiohttp failures, 5xx and 429 into `ServiceError`s). Here the Audible-specific reading of
answers happens: status → error family, `message`/`error` text, and a non-JSON body on an
API host treated as a transient server error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from yarl import URL

from daemon.contracts import audible as c
from daemon.core.errors import AuthError, LicenseError, ProtocolError, ServiceError, TransportError
from daemon.core.redact import redact
from daemon.core.retry import RetryPolicy
from daemon.services.audible import policy
from daemon.services.http import HttpClient, HttpResponse, safe_url


class AudibleBadRequest(ProtocolError):
    """400: the service refused what we sent (validation error, bad parameter)."""

    code = "audible_bad_request"


class AudibleNotFound(ProtocolError):
    """404: unknown ASIN, or not in this marketplace's library."""

    code = "audible_not_found"


def request_target(url: str) -> str:
    """The raw path + query exactly as aiohttp will send `url` (what §5 signs)."""
    return URL(url).raw_path_qs


async def send(
    http: HttpClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> HttpResponse:
    """One request; redirects are never followed (a signature is valid for one path)."""
    return await http.request(
        method, url, headers=headers, data=body, retry=retry, allow_redirects=False
    )


def _server_text(response: HttpResponse) -> str:
    try:
        value = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        value = None
    if isinstance(value, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(value.get(key), str):
                return redact(value[key])[:300]
        err = (
            value.get("response", {}).get("error")
            if isinstance(value.get("response"), dict)
            else None
        )
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return redact(err["message"])[:300]
    return ""


def raise_for_status(
    response: HttpResponse, *, signed: bool = False, clock_skew: float | None = None
) -> None:
    """Map a non-2xx answer to the error a person can act on."""
    if 200 <= response.status < 300:
        return
    where = safe_url(response.url)
    text = _server_text(response)
    status = response.status
    if status in (401, 403):
        if "threshold" in text:
            raise LicenseError(f"Audible refused more licences: {text}", url=where, status=status)
        if signed and clock_skew is not None and abs(clock_skew) > c.SIGNATURE_SKEW_SECONDS:
            raise AuthError(
                f"Audible refused the request signature: this speaker's clock is about "
                f"{abs(clock_skew) / 60:.0f} min off; turn on time sync (NTP) and retry",
                url=where,
                status=status,
            )
        raise AuthError(policy.RELOGIN_HINT, url=where, status=status)
    if status == 400:
        raise AudibleBadRequest(
            f"Audible rejected the request: {text or 'bad request'}", url=where, status=status
        )
    if status == 404:
        raise AudibleNotFound(
            f"Audible does not know it: {text or 'not found'}", url=where, status=status
        )
    if status >= 500:
        raise TransportError("Audible is unavailable", url=where, status=status)
    raise ServiceError(
        f"Audible answered unexpectedly: {text or 'no message'}", url=where, status=status
    )


def json_object(response: HttpResponse) -> dict[str, Any]:
    """A 2xx body as a JSON object; HTML or broken JSON is transient (AU-C20)."""
    where = safe_url(response.url)
    if response.content_type in ("text/html", "application/xhtml+xml"):
        raise TransportError(
            "Audible answered with an HTML page instead of data; try again",
            url=where,
            status=response.status,
        )
    try:
        value = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        raise TransportError(
            "Audible answered with damaged data; try again",
            url=where,
            status=response.status,
            length=len(response.body),
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError("Audible answered with JSON that is not an object", url=where)
    return value
