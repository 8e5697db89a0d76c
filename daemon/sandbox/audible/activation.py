"""Sandbox routes for activation bytes and the legacy AAX path (§7.8, §8.2).

`GET /license/token` (signed, host `www.audible.com`) answers the account's activation
blob. `GET /FionaCDEServiceEngine/FSDownloadContent` (signed) answers 302 to
`https://cds.audible.com/download?…`; `GET /download` serves the AAX file for titles in
`AAX_TITLES` and, like the service, a 200 HTML "File Assembly error" page for others.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from daemon.contracts import audible as c

from . import aax
from .api import auth_api, title_or_404
from .common import message, read_body, state_of
from .licences import rendition

# SANDBOX CHOICE: one title of the fixture has an AAX variant (the spec asks for one).
AAX_TITLES = frozenset({"B0SPKRD001"})
_ASSEMBLY_ERROR = "<html><body>File Assembly error: Invalid Audio Format.</body></html>"


async def license_token(request: web.Request) -> web.Response:
    raw = await read_body(request)
    reg = await auth_api(request, raw, signed_only=True)
    if isinstance(reg, web.Response):
        return reg
    q = request.query
    if q.get("action") != "register" or not q.get("player_manuf"):
        return web.Response(body=b"BAD_LOGIN", content_type="application/octet-stream")
    blob = aax.activation_blob(aax.activation_bytes_for(reg.customer_id))
    return web.Response(body=blob, content_type="application/octet-stream")


def _token(secret: bytes, asin: str, expires: int) -> str:
    return hmac.new(secret, f"{asin}:{expires}".encode(), hashlib.sha256).hexdigest()


async def fs_download(request: web.Request) -> web.Response:
    state = state_of(request)
    raw = await read_body(request)
    # Access-token mode gets no Location (§7.8): only a signature opens this door.
    reg = await auth_api(request, raw, signed_only=True)
    if isinstance(reg, web.Response):
        return reg
    asin = request.query.get("key", "")
    title = title_or_404(state, asin)
    if isinstance(title, web.Response):
        return title
    if request.query.get("type") != "AUDI":
        return message(400, "type must be AUDI")
    expires = int(state.now()) + state.settings.cdn_url_ttl
    query = urlencode(
        {
            "asin": asin,
            "customer": reg.customer_id,
            "expires": expires,
            "t": _token(state.url_secret, f"{asin}|{reg.customer_id}", expires),
        }
    )
    location = f"https://{c.DOWNLOAD_HOST.format(tld='com')}{c.AAX_DOWNLOAD_PATH}?{query}"
    return web.Response(status=302, headers={"Location": location})


async def download(request: web.Request) -> web.Response:
    state = state_of(request)
    q = request.query
    asin, customer = q.get("asin", ""), q.get("customer", "")
    try:
        expires = int(q.get("expires", "0"))
    except ValueError:
        expires = 0
    expected = _token(state.url_secret, f"{asin}|{customer}", expires)
    if expires < state.now() or not hmac.compare_digest(expected, q.get("t", "")):
        return message(403, "Access denied")
    title = state.titles.get(asin)
    if title is None or asin not in AAX_TITLES:
        return web.Response(text=_ASSEMBLY_ERROR, content_type="text/html")
    key = (asin, f"aax:{customer}")
    data = state.other_media.get(key)
    if data is None:
        found = await rendition(state, title)
        activation = aax.activation_bytes_for(customer)
        data = await asyncio.to_thread(aax.make_aax, found.clear_mp4, activation)
        state.other_media[key] = data
    return web.Response(
        body=data,
        content_type="audio/vnd.audible.aax",
        headers={"Content-Disposition": f'attachment; filename="{asin}_LC_64_22050_stereo.aax"'},
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, wrap: Callable[[Handler], Handler]) -> None:
    """Mount the three routes (each wrapped by the Audible guard)."""
    app.router.add_get(c.ACTIVATION_PATH, wrap(license_token))
    app.router.add_get(c.FS_DOWNLOAD_PATH, wrap(fs_download))
    app.router.add_get(c.AAX_DOWNLOAD_PATH, wrap(download))
