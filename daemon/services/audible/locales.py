"""Marketplaces and host templates (spec/audible.md §1-§2, AU-C01).

`Endpoints` maps the three host families to base URLs for a locale. Against the real
service the templates are `https://www.amazon.{tld}` and so on; against the sandbox they
are one loopback origin and the real host name travels in the `Host` header, which is
how the sandbox tells marketplaces apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.contracts import audible as c
from daemon.contracts.audible import LOCALES, Locale
from daemon.core.errors import ConfigError

__all__ = ["LOCALES", "Endpoints", "Locale", "check_username_locale", "get_locale"]


def check_username_locale(locale: Locale, with_username: bool) -> None:
    """A ConfigError when a username (pre-Amazon) account is asked for where none exist."""
    if with_username and locale.country_code not in c.USERNAME_LOCALES:
        raise ConfigError(
            "Audible username (pre-Amazon) accounts exist only on the "
            + ", ".join(sorted(c.USERNAME_LOCALES))
            + f" marketplaces, not on {locale.country_code!r}; sign in with the Amazon"
            " account instead"
        )


def get_locale(country_code: str) -> Locale:
    """The locale for `us`, `uk`, `de`, …; a ConfigError naming the valid codes otherwise."""
    try:
        return LOCALES[country_code.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown Audible marketplace {country_code!r}; use one of "
            + ", ".join(sorted(LOCALES))
        ) from None


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base-URL templates (`{tld}` is filled in) and whether to send the real Host name."""

    www: str = "https://" + c.WWW_HOST
    identity: str = "https://" + c.IDENTITY_HOST
    api: str = "https://" + c.API_HOST
    send_host_header: bool = False
    username_www: str = "https://" + c.USERNAME_WWW_HOST
    username_identity: str = "https://" + c.USERNAME_IDENTITY_HOST
    activation: str = "https://" + c.ACTIVATION_HOST
    legacy_content: str = "https://" + c.LEGACY_CONTENT_HOST
    download: str = "https://" + c.DOWNLOAD_HOST

    @classmethod
    def sandbox(cls, base_url: str) -> Endpoints:
        """All hosts on one sandbox origin, e.g. `http://127.0.0.1:8080`."""
        base = base_url.rstrip("/")
        return cls(
            www=base,
            identity=base,
            api=base,
            send_host_header=True,
            username_www=base,
            username_identity=base,
            activation=base,
            legacy_content=base,
            download=base,
        )

    def _resolve(self, template: str, host: str, locale: Locale) -> tuple[str, dict[str, str]]:
        base = template.format(tld=locale.tld).rstrip("/")
        headers = {"Host": host.format(tld=locale.tld)} if self.send_host_header else {}
        return base, headers

    def www_base(
        self, locale: Locale, *, with_username: bool = False
    ) -> tuple[str, dict[str, str]]:
        """Sign-in pages and cookie exchange: `www.amazon` or, for username accounts,
        `www.audible` (a ConfigError where that marketplace has none)."""
        if with_username:
            check_username_locale(locale, with_username)
            return self._resolve(self.username_www, c.USERNAME_WWW_HOST, locale)
        return self._resolve(self.www, c.WWW_HOST, locale)

    def identity_base(
        self, locale: Locale, *, with_username: bool = False
    ) -> tuple[str, dict[str, str]]:
        """Register, token, deregister, profile: `api.amazon` or `api.audible` likewise."""
        if with_username:
            check_username_locale(locale, with_username)
            return self._resolve(self.username_identity, c.USERNAME_IDENTITY_HOST, locale)
        return self._resolve(self.identity, c.IDENTITY_HOST, locale)

    def activation_base(self) -> tuple[str, dict[str, str]]:
        """`www.audible.com` for every marketplace (§1)."""
        return self._resolve(self.activation, c.ACTIVATION_HOST, LOCALES[c.DEFAULT_LOCALE])

    def legacy_content_base(self) -> tuple[str, dict[str, str]]:
        """`cde-ta-g7g.amazon.com` (always `.com`) for `FSDownloadContent`."""
        return self._resolve(self.legacy_content, c.LEGACY_CONTENT_HOST, LOCALES["us"])

    def download_base(self, locale: Locale) -> tuple[str, dict[str, str]]:
        """`cds.audible.{tld}`: where an AAX redirect is sent for this marketplace."""
        return self._resolve(self.download, c.DOWNLOAD_HOST, locale)

    def www_host(self, locale: Locale, *, with_username: bool = False) -> str:
        """The real host name of the sign-in pages (for `openid.return_to`)."""
        return (c.USERNAME_WWW_HOST if with_username else c.WWW_HOST).format(tld=locale.tld)

    def identity_host(self, locale: Locale, *, with_username: bool = False) -> str:
        """The real identity host name (for `x-amzn-identity-auth-domain`)."""
        template = c.USERNAME_IDENTITY_HOST if with_username else c.IDENTITY_HOST
        return template.format(tld=locale.tld)

    def api_base(self, locale: Locale) -> tuple[str, dict[str, str]]:
        return self._resolve(self.api, c.API_HOST, locale)
