"""The Audible client: register/deregister, token refresh, signed API calls (§4-§7).

Every `api.audible.{tld}` call is signed (AU-C13), so playback never depends on the
access token; the token (refreshed `REFRESH_MARGIN_SECONDS` before its hour ends, one
refresh at a time) is used only for deregister and the profile. A session change is saved
to the secret store only after it succeeded, so a failed refresh never overwrites it.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from daemon.contracts import audible as c
from daemon.core.clock import Clock
from daemon.core.errors import AuthError, LicenseError, ProtocolError, StateError
from daemon.core.redact import Secret
from daemon.core.resource import AsyncResource
from daemon.services.audible import policy
from daemon.services.http import HttpClient, HttpResponse

from . import transport
from .locales import Endpoints, Locale, get_locale
from .login import LoginResult
from .models import LastPosition, LibraryPage, Licence
from .register import register_device
from .session import AudibleSession, SessionStore
from .signing import RequestSigner
from .voucher import ContentKey, decrypt_voucher

log = logging.getLogger("daemon.services.audible")


class AudibleClient(AsyncResource):
    """Signed Audible API calls for one registered device.

    Owns nothing but an optional store reference; the `HttpClient` is the caller's.
    """

    def __init__(
        self,
        session: AudibleSession,
        *,
        http: HttpClient,
        clock: Clock,
        endpoints: Endpoints,
        store: SessionStore | None = None,
        store_name: str = policy.SESSION_SECRET_NAME,
    ) -> None:
        self._session = session
        self._http = http
        self._clock = clock
        self._endpoints = endpoints
        self._store = store
        self._store_name = store_name
        self._refresh_lock = asyncio.Lock()
        self._throttled_until = 0.0
        self._signer: RequestSigner | None = None
        self._closed = False

    # -- construction / lifecycle ---------------------------------------------------------

    @classmethod
    async def register(
        cls,
        login: LoginResult,
        *,
        http: HttpClient,
        clock: Clock,
        endpoints: Endpoints,
        store: SessionStore | None = None,
    ) -> AudibleClient:
        """Register the device and (when a store is given) save the session."""
        session = await register_device(login, http=http, clock=clock, endpoints=endpoints)
        client = cls(session, http=http, clock=clock, endpoints=endpoints, store=store)
        await client.save()
        return client

    @classmethod
    async def restore(
        cls,
        store: SessionStore,
        *,
        http: HttpClient,
        clock: Clock,
        endpoints: Endpoints,
        store_name: str = policy.SESSION_SECRET_NAME,
    ) -> AudibleClient:
        """The client for the saved session; AuthError with the login hint if there is none."""
        data = await asyncio.to_thread(store.load, store_name)
        if data is None:
            raise AuthError("Audible is not signed in: run `speakerd login audible`")
        return cls(
            AudibleSession.from_json(data),
            http=http,
            clock=clock,
            endpoints=endpoints,
            store=store,
            store_name=store_name,
        )

    async def save(self) -> None:
        if self._store is not None:
            await asyncio.to_thread(self._store.save, self._store_name, self._session.to_json())

    async def aclose(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"AudibleClient(locale={self._session.locale_code!r})"

    @property
    def session(self) -> AudibleSession:
        return self._session

    @property
    def endpoints(self) -> Endpoints:
        return self._endpoints

    @property
    def http(self) -> HttpClient:
        return self._http

    @property
    def locale(self) -> Locale:
        return get_locale(self._session.locale_code)

    def _identity(self) -> tuple[str, dict[str, str]]:
        """The identity host of this account's pool (username accounts: `api.audible`)."""
        return self._endpoints.identity_base(
            self.locale, with_username=self._session.with_username
        )

    # -- tokens ---------------------------------------------------------------------------

    async def access_token(self) -> Secret:
        """A token with at least REFRESH_MARGIN_SECONDS left, refreshing once if needed."""
        if self._session.expires - policy.REFRESH_MARGIN_SECONDS > self._clock.time():
            return self._session.access_token
        async with self._refresh_lock:
            # Double-checked: a concurrent caller may have refreshed while we waited.
            if self._session.expires - policy.REFRESH_MARGIN_SECONDS > self._clock.time():
                return self._session.access_token
            await self._refresh()
        return self._session.access_token

    async def refresh_access_token(self) -> None:
        """Force a refresh now (single-flight with `access_token`)."""
        async with self._refresh_lock:
            await self._refresh()

    async def _refresh(self) -> None:
        base, host = self._identity()
        form = {
            "app_name": policy.APP_NAME,
            "app_version": policy.APP_VERSION,
            "source_token": self._session.refresh_token.reveal(),
            "requested_token_type": "access_token",
            "source_token_type": "refresh_token",
        }
        headers = {
            **host,
            "x-amzn-identity-auth-domain": self._endpoints.identity_host(
                self.locale, with_username=self._session.with_username
            ),
        }
        response = await transport.send(
            self._http, "POST", base + c.TOKEN_PATH, headers=headers, body=form
        )
        if response.status in (400, 401, 403):
            # Refused refresh token (invalid_grant): registration gone; keep stored data.
            raise AuthError(policy.RELOGIN_HINT, status=response.status)
        transport.raise_for_status(response)
        body = transport.json_object(response)
        token = body.get("actor_access_token") or body.get("access_token")  # AU-C11 order
        if not isinstance(token, str) or not token:
            raise ProtocolError("Audible token refresh answer has no access token")
        try:
            ttl = float(body.get("expires_in", c.ACCESS_TOKEN_TTL_SECONDS))
        except (TypeError, ValueError):
            raise ProtocolError("Audible token refresh answer has a bad expires_in") from None
        new_refresh = body.get("actor_refresh_token") or body.get("refresh_token")
        updated = self._session.with_access_token(
            Secret(token),
            self._clock.time() + ttl,
            Secret(new_refresh) if isinstance(new_refresh, str) and new_refresh else None,
        )
        previous, self._session = self._session, updated
        try:
            await self.save()
        except StateError:
            self._session = previous
            raise
        log.info("audible.token_refreshed expires_in=%d", int(ttl))

    # -- identity calls (access token) -------------------------------------------------------

    async def deregister(self) -> None:
        """Remove this device's registration (never all devices, §4.4)."""
        await self.refresh_access_token()  # mkb79 refreshes first; the token must be live
        base, host = self._identity()
        headers = {
            **host,
            c.ACCESS_TOKEN_HEADER: self._session.access_token.reveal(),
            "Content-Type": "application/json",
        }
        body = json.dumps({"deregister_all_existing_accounts": False}).encode()
        response = await transport.send(
            self._http, "POST", base + c.DEREGISTER_PATH, headers=headers, body=body
        )
        transport.raise_for_status(response)
        log.info("audible.deregistered locale=%s", self._session.locale_code)

    async def user_profile(self) -> dict[str, Any]:
        token = await self.access_token()
        base, host = self._identity()
        response = await transport.send(
            self._http,
            "GET",
            base + c.PROFILE_PATH,
            headers={**host, c.ACCESS_TOKEN_HEADER: token.reveal()},
        )
        transport.raise_for_status(response)
        return transport.json_object(response)

    # -- signed API calls ------------------------------------------------------------------

    async def _signed(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> HttpResponse:
        base, host = self._endpoints.api_base(self.locale)
        url = base + c.API_PREFIX + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None}, safe=",")
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        signed = await self._sign_headers(method, url, raw)
        headers = {
            **policy.DEFAULT_API_HEADERS,
            **host,
            **signed,
            "Accept-Language": self.locale.accept_language,
        }
        response = await transport.send(
            self._http, method, url, headers=headers, body=raw if body is not None else None
        )
        if response.status in (401, 403):
            transport.raise_for_status(response, signed=True, clock_skew=self._skew(response))
        transport.raise_for_status(response)
        return response

    async def api_request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> HttpResponse:
        """One signed call to `api.audible.{tld}/1.0{path}` (errors mapped, AU-C20)."""
        return await self._signed(method, path, params, body)

    async def _sign_headers(self, method: str, url: str, raw: bytes) -> dict[str, str]:
        target = transport.request_target(url)
        now = datetime.fromtimestamp(self._clock.time(), UTC)
        if self._signer is None:
            s = self._session
            self._signer = await asyncio.to_thread(
                RequestSigner, s.adp_token.reveal(), s.device_private_key.reveal()
            )
        return await asyncio.to_thread(self._signer.headers, method, target, raw, now)

    async def signed_send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> HttpResponse:
        """One signed request to any host (activation, legacy content service); the
        answer comes back unmapped, redirects included, for the caller to read."""
        signed = await self._sign_headers(method, url, body)
        return await transport.send(
            self._http, method, url, headers={**headers, **signed}, body=body or None
        )

    async def replace_session(self, session: AudibleSession) -> None:
        """Adopt an updated session (cookies, activation bytes) and save it."""
        previous, self._session = self._session, session
        try:
            await self.save()
        except StateError:
            self._session = previous
            raise

    def _skew(self, response: HttpResponse) -> float | None:
        """Our clock minus the server's `Date`, when the server sent one."""
        date = response.headers.get("Date")
        if not date:
            return None
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return None
        return self._clock.time() - server

    async def _get_json(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], HttpResponse]:
        response = await self._signed("GET", path, params)
        return transport.json_object(response), response

    async def _get_member(
        self, path: str, params: Mapping[str, Any], key: str, *, what: str, asin: str
    ) -> dict[str, Any]:
        """The object under `key` of a signed GET's answer; its absence is a ProtocolError."""
        body, _ = await self._get_json(path, params)
        member = body.get(key)
        if not isinstance(member, dict):
            raise ProtocolError(f"Audible {what} answer has no {key}", asin=asin)
        return member

    async def library_page(
        self,
        *,
        page: int = 1,
        num_results: int = policy.LIBRARY_PAGE_SIZE,
        response_groups: Iterable[str] = policy.LIBRARY_RESPONSE_GROUPS,
        sort_by: str = policy.LIBRARY_SORT_BY,
        state_token: str | None = None,
        parent_asin: str | None = None,
    ) -> LibraryPage:
        if not 1 <= num_results <= c.LIBRARY_MAX_NUM_RESULTS or page < 1:
            raise ValueError("num_results must be 1..1000 and page >= 1")
        params = {
            "num_results": num_results,
            "page": page,
            "sort_by": sort_by,
            "response_groups": ",".join(response_groups),
            "state_token": state_token,
            "parent_asin": parent_asin,
        }
        body, response = await self._get_json("/library", params)
        return LibraryPage.parse(body, response.headers)

    async def library(
        self,
        *,
        num_results: int = policy.LIBRARY_PAGE_SIZE,
        response_groups: Iterable[str] = policy.LIBRARY_RESPONSE_GROUPS,
        parent_asin: str | None = None,
        max_pages: int = 100,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Every library item (all pages) and the State-Token for incremental sync."""
        groups = tuple(response_groups)
        items: list[dict[str, Any]] = []
        token: str | None = None
        for page in range(1, max_pages + 1):
            result = await self.library_page(
                page=page, num_results=num_results, response_groups=groups, parent_asin=parent_asin
            )
            token = result.state_token or token
            items.extend(result.items)
            if not result.items or len(items) >= result.total_count:
                break
        return items, token

    async def library_item(
        self, asin: str, response_groups: Iterable[str] = policy.LIBRARY_RESPONSE_GROUPS
    ) -> dict[str, Any]:
        params = {"response_groups": ",".join(response_groups)}
        path = f"/library/{_asin(asin)}"
        return await self._get_member(path, params, "item", what="library item", asin=asin)

    async def catalog_product(
        self,
        asin: str,
        response_groups: Iterable[str] = (
            "product_desc",
            "product_attrs",
            "contributors",
            "media",
            "relationships",
        ),
    ) -> dict[str, Any]:
        params = {"response_groups": ",".join(response_groups)}
        return await self._get_member(
            f"/catalog/products/{_asin(asin)}", params, "product", what="catalog", asin=asin
        )

    async def content_metadata(
        self, asin: str, *, drm_type: str = "Adrm", acr: str | None = None
    ) -> dict[str, Any]:
        return await self._get_member(
            f"/content/{_asin(asin)}/metadata",
            {
                "response_groups": "chapter_info,content_reference",
                "drm_type": drm_type,
                "chapter_titles_type": "Tree",
                "acr": acr,
            },
            "content_metadata",
            what="metadata",
            asin=asin,
        )

    async def licence_request(self, asin: str, body: Mapping[str, Any] | None = None) -> Licence:
        """POST licenserequest (AU-C15 body by default); Denied → LicenseError."""
        now = self._clock.time()
        if now < self._throttled_until:
            hours = (self._throttled_until - now) / 3600
            raise LicenseError(
                f"Audible is throttling licences for this account; cached "
                f"titles still play, new ones in about {hours:.0f} h",
                asin=asin,
            )
        payload = dict(policy.LICENSE_REQUEST_BODY if body is None else body)
        response = await self._signed(
            "POST", f"/content/{_asin(asin)}/licenserequest", body=payload
        )
        data = transport.json_object(response)
        lic = data.get("content_license")
        if not isinstance(lic, dict):
            raise ProtocolError("Audible licence answer has no content_license", asin=asin)
        status = lic.get("status_code")
        if status != "Granted":
            reasons = lic.get("license_denial_reasons") or []
            codes = [r.get("rejectionReason") for r in reasons if isinstance(r, dict)]
            if "CustomerThrottled" in codes:
                self._throttled_until = now + policy.THROTTLE_BACKOFF_SECONDS  # AU-C21
            why = ", ".join(map(str, codes)) or str(status)
            raise LicenseError(f"Audible denied the licence ({why})", asin=asin)
        return Licence.parse(lic)

    async def licence(self, asin: str) -> Licence:
        """A licence for `asin`, reusing the cached one while it is valid (AU-C15).

        The cache lives in the secret store (a voucher is a secret). A licence is reused
        only by the device it was issued to, while it names our customer id and neither
        `refresh_date` nor the file URL's `Expires` is within LICENCE_REUSE_MARGIN_SECONDS.
        """
        name = f"audible-licence-{_asin(asin).lower()}"
        if self._store is not None:
            cached = await asyncio.to_thread(self._store.load, name)
            found = self._reusable(cached)
            if found is not None:
                return found
        licence = await self.licence_request(asin)
        if self._store is not None:
            entry = {"device_serial": self._session.device_serial, "content_license": licence.raw}
            await asyncio.to_thread(self._store.save, name, entry)
        return licence

    def _reusable(self, cached: dict[str, Any] | None) -> Licence | None:
        if not cached or not isinstance(cached.get("content_license"), dict):
            return None
        if cached.get("device_serial") != self._session.device_serial:
            return None  # a voucher decrypts only on the device it was issued to
        try:
            licence = Licence.parse(cached["content_license"])
        except ProtocolError:
            return None  # a damaged cache entry is simply replaced
        until = licence.valid_until()
        if (
            self._session.customer_id not in licence.allowed_users
            or until is None
            or until - policy.LICENCE_REUSE_MARGIN_SECONDS <= self._clock.time()
        ):
            return None
        return licence

    async def content_key(self, licence: Licence) -> ContentKey:
        """Decrypt an Adrm licence's voucher (in a thread)."""
        if licence.drm_type != "Adrm" or licence.license_response is None:
            raise LicenseError(
                "this licence carries no voucher", asin=licence.asin, drm_type=licence.drm_type
            )
        s = self._session
        return await asyncio.to_thread(
            decrypt_voucher,
            licence.license_response.reveal(),
            device_type=s.device_type,
            device_serial=s.device_serial,
            customer_id=s.customer_id,
            asin=licence.asin,
        )

    async def last_positions(self, asins: Iterable[str]) -> dict[str, LastPosition]:
        """Last heard positions, fetched in batches of 25 (AU-C17)."""
        wanted = [_asin(a) for a in asins]
        found: dict[str, LastPosition] = {}
        for start in range(0, len(wanted), c.LASTPOSITIONS_MAX_ASINS):
            batch = wanted[start : start + c.LASTPOSITIONS_MAX_ASINS]
            body, _ = await self._get_json("/annotations/lastpositions", {"asins": ",".join(batch)})
            annots = body.get("asin_last_position_heard_annots")
            if not isinstance(annots, list):
                raise ProtocolError("Audible positions answer has no annotation list")
            for annot in annots:
                if not isinstance(annot, dict) or not isinstance(annot.get("asin"), str):
                    raise ProtocolError("Audible positions answer has a bad entry")
                asin = annot["asin"]
                found[asin] = LastPosition.parse(asin, annot.get("last_position_heard"))
        return found

    async def set_last_position(self, asin: str, acr: str, position_ms: int) -> None:
        if position_ms < 0:
            raise ValueError("position_ms must be >= 0")
        await self._signed(
            "PUT",
            f"/lastpositions/{_asin(asin)}",
            body={"acr": acr, "asin": asin, "position_ms": int(position_ms)},
        )


def _asin(asin: str) -> str:
    if not (len(asin) == 10 and asin.isascii() and asin.isalnum()):
        raise ValueError(f"not an ASIN: {asin!r}")
    return asin
