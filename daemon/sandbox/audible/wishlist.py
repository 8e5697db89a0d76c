"""Wishlist and catalog search of the emulated Audible API (§7.7; facts of mkb79 and
audible.cr: `num_results` at most 50 for both).

GET /1.0/wishlist → `{"products", "total_results"}` (newest first);
POST /1.0/wishlist `{"asin"}` → 201 with `Location`; DELETE /1.0/wishlist/{asin} → 204
(404 when it is not there); GET /1.0/catalog/products?keywords=… → `{"products",
"total_results"}` matching title, author or narrator words of the marketplace's titles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from daemon.contracts import audible as c
from daemon.sandbox.audible import choices

from .api import _int_param, auth_api, runtime_s, title_or_404
from .catalog import item_json
from .common import marketplace, message, parse_json_object, read_body, state_of, validation_error

MAX_RESULTS = 50


def _page_params(request: web.Request) -> tuple[int, int] | web.Response:
    errors: list[str] = []
    size = _int_param(request.query, "num_results", "numResults", default=MAX_RESULTS, lo=1,
                      hi=MAX_RESULTS, errors=errors)
    page = _int_param(request.query, "page", "page", default=0, lo=0, hi=10_000, errors=errors)
    if errors:
        return validation_error(*errors)
    return size, page


def _products(request: web.Request, asins: list[str]) -> list[dict[str, object]]:
    state = state_of(request)
    groups = frozenset({"product_desc", "product_attrs", "contributors", "media"})
    return [
        item_json(state.titles[a], groups, runtime_s(state, state.titles[a]), in_library=False,
                  position_ms=None)
        for a in asins
        if a in state.titles
    ]


async def wishlist_get(request: web.Request) -> web.Response:
    reg = await auth_api(request)
    if isinstance(reg, web.Response):
        return reg
    paging = _page_params(request)
    if isinstance(paging, web.Response):
        return paging
    size, page = paging
    state = state_of(request)
    here = marketplace(request)
    asins = [a for a in state.wishlists.get(reg.customer_id, [])
             if state.titles[a].marketplace == here]
    chunk = asins[page * size : (page + 1) * size]
    return web.json_response({"products": _products(request, chunk),
                              "total_results": len(asins)})


async def wishlist_add(request: web.Request) -> web.Response:
    raw = await read_body(request)
    reg = await auth_api(request, raw)
    if isinstance(reg, web.Response):
        return reg
    body = parse_json_object(raw)
    asin = body.get("asin") if body is not None else None
    if not isinstance(asin, str):
        return validation_error(choices.null_violation("asin"))
    title = title_or_404(state_of(request), asin)
    if isinstance(title, web.Response):
        return title
    if title.marketplace != marketplace(request):
        return message(404, f"Requested product {asin} was not found")
    items = state_of(request).wishlists.setdefault(reg.customer_id, [])
    if asin not in items:
        items.insert(0, asin)
    return web.json_response({}, status=201,
                             headers={"Location": f"{c.API_PREFIX}/wishlist/{asin}"})


async def wishlist_remove(request: web.Request) -> web.Response:
    raw = await read_body(request)
    reg = await auth_api(request, raw)
    if isinstance(reg, web.Response):
        return reg
    asin = request.match_info["asin"]
    items = state_of(request).wishlists.get(reg.customer_id, [])
    if asin not in items:
        return message(404, f"Requested product {asin} is not in the wishlist")
    items.remove(asin)
    return web.Response(status=204)


async def catalog_search(request: web.Request) -> web.Response:
    reg = await auth_api(request)
    if isinstance(reg, web.Response):
        return reg
    paging = _page_params(request)
    if isinstance(paging, web.Response):
        return paging
    size, page = paging
    words = request.query.get("keywords", "").lower().split()
    if not words:
        return validation_error(choices.null_violation("keywords"))
    state = state_of(request)
    here = marketplace(request)
    found = [
        t.asin for t in state.titles.values()
        if t.marketplace == here and t.status == "Active" and t.parent_asin is None
        and all(w in f"{t.title} {t.author} {t.narrator}".lower() for w in words)
    ]
    chunk = found[page * size : (page + 1) * size]
    return web.json_response({"products": _products(request, chunk),
                              "total_results": len(found)})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, wrap: Callable[[Handler], Handler]) -> None:
    """Mount the four routes, each wrapped by the Audible guard."""
    r = app.router
    r.add_get(f"{c.API_PREFIX}/wishlist", wrap(wishlist_get))
    r.add_post(f"{c.API_PREFIX}/wishlist", wrap(wishlist_add))
    r.add_delete(f"{c.API_PREFIX}/wishlist/{{asin}}", wrap(wishlist_remove))
    r.add_get(f"{c.API_PREFIX}/catalog/products", wrap(catalog_search))
