"""Wiring of the phone-driven Audible form sign-in (control.audible_signin.FormSignIn)
and of the wishlist/search the control API offers (control.audible_wishlist).

The runner signs in with `form_login` (the phone answers each step), registers the
device and saves the session in the secret store — the same result as
`speakerd login audible --email` in a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from daemon.control.audible_signin import FormSignIn, StepCallbacks
from daemon.core.clock import Clock
from daemon.core.redact import Secret

if TYPE_CHECKING:
    from daemon.services.audible.client import AudibleClient
    from daemon.services.audible.locales import Endpoints
    from daemon.services.audible.session import SessionStore
    from daemon.services.audible.wishlist import ProductPage
    from daemon.services.http import HttpClient


def audible_form_signin(
    locale_code: str,
    http: HttpClient,
    clock: Clock,
    store: SessionStore,
    endpoints: Callable[[], Endpoints],
) -> FormSignIn:
    """A FormSignIn for the configured marketplace."""
    from daemon.services.audible.client import AudibleClient
    from daemon.services.audible.form_login import form_login
    from daemon.services.audible.locales import get_locale

    async def run(email: str, password: Secret, with_username: bool, cb: StepCallbacks) -> None:
        where = endpoints()
        login = await form_login(
            http, get_locale(locale_code), where, email, password,
            captcha_callback=cb.captcha, otp_callback=cb.otp, cvf_callback=cb.cvf,
            mfa_choice_callback=cb.mfa_choice, approval_callback=cb.approval,
            with_username=with_username,
        )
        client = await AudibleClient.register(
            login, http=http, clock=clock, endpoints=where, store=store
        )
        await client.aclose()

    return FormSignIn(run)


class AudibleShelfAdapter:
    """`control.audible_wishlist.AudibleShelf` over the saved Audible session."""

    def __init__(
        self, http: HttpClient, clock: Clock, store: SessionStore,
        endpoints: Callable[[], Endpoints],
    ) -> None:
        self._http, self._clock, self._store, self._endpoints = http, clock, store, endpoints

    async def _client(self) -> AudibleClient:
        from daemon.services.audible.client import AudibleClient

        return await AudibleClient.restore(
            self._store, http=self._http, clock=self._clock, endpoints=self._endpoints()
        )

    @staticmethod
    def _page(page: ProductPage) -> dict[str, object]:
        keep = ("asin", "title", "authors", "narrators", "runtime_length_min")
        return {"products": [{k: p[k] for k in keep if k in p} for p in page.products],
                "total": page.total}

    async def wishlist(self) -> dict[str, object]:
        from daemon.services.audible import wishlist as wl

        return self._page(await wl.wishlist(await self._client()))

    async def wishlist_add(self, asin: str) -> dict[str, object]:
        from daemon.services.audible import wishlist as wl

        await wl.wishlist_add(await self._client(), asin)
        return {"ok": True}

    async def wishlist_remove(self, asin: str) -> dict[str, object]:
        from daemon.services.audible import wishlist as wl

        await wl.wishlist_remove(await self._client(), asin)
        return {"ok": True}

    async def search(self, query: str) -> dict[str, object]:
        from daemon.services.audible import wishlist as wl

        return self._page(await wl.search(await self._client(), query))
