"""Audible wishlist and catalog search over the LAN API.

    GET    /audible/wishlist           → {"products": [...], "total": n}
    POST   /audible/wishlist {"asin"}  → {"ok": true}
    DELETE /audible/wishlist/{asin}    → {"ok": true}
    GET    /audible/search?q=…         → {"products": [...], "total": n}

The composition root gives the control server's `Browser` an `audible` attribute
satisfying `AudibleShelf`; without it these answer 409 "not available".
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from daemon.control.apierror import bad_request

_ASIN = re.compile(r"^[A-Z0-9]{10}$")


class AudibleShelf(Protocol):
    async def wishlist(self) -> dict[str, Any]: ...

    async def wishlist_add(self, asin: str) -> dict[str, Any]: ...

    async def wishlist_remove(self, asin: str) -> dict[str, Any]: ...

    async def search(self, query: str) -> dict[str, Any]: ...


def check_asin(value: Any) -> str:
    if not isinstance(value, str) or not _ASIN.match(value):
        raise bad_request("asin must be 10 upper-case letters or digits")
    return value


def check_query(value: str | None) -> str:
    if value is None or not 0 < len(value.strip()) <= 200:
        raise bad_request("q must be 1-200 characters")
    return value
