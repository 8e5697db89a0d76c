"""Login With Amazon for a headless device: code-based linking, refresh, rotation.

Contract (spec/amazon-music.md §2, AM-C01..C03): `link()` shows a code pair and polls at
the server's interval (doubling on slow_down within [5 s, 60 s]) until tokens arrive, the
user denies, or the pair expires. `token()` returns the held access token without waiting
while it is valid; a background task refreshes it ahead of expiry, persists a rotated
refresh token, retries transient failures with the LWA backoff steps, and turns
`invalid_grant` into `SignInRequired` instead of retrying forever. Stored credentials are
only ever replaced by a successful grant or removed by `sign_out()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Callable
from typing import Any, Final

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.core.errors import AuthError, ProtocolError, ServiceError, TransportError
from daemon.core.redact import Secret
from daemon.core.resource import StartableResource
from daemon.core.retry import NO_RETRY
from daemon.services import amazon_policy
from daemon.services.http import HttpClient, HttpResponse, safe_url
from daemon.services.lwa_model import (
    RELOGIN,
    CodePair,
    CodePairExpired,
    LinkDenied,
    LinkState,
    LwaConfigError,
    LwaSettings,
    OnCode,
    SignInRequired,
    Tokens,
    error_code,
    positive_number,
)
from daemon.state.secrets import SecretStore

log = logging.getLogger("daemon.services.lwa")

#: What callers use: the client, its settings and states, and the errors it raises.
__all__ = [
    "STORE_NAME",
    "CodePair",
    "CodePairExpired",
    "LinkDenied",
    "LinkState",
    "LwaClient",
    "LwaConfigError",
    "LwaSettings",
    "SignInRequired",
]

#: Secret-store entry for the LWA tokens.
STORE_NAME: Final = "lwa-token"
#: Wall-clock times before this (2025-01-01T00:00Z) mean "clock not set yet"
#: (lan-security-and-operations.md §5.6: a Pi without RTC boots in the past).
MIN_PLAUSIBLE_WALL: Final = 1_735_689_600.0
#: A token with less than this left is treated as expired: it could lapse in transit.
EXPIRY_MARGIN_S: Final = 5.0
class LwaClient(StartableResource):
    """Owns the Amazon sign-in; implements `services.http.Authenticator` for the music client."""

    def __init__(
        self,
        *,
        http: HttpClient,
        store: SecretStore,
        clock: Clock,
        settings: LwaSettings,
        rng: random.Random | None = None,
        on_state: Callable[[LinkState], None] | None = None,
    ) -> None:
        self._http = http
        self._store = store
        self._clock = clock
        self.settings = settings
        self._rng = rng if rng is not None else random.Random()
        self._on_state = on_state
        self._tokens: Tokens | None = None
        self._state = LinkState.UNLINKED
        self._inflight: asyncio.Task[Secret] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._loaded = asyncio.Event()
        self._load_lock = asyncio.Lock()
        self._closed = False
        base = settings.base_url.rstrip("/")
        self._codepair_url = base + am.LWA_CODEPAIR_PATH
        self._token_url = base + am.LWA_TOKEN_PATH

    def __repr__(self) -> str:
        return f"LwaClient(state={self._state.value}, host={safe_url(self.settings.base_url)})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load stored tokens and start the background refresher (idempotent)."""
        if self._closed:
            raise RuntimeError("LwaClient was closed")
        await self.load()
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop(), name="lwa-refresher")

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._refresher, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._refresher = None
        self._inflight = None


    @property
    def state(self) -> LinkState:
        return self._state

    def expires_in(self) -> float | None:
        """Seconds the held access token stays valid (None when not linked); for status."""
        if self._tokens is None or self._state is not LinkState.LINKED:
            return None
        return max(0.0, self._tokens.expires_mono - self._clock.monotonic())

    def _set_state(self, state: LinkState) -> None:
        if state is not self._state:
            self._state = state
            log.info("lwa.state state=%s", state.value)
            if self._on_state is not None:
                self._on_state(state)
        self._changed.set()

    async def load(self) -> None:
        """Read stored tokens once. A wrong wall clock never discards them (§5.6)."""
        if self._loaded.is_set():
            return
        async with self._load_lock:
            if self._loaded.is_set():
                return
            stored = await self._store.aload(STORE_NAME)
            self._loaded.set()
            if stored is not None:
                self._adopt_stored(stored)

    def _adopt_stored(self, stored: dict[str, Any]) -> None:
        access, refresh = stored.get("access_token"), stored.get("refresh_token")
        if not (isinstance(access, str) and isinstance(refresh, str) and refresh):
            log.warning("lwa.stored_tokens_unusable reason=missing_fields")
            self._set_state(LinkState.SIGN_IN_REQUIRED)
            return
        if stored.get("client_id") not in (None, self.settings.client_id):
            log.warning("lwa.stored_tokens_unusable reason=other_client_id")
            self._set_state(LinkState.SIGN_IN_REQUIRED)
            return
        now_wall, now_mono = self._clock.time(), self._clock.monotonic()
        expires_wall = stored.get("expires_at")
        remaining = 0.0  # unknown expiry: refresh before first use
        if isinstance(expires_wall, int | float) and now_wall >= MIN_PLAUSIBLE_WALL:
            remaining = min(float(expires_wall) - now_wall, float(am.ACCESS_TOKEN_LIFETIME_S))
        self._tokens = Tokens(
            Secret(access),
            Secret(refresh),
            now_mono + max(0.0, remaining),
            float(expires_wall) if isinstance(expires_wall, int | float) else None,
        )
        self._set_state(LinkState.LINKED)

    # -- code-based linking ------------------------------------------------------------------

    async def request_code_pair(self) -> CodePair:
        """POST create/codepair; the caller shows `user_code` and `verification_uri`."""
        resp = await self._http.request(
            "POST",
            self._codepair_url,
            headers={am.H_ACCEPT_LANGUAGE: self.settings.language, "Accept": "application/json"},
            data={
                "response_type": am.LWA_RESPONSE_TYPE,
                "client_id": self.settings.client_id,
                "scope": am.LWA_SCOPE,
            },
            idempotent=True,
        )
        if not resp.ok:
            raise self._error_from(resp)
        body = resp.json_object()
        user_code = body.get("user_code")
        device_code = body.get("device_code")
        uri = body.get("verification_uri")
        expires_in = body.get("expires_in")
        interval = body.get("interval", amazon_policy.POLL_INTERVAL_MIN_S)
        if not (
            isinstance(user_code, str)
            and user_code
            and isinstance(device_code, str)
            and device_code
            and isinstance(uri, str)
            and uri
            and isinstance(expires_in, int | float)
            and positive_number(expires_in)
            and isinstance(interval, int | float)
            and positive_number(interval)
        ):
            raise ProtocolError(
                "Amazon's code-pair answer lacks a required field", url=safe_url(resp.url)
            )
        log.info("lwa.codepair expires_in=%s interval=%s", expires_in, interval)
        return CodePair(
            user_code=user_code,
            verification_uri=uri,
            device_code=Secret(device_code),
            expires_in=float(expires_in),
            interval=float(interval),
            issued_at=self._clock.monotonic(),
        )

    async def poll(self, pair: CodePair) -> None:
        """Poll until linked; raises CodePairExpired, LinkDenied or LwaConfigError."""
        interval = amazon_policy.clamp_poll_interval(pair.interval)
        deadline = pair.issued_at + pair.expires_in
        failures = 0
        while True:
            if self._clock.monotonic() + interval > deadline:
                raise CodePairExpired(
                    f"the sign-in code expired before it was entered; {RELOGIN} for a new code"
                )
            await self._clock.sleep(interval)
            try:
                resp = await self._http.request(
                    "POST",
                    self._token_url,
                    data={
                        "grant_type": am.GRANT_DEVICE_CODE,
                        "device_code": pair.device_code.reveal(),
                        "user_code": pair.user_code,
                    },
                    retry=NO_RETRY,
                    idempotent=True,
                )
            except TransportError as exc:
                failures += 1
                await self._backoff(failures, "poll", exc)
                continue
            if resp.ok:
                await self._accept(resp, previous=None)
                return
            code = error_code(resp)
            action = amazon_policy.lwa_action(code) if code else amazon_policy.LwaAction.FATAL
            if action is amazon_policy.LwaAction.KEEP_POLLING:
                continue
            if action is amazon_policy.LwaAction.SLOW_DOWN:
                interval = amazon_policy.next_poll_interval(interval, code)
                log.info("lwa.slow_down interval=%.1f", interval)
                continue
            if action is amazon_policy.LwaAction.NEW_CODE_PAIR:
                raise CodePairExpired(
                    f"the sign-in code expired before it was entered; {RELOGIN} for a new code"
                )
            if action is amazon_policy.LwaAction.RETRY:
                failures += 1
                await self._backoff(failures, "poll", None)
                continue
            if action is amazon_policy.LwaAction.UNLINK:
                raise LinkDenied(f"Amazon sign-in was denied or cancelled; {RELOGIN} to try again")
            raise self._error_from(resp)

    async def link(self, on_code: OnCode, *, max_code_pairs: int = 1) -> None:
        """Request a code pair, hand it to `on_code` (CLI, LAN event), poll until linked.

        With `max_code_pairs > 1` an expired pair is replaced by a new one that is shown
        again (spec §2.3); after the last one expires, `CodePairExpired` is raised.
        """
        for attempt in range(1, max_code_pairs + 1):
            pair = await self.request_code_pair()
            shown = on_code(pair)
            if inspect.isawaitable(shown):
                await shown
            try:
                await self.poll(pair)
                return
            except CodePairExpired:
                if attempt >= max_code_pairs:
                    raise
                log.info("lwa.codepair_expired action=new_code_pair")

    async def sign_out(self) -> None:
        """Forget the tokens here (AM-C30): memory and the secret store."""
        self._tokens = None
        await self._store.adelete(STORE_NAME)
        self._set_state(LinkState.UNLINKED)

    # -- tokens (services.http.Authenticator) -------------------------------------------------

    async def token(self) -> Secret:
        """The access token; only waits for a refresh when the held one has expired."""
        await self.load()
        tokens = self._require_tokens()
        if self._clock.monotonic() < tokens.expires_mono - EXPIRY_MARGIN_S:
            return tokens.access
        return await self.refresh()

    async def refresh_rejected(self, rejected: Secret) -> Secret:
        """A 401 refused `rejected`; refresh unless another caller already did."""
        await self.load()
        tokens = self._require_tokens()
        if tokens.access != rejected:
            return tokens.access
        return await self.refresh()

    def rejected_error(self, url: str) -> AuthError:
        return SignInRequired(f"Amazon refused the refreshed sign-in; {RELOGIN}", url=url)

    async def refresh(self) -> Secret:
        """Refresh now; concurrent callers share one request (single flight)."""
        await self.load()
        self._require_tokens()
        task = self._inflight
        if task is None or task.done():
            task = asyncio.create_task(self._refresh_once(), name="lwa-refresh")
            self._inflight = task
        return await asyncio.shield(task)

    def _require_tokens(self) -> Tokens:
        if self._state is LinkState.SIGN_IN_REQUIRED:
            raise SignInRequired(f"Amazon sign-in expired: {RELOGIN}")
        if self._tokens is None:
            raise SignInRequired(f"Amazon is not signed in: {RELOGIN}")
        return self._tokens

    async def _refresh_once(self) -> Secret:
        tokens = self._require_tokens()
        resp = await self._http.request(
            "POST",
            self._token_url,
            data={
                "grant_type": am.GRANT_REFRESH_TOKEN,
                "refresh_token": tokens.refresh.reveal(),
                "client_id": self.settings.client_id,
            },
            idempotent=True,
        )
        if not resp.ok:
            code = error_code(resp)
            action = amazon_policy.lwa_action(code) if code else amazon_policy.LwaAction.FATAL
            if action is amazon_policy.LwaAction.UNLINK:
                # Stored credentials stay as they are: only a new login replaces them.
                log.warning("lwa.refresh_refused error=%s action=sign_in_required", code)
                self._set_state(LinkState.SIGN_IN_REQUIRED)
                raise SignInRequired(f"Amazon sign-in expired: {RELOGIN}")
            if action is amazon_policy.LwaAction.RETRY:
                raise TransportError("Amazon sign-in service error", url=safe_url(resp.url))
            raise self._error_from(resp)
        new = await self._accept(resp, previous=tokens)
        log.info("lwa.refreshed expires_in=%.0f", new.expires_mono - self._clock.monotonic())
        return new.access

    async def _accept(self, resp: HttpResponse, previous: Tokens | None) -> Tokens:
        body = resp.json_object()
        if previous is not None and "refresh_token" not in body:
            body = {**body, "refresh_token": previous.refresh.reveal()}  # no rotation this time
        parsed = amazon_policy.parse_token_response(body)
        if parsed is None:
            raise ProtocolError(
                "Amazon's token answer is incomplete or malformed", url=safe_url(resp.url)
            )
        now_wall = self._clock.time()
        expires_wall = now_wall + parsed.expires_in if now_wall >= MIN_PLAUSIBLE_WALL else None
        tokens = Tokens(
            Secret(parsed.access_token),
            Secret(parsed.refresh_token),
            self._clock.monotonic() + parsed.expires_in,
            expires_wall,
        )
        self._tokens = tokens
        self._set_state(LinkState.LINKED)
        try:
            await self._store.asave(
                STORE_NAME,
                {
                    "access_token": tokens.access,
                    "refresh_token": tokens.refresh,
                    "expires_at": expires_wall,
                    "client_id": self.settings.client_id,
                },
            )
        except Exception as exc:  # the tokens still work in memory; a restart needs login
            log.error("lwa.persist_failed error=%s", type(exc).__name__)
        return tokens

    async def _refresh_loop(self) -> None:
        """Refresh `refresh_head_start_s` before expiry; back off on transient failures."""
        failures = 0
        while True:
            tokens = self._tokens
            if tokens is None or self._state is not LinkState.LINKED:
                self._changed.clear()
                await self._changed.wait()
                continue
            wait = tokens.expires_mono - self.settings.refresh_head_start_s
            wait -= self._clock.monotonic()
            if wait > 0 and failures == 0:
                await self._sleep_or_change(wait)
                continue
            try:
                await self.refresh()
                failures = 0
            except SignInRequired:
                failures = 0
            except ServiceError as exc:
                failures += 1
                await self._backoff(failures, "refresh", exc)

    async def _sleep_or_change(self, seconds: float) -> None:
        """Sleep on the clock, waking early if the tokens change (login, 401 refresh)."""
        self._changed.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (sleeper, changed):
                fut.cancel()

    async def _backoff(self, failures: int, what: str, exc: ServiceError | None) -> None:
        delay = amazon_policy.LWA_RETRY.backoff(failures - 1, self._rng.random())
        log.warning(
            "lwa.%s_failed attempt=%d retry_in=%.2f error=%s",
            what,
            failures,
            delay,
            type(exc).__name__ if exc else "servererror",
        )
        await self._clock.sleep(delay)

    def _error_from(self, resp: HttpResponse) -> ServiceError:
        code = error_code(resp)
        where = safe_url(resp.url)
        if code and amazon_policy.lwa_action(code) is amazon_policy.LwaAction.FATAL:
            return LwaConfigError(
                f"Amazon sign-in refused the request ({code}): check the LWA client id and"
                " that the security profile is enabled for Amazon Music",
                url=where,
                status=resp.status,
            )
        return ProtocolError(
            "unexpected answer from Amazon sign-in", url=where, status=resp.status, error=code
        )
