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

__all__ = ["LOCALES", "Endpoints", "Locale", "get_locale"]


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

    @classmethod
    def sandbox(cls, base_url: str) -> Endpoints:
        """All hosts on one sandbox origin, e.g. `http://127.0.0.1:8080`."""
        base = base_url.rstrip("/")
        return cls(www=base, identity=base, api=base, send_host_header=True)

    def _resolve(self, template: str, host: str, locale: Locale) -> tuple[str, dict[str, str]]:
        base = template.format(tld=locale.tld).rstrip("/")
        headers = {"Host": host.format(tld=locale.tld)} if self.send_host_header else {}
        return base, headers

    def www_base(self, locale: Locale) -> tuple[str, dict[str, str]]:
        return self._resolve(self.www, c.WWW_HOST, locale)

    def identity_base(self, locale: Locale) -> tuple[str, dict[str, str]]:
        return self._resolve(self.identity, c.IDENTITY_HOST, locale)

    def api_base(self, locale: Locale) -> tuple[str, dict[str, str]]:
        return self._resolve(self.api, c.API_HOST, locale)
