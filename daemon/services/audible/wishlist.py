"""Wishlist add/remove/list and catalog search (signed Audible API calls, §7.7).

Both answer `{"products": [...], "total_results": n}`; the service allows at most 50
results per page. ASINs are checked before they go into a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daemon.core.errors import ConfigError, ProtocolError

from . import transport
from .client import AudibleClient, _asin

MAX_PAGE = 50
_GROUPS = "product_desc,product_attrs,contributors,media"


@dataclass(frozen=True, slots=True)
class ProductPage:
    products: list[dict[str, Any]]
    total: int


def _page(body: dict[str, Any], what: str) -> ProductPage:
    products, total = body.get("products"), body.get("total_results", 0)
    if not isinstance(products, list) or not isinstance(total, int):
        raise ProtocolError(f"Audible's {what} answer has no product list")
    return ProductPage([p for p in products if isinstance(p, dict)], total)


def _size(num_results: int) -> int:
    if not 1 <= num_results <= MAX_PAGE:
        raise ConfigError(f"num_results must be 1-{MAX_PAGE}")
    return num_results


async def wishlist(client: AudibleClient, *, page: int = 0, num_results: int = MAX_PAGE
                   ) -> ProductPage:
    response = await client.api_request(
        "GET", "/wishlist",
        {"num_results": _size(num_results), "page": page, "response_groups": _GROUPS,
         "sort_by": "-DateAdded"},
    )
    return _page(transport.json_object(response), "wishlist")


async def wishlist_add(client: AudibleClient, asin: str) -> None:
    await client.api_request("POST", "/wishlist", body={"asin": _asin(asin)})


async def wishlist_remove(client: AudibleClient, asin: str) -> None:
    await client.api_request("DELETE", f"/wishlist/{_asin(asin)}")


async def search(client: AudibleClient, keywords: str, *, page: int = 0,
                 num_results: int = MAX_PAGE) -> ProductPage:
    """Catalog search in the account's marketplace."""
    words = " ".join(keywords.split())
    if not words or len(words) > 200:
        raise ConfigError("search words must be 1-200 characters")
    response = await client.api_request(
        "GET", "/catalog/products",
        {"keywords": words, "num_results": _size(num_results), "page": page,
         "products_sort_by": "Relevance", "response_groups": _GROUPS},
    )
    return _page(transport.json_object(response), "catalog search")
