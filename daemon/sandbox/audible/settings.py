"""Settings of the Audible part of the sandbox (frozen; built from config or by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daemon.contracts import audible as c
from daemon.sandbox.audible import choices


@dataclass(frozen=True, slots=True)
class AudibleSandboxSettings:
    """What the emulated Audible/Amazon hosts do; defaults follow spec/audible.md §10.

    `rsa_key_bits` may drop to 1024 to make tests fast (AU-C07). `cdn_base_url` is the
    origin put into `offline_url`s; when None the sandbox uses the socket it was reached on.
    """

    account_email: str = "listener@example.com"
    account_password: str = "sandbox-password"  # noqa: S105 - fixture account
    account_name: str = "Alice Example"
    # The same customer as a pre-Amazon username account (signs in on www.audible.{tld}).
    account_username: str = "alice-audible"
    customer_id: str = "amzn1.account.SANDBOXLISTENER0000000000000"
    rsa_key_bits: int = choices.SANDBOX_RSA_KEY_BITS
    access_token_ttl: float = float(c.ACCESS_TOKEN_TTL_SECONDS)
    auth_code_ttl: float = choices.AUTH_CODE_TTL_SECONDS
    signature_skew: float = c.SIGNATURE_SKEW_SECONDS
    max_body_bytes: int = choices.MAX_REQUEST_BODY_BYTES
    default_locale: str = c.DEFAULT_LOCALE
    chapter_seconds: float = 1.5
    cdn_url_ttl: int = choices.SANDBOX_CDN_URL_TTL_SECONDS
    cdn_base_url: str | None = None
    # Toggles that start on; all can be changed at run time through the admin hooks.
    captcha: bool = False
    otp: bool = False
    captcha_without_init_cookies: bool = False
    reject_bearer: bool = False
    actor_mode: bool = False
    throttle_after: int | None = None
    # Sign-in steps: how long a CVF code lives; after how many polls the scripted phone
    # approves an approval alert by itself (None: only the `login/approve-alert` hook).
    cvf_code_ttl: float = 600.0
    approval_after_polls: int | None = None
    # Where device registrations are kept across restarts (None: in memory only).
    registrations_path: Path | None = None

    def __post_init__(self) -> None:
        if self.rsa_key_bits not in (1024, 2048, 3072, 4096):
            raise ValueError("rsa_key_bits must be 1024, 2048, 3072 or 4096")
        if self.default_locale not in c.LOCALES:
            raise ValueError(f"unknown default_locale {self.default_locale!r}")
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be at least 1024")
