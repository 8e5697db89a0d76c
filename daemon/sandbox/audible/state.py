"""Mutable state of one sandbox instance (held by the Application, never module-level)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from daemon.contracts import audible as c
from daemon.core.clock import Clock

from .catalog import FIXTURE_TITLES, Title
from .content import Rendition
from .settings import AudibleSandboxSettings


@dataclass
class Toggles:
    """Run-time switches (AU-C24 hooks flip them)."""

    captcha: bool
    otp: bool
    captcha_without_init_cookies: bool
    reject_bearer: bool
    actor_mode: bool
    throttle_after: int | None
    clock_offset: float = 0.0
    # Further sign-in steps (login_steps.py): several MFA devices to choose from, a
    # verification code by email/SMS, an approval on the phone, CAPTCHA for a bad metadata1.
    mfa_choice: bool = False
    cvf: bool = False
    approval: bool = False
    captcha_without_metadata: bool = False
    # The account is locked: the right password gets the lock notice, never a code.
    locked: bool = False
    # AU-C23 faults: next N API calls answer with this status (429/503/200-html).
    fault_status: int | None = None
    fault_count: int = 0


@dataclass
class Registration:
    serial: str
    device_type: str
    customer_id: str
    adp_token: str
    public_key: Any  # cryptography RSAPublicKey
    refresh_token: str
    locale: str
    revoked: bool = False
    licence_count: int = 0
    # "Amazon", or "Audible" for a pre-Amazon username account (AU-C25).
    account_pool: str = "Amazon"
    # `store_authentication_cookie` issued at registration (activation bytes use it).
    store_cookie: str = ""


@dataclass
class LoginSession:
    """One /ap/signin attempt: the OAuth parameters plus the steps passed so far."""

    challenge: str
    client_id: str
    return_to: str
    country_code: str
    pool: str = c.ACCOUNT_POOL_AMAZON
    authenticated: bool = False
    captcha_solved: bool = False
    otp_passed: bool = False
    device_chosen: str | None = None
    cvf_sent_at: float | None = None
    cvf_passed: bool = False
    approved: bool = False
    approval_polls: int = 0


@dataclass
class AuthCode:
    challenge: str
    client_id: str
    expires: float
    pool: str = c.ACCOUNT_POOL_AMAZON


@dataclass
class AudibleState:
    settings: AudibleSandboxSettings
    clock: Clock
    toggles: Toggles
    titles: dict[str, Title] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)  # by adp_token
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # tok->(adp, exp)
    login_sessions: dict[str, LoginSession] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    positions: dict[str, tuple[int, str, float]] = field(default_factory=dict)  # asin->(ms,acr,t)
    renditions: dict[str, Rendition] = field(default_factory=dict)
    other_media: dict[tuple[str, str], bytes] = field(default_factory=dict)
    content_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    url_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    state_version: int = 0
    # Wishlist ASINs by customer id, newest first (wishlist.py).
    wishlists: dict[str, list[str]] = field(default_factory=dict)
    # Called after registrations or access tokens change (persist.RegistrationFile.save).
    registration_saver: Callable[[AudibleState], Awaitable[None]] | None = None

    @classmethod
    def create(cls, settings: AudibleSandboxSettings, clock: Clock) -> AudibleState:
        toggles = Toggles(
            captcha=settings.captcha,
            otp=settings.otp,
            captcha_without_init_cookies=settings.captcha_without_init_cookies,
            reject_bearer=settings.reject_bearer,
            actor_mode=settings.actor_mode,
            throttle_after=settings.throttle_after,
        )
        state = cls(settings=settings, clock=clock, toggles=toggles)
        state.titles = {t.asin: t for t in FIXTURE_TITLES}
        state.state_version = int(clock.time() * 1000)
        return state

    async def registrations_changed(self) -> None:
        """Persist registrations now, when a registration file is configured."""
        if self.registration_saver is not None:
            await self.registration_saver(self)

    def now(self) -> float:
        """The sandbox's wall clock, shifted by the clock-offset hook."""
        return self.clock.time() + self.toggles.clock_offset

    def new_access_token(self, adp_token: str) -> str:
        token = c.ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(48)
        self.access_tokens[token] = (adp_token, self.now() + self.settings.access_token_ttl)
        return token

    def registration_for_access_token(self, token: str) -> Registration | None:
        entry = self.access_tokens.get(token)
        if entry is None or entry[1] <= self.now():
            return None
        reg = self.registrations.get(entry[0])
        # A deregistered device's current access token lives until it expires (§4.4).
        return reg
