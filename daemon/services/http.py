"""The daemon's one HTTP session: keep-alive, timeouts, bounded retries, error translation.

Contract: `HttpClient.request` returns an `HttpResponse` for every final status the caller
must interpret (2xx, 3xx, 4xx other than 401/429) and raises a `ServiceError` for the rest:
`TransportError` (connect error, reset, timeout, 5xx after retries), `RateLimited` (429),
`AuthError` (401 after one token refresh), `ProtocolError` (oversized or unusable reply).
This is the only module that sees aiohttp exceptions (DESIGN.md §2, "one boundary").
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import aiohttp
from multidict import CIMultiDict

from daemon import __version__
from daemon.core.clock import Clock
from daemon.core.errors import ProtocolError, RateLimited, ServiceError, TransportError
from daemon.core.redact import Secret
from daemon.core.resource import StartableResource
from daemon.core.retry import RetryPolicy
from daemon.services.http_values import Authenticator, HttpResponse, Timeouts, safe_url

log = logging.getLogger("daemon.services.http")

#: The HTTP layer's public face; the values are defined in `http_values`.
__all__ = [
    "Authenticator",
    "HttpClient",
    "HttpResponse",
    "StreamingResponse",
    "Timeouts",
    "safe_url",
]

#: Methods that may be re-sent after the request reached the server (RFC 9110 §9.2.2).
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024


class _AttemptFailed(Exception):
    """One attempt failed at the transport; `sent` tells whether the server may have acted."""

    def __init__(self, error: ServiceError, sent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent = sent


def _translate(exc: BaseException, where: str) -> _AttemptFailed | ProtocolError:
    """The one place aiohttp's exceptions become ours; `sent` says if a resend is unsafe."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _AttemptFailed(TransportError("connect timed out", url=where), sent=False)
    if isinstance(exc, TimeoutError):
        return _AttemptFailed(TransportError("request timed out", url=where), sent=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.strerror or "refused"
        return _AttemptFailed(TransportError(f"cannot connect: {reason}", url=where), sent=False)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return _AttemptFailed(TransportError("server closed the connection", url=where), True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _AttemptFailed(TransportError("response body was cut short", url=where), True)
    if isinstance(exc, aiohttp.ClientOSError):
        reason = exc.strerror or "reset"
        return _AttemptFailed(TransportError(f"connection failed: {reason}", url=where), True)
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return ProtocolError("request URL is not usable", url=where)
    if isinstance(exc, aiohttp.ClientResponseError):
        return _AttemptFailed(
            TransportError("malformed HTTP response", url=where, status=exc.status), sent=True
        )
    return _AttemptFailed(TransportError(f"HTTP failure ({type(exc).__name__})", url=where), True)


def _with_attempts(error: ServiceError, sends: int) -> ServiceError:
    """`error` naming how many sends were made, when there was more than one."""
    if sends == 1 or "attempts" in error.fields:
        return error
    return type(error)(error.detail, **{**error.fields, "attempts": sends})


class StreamingResponse:
    """A response whose body is read in pieces; read errors arrive as `TransportError`."""

    def __init__(self, resp: aiohttp.ClientResponse, where: str) -> None:
        self._resp = resp
        self._where = where
        self.status = resp.status
        self.headers = resp.headers
        self.url = str(resp.url)

    async def iter_chunks(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_chunked(size):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = _translate(exc, self._where)
            raise (failure.error if isinstance(failure, _AttemptFailed) else failure) from None

    async def read(self, limit: int) -> bytes:
        """The whole body, refusing more than `limit` bytes (`ProtocolError`)."""
        parts: list[bytes] = []
        total = 0
        async for chunk in self.iter_chunks():
            total += len(chunk)
            if total > limit:
                raise ProtocolError("response body exceeds the size limit", url=self._where)
            parts.append(chunk)
        return b"".join(parts)


class HttpClient(StartableResource):
    """Holds the shared `aiohttp.ClientSession`; `start()` opens it, `aclose()` closes it."""

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_body: int = _DEFAULT_MAX_BODY,
        connection_limit: int = 32,
        connections_per_host: int = 8,
        keepalive_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = f"speakerd/{__version__}",
    ) -> None:
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._max_body = max_body
        self._limit = connection_limit
        self._per_host = connections_per_host
        self._keepalive = keepalive_s
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session (idempotent); connections are made lazily and then kept warm."""
        if self._closed:
            raise RuntimeError("HttpClient was closed; build a new one")
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=self._per_host,
            keepalive_timeout=self._keepalive,
            ttl_dns_cache=300,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self._user_agent},
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
            trust_env=False,
        )
        # aiohttp silently re-sends an idempotent request once after a reset; that would
        # break the attempt cap and the backoff accounting, so every re-send is ours.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session, for streaming users (segment fetcher) that read incrementally."""
        if self._session is None:
            raise RuntimeError("HttpClient is not started")
        return self._session

    # -- requests --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        json_body: Any = None,
        auth: Authenticator | None = None,
        retry: RetryPolicy | None = None,
        idempotent: bool | None = None,
        allow_redirects: bool = False,
        timeouts: Timeouts | None = None,
        max_body: int | None = None,
    ) -> HttpResponse:
        """Send one logical request; see the module docstring for what is raised."""
        method = method.upper()
        policy = retry or self.retry
        resend_ok = method in _IDEMPOTENT if idempotent is None else idempotent
        limits = timeouts or self.timeouts
        body_limit = self._max_body if max_body is None else max_body
        where = safe_url(url)
        deadline = self._clock.monotonic() + policy.total
        token: Secret | None = None
        refreshed = False
        sends = 0
        failures = 0

        while True:
            if auth is not None and token is None:
                token = await auth.token()
            send_headers = CIMultiDict(headers or {})
            if token is not None:
                send_headers["Authorization"] = f"Bearer {token.reveal()}"
            sends += 1
            retry_after: float | None = None
            try:
                response = await self._send(
                    method,
                    url,
                    headers=send_headers,
                    data=data,
                    json_body=json_body,
                    allow_redirects=allow_redirects,
                    limits=limits,
                    body_limit=body_limit,
                    attempt=sends,
                )
            except _AttemptFailed as failed:
                error = failed.error
                may_resend = resend_ok or not failed.sent
                reason = type(error).__name__
            else:
                status = response.status
                if status == 401 and auth is not None and token is not None:
                    if refreshed:
                        raise auth.rejected_error(where)
                    refreshed = True
                    log.info("http.unauthorized url=%s action=refresh", where)
                    token = await auth.refresh_rejected(token)
                    continue
                if status >= 500:
                    retry_after = self._retry_after(response)
                    error = TransportError(
                        "service unavailable", url=where, status=status, attempts=sends
                    )
                elif status == 429:
                    retry_after = self._retry_after(response)
                    error = RateLimited(
                        "service asked us to slow down",
                        url=where,
                        status=status,
                        retry_after=retry_after,
                        attempts=sends,
                    )
                    if retry_after is None:
                        raise error
                else:
                    return response
                may_resend = policy.should_retry(status)
                reason = f"status_{status}"

            failures += 1
            if not may_resend or sends >= policy.max_attempts:
                raise _with_attempts(error, sends)
            if retry_after is not None:
                if retry_after > policy.max_delay:
                    raise error
                delay = retry_after
            else:
                delay = policy.backoff(failures - 1, self._rng.random())
            if self._clock.monotonic() + delay > deadline:
                raise error
            log.info(
                "http.retry method=%s url=%s attempt=%d delay=%.3f reason=%s",
                method,
                where,
                sends,
                delay,
                reason,
            )
            await self._clock.sleep(delay)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: CIMultiDict[str],
        data: bytes | Mapping[str, str] | None,
        json_body: Any,
        allow_redirects: bool,
        limits: Timeouts,
        body_limit: int,
        attempt: int,
    ) -> HttpResponse:
        where = safe_url(url)
        timeout = aiohttp.ClientTimeout(
            total=limits.request, connect=limits.connect, sock_read=limits.read
        )
        try:
            async with self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                json=json_body,
                allow_redirects=allow_redirects,
                timeout=timeout,
            ) as resp:
                body = await self._read_body(resp, body_limit, where)
                return HttpResponse(
                    status=resp.status,
                    headers=resp.headers,
                    body=body,
                    url=str(resp.url),
                    attempts=attempt,
                )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise _translate(exc, where) from None

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Authenticator | None = None,
        timeouts: Timeouts | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """One attempt whose body is read incrementally (segment fetcher); no retries.

        Transport failures, also while reading, become `TransportError`; the caller
        interprets every status itself (its own media retry policy, 403 re-fetch ...).
        """
        where = safe_url(url)
        limits = timeouts or self.timeouts
        send_headers = CIMultiDict(headers or {})
        if auth is not None:
            send_headers["Authorization"] = f"Bearer {(await auth.token()).reveal()}"
        timeout = aiohttp.ClientTimeout(
            total=limits.request, connect=limits.connect, sock_read=limits.read
        )
        try:
            resp = await self.session.request(
                method, url, headers=send_headers, allow_redirects=False, timeout=timeout
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            failure = _translate(exc, where)
            raise (failure.error if isinstance(failure, _AttemptFailed) else failure) from None
        try:
            yield StreamingResponse(resp, where)
        finally:
            resp.release()

    async def _read_body(self, resp: aiohttp.ClientResponse, limit: int, where: str) -> bytes:
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise ProtocolError(
                "response body exceeds the size limit", url=where, length=declared, limit=limit
            )
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            total += len(chunk)
            if total > limit:
                raise ProtocolError("response body exceeds the size limit", url=where, limit=limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _retry_after(self, response: HttpResponse) -> float | None:
        """Seconds from `Retry-After` (delta-seconds or HTTP-date); None when absent/bad."""
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - self._clock.time())
