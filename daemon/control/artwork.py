"""Cover art at the size a phone needs (AM-C13b): every `image_url` in an answer has the
service's `*` placeholder filled, so no client ever receives an unfetchable `._*_.` URL.

Clients name the longest side they will draw with `?image_size=N` (30..1200) on any read;
without it the answer is filled for `DEFAULT_SIDE`. The event socket takes the same query
parameter on its URL.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from daemon.contracts.amazon_music import IMAGE_SIDE_MAX, IMAGE_SIDE_MIN, fill_image_placeholder
from daemon.control.apierror import bad_request

DEFAULT_SIDE = 500
_MAX_DEPTH = 8


def image_side(request: web.Request) -> int:
    """The `image_size` query parameter, or the default; 400 when it is not 30..1200."""
    raw = request.query.get("image_size")
    if raw is None:
        return DEFAULT_SIDE
    if not raw.isdigit() or not IMAGE_SIDE_MIN <= int(raw) <= IMAGE_SIDE_MAX:
        raise bad_request(f"image_size must be a whole number {IMAGE_SIDE_MIN}-{IMAGE_SIDE_MAX}")
    return int(raw)


def fill_images(value: Any, side: int, _depth: int = 0) -> Any:
    """A copy of `value` (JSON-like) with every `image_url` string filled for `side`."""
    if _depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: (fill_image_placeholder(v, side) if k == "image_url" and isinstance(v, str)
                    else fill_images(v, side, _depth + 1)) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_images(v, side, _depth + 1) for v in value]
    return value
