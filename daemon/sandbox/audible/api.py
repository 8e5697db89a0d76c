"""Emulated `api.audible.{tld}` read routes (§7): library, catalog, metadata, positions.

Library paging/validation (AU-C14) and positions (AU-C17); API calls are authenticated per
AU-C13. Licence requests and the CDN live in `licences.py`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from daemon.contracts import audible as c
from daemon.sandbox.audible import choices

from . import content
from .catalog import Title, item_json
from .common import (
    authenticate,
    has_signature,
    marketplace,
    message,
    not_authenticated,
    parse_json_object,
    parse_timestamp,
    read_body,
    state_of,
    take_fault,
    validation_error,
)
from .state import AudibleState, Registration

_DIGITS = r"^\d+$"
_ASIN = re.compile(r"^[A-Z0-9]{10}$")


def runtime_s(state: AudibleState, title: Title) -> float:
    return len(title.chapters) * content.chapter_length_ms(state.settings.chapter_seconds) / 1000


def _groups(raw: str | None, valid: frozenset[str]) -> frozenset[str] | web.Response:
    if raw is None:
        return frozenset()
    groups = frozenset(g.strip() for g in raw.split(",") if g.strip())
    if not groups:
        return web.json_response(
            {"error_code": "000307", "message": choices.MSG_NO_RESPONSE_GROUPS}, status=400
        )
    bad = sorted(groups - valid)
    if bad:
        return message(400, f"Invalid response group: {bad[0]}")
    return groups


def _int_param(
    query: Any, name: str, field: str, *, default: int, lo: int, hi: int, errors: list[str]
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.match(_DIGITS, raw):
        errors.append(choices.pattern_violation(raw, field, _DIGITS))
        return default
    value = int(raw)
    if value < lo:
        errors.append(
            f"Value '{raw}' at '{field}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {lo}"
        )
    elif value > hi:
        errors.append(
            f"Value '{raw}' at '{field}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {hi}"
        )
    return value


async def auth_api(
    request: web.Request, body: bytes = b"", *, signed_only: bool = False
) -> Registration | web.Response:
    fault = take_fault(request)
    if fault is not None:
        return fault
    reg = authenticate(request, body, signed_only=signed_only)
    return reg if reg is not None else not_authenticated()


def owned(state: AudibleState, request: web.Request, title: Title) -> bool:
    return title.marketplace == marketplace(request)


async def library(request: web.Request) -> web.Response:
    state = state_of(request)
    reg = await auth_api(request)
    if isinstance(reg, web.Response):
        return reg
    q = request.query
    errors: list[str] = []
    size = _int_param(
        q,
        "num_results",
        "numResults",
        default=50,
        lo=1,
        hi=c.LIBRARY_MAX_NUM_RESULTS,
        errors=errors,
    )
    page = _int_param(q, "page", "page", default=1, lo=1, hi=10**6, errors=errors)
    sort_by = q.get("sort_by", "-PurchaseDate")
    if sort_by not in choices.LIBRARY_SORT_VALUES:
        errors.append(
            f"Value '{sort_by}' at 'sortBy' failed to satisfy constraint: "
            "Member must satisfy enum value set"
        )
    status = q.get("status", "Active")
    if status not in ("Active", "Revoked"):
        errors.append(
            f"Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Revoked]"
        )
    after = q.get("purchased_after")
    after_ts = parse_timestamp(after) if after else None
    if after and after_ts is None:
        errors.append(choices.pattern_violation(after, "purchasedAfter", "RFC 3339 date-time"))
    token = q.get("state_token")
    if token is not None and not re.match(_DIGITS, token):
        errors.append(choices.pattern_violation(token, "stateToken", _DIGITS))
    if errors:
        return validation_error(*errors)
    groups = _groups(q.get("response_groups"), choices.LIBRARY_VALID_RESPONSE_GROUPS)
    if isinstance(groups, web.Response):
        return groups
    if size * page > 10_000 + size:
        return message(400, "Implied library size is unsupported.")
    parent = q.get("parent_asin")
    items = [
        t
        for t in state.titles.values()
        if owned(state, request, t)
        and t.status == status
        and (t.parent_asin == parent if parent else t.parent_asin is None)
    ]
    if after_ts is not None:
        items = [t for t in items if _purchase_ts(t) > after_ts]
    if token is not None and int(token) >= state.state_version:
        items = []  # unchanged library since that token (§7.1)
    key, reverse = sort_by.lstrip("-"), sort_by.startswith("-")
    items.sort(key=lambda t: _sort_key(t, key), reverse=reverse)
    chunk = items[(page - 1) * size : page * size]
    body = {
        "items": [_library_item(state, t, groups) for t in chunk],
        "response_groups": sorted(groups | {"always-returned"}),
    }
    return web.json_response(
        body, headers={"Total-Count": str(len(items)), "State-Token": str(state.state_version)}
    )


def _purchase_ts(title: Title) -> float:
    return datetime.fromisoformat(title.purchase_date).replace(tzinfo=UTC).timestamp()


def _sort_key(title: Title, key: str) -> str:
    return {
        "Author": title.author,
        "Narrator": title.narrator,
        "Title": title.title,
        "Length": f"{len(title.chapters):06d}",
    }.get(key, title.purchase_date)


def _library_item(state: AudibleState, title: Title, groups: frozenset[str]) -> dict[str, Any]:
    pos = state.positions.get(title.asin)
    return item_json(
        title,
        groups,
        runtime_s(state, title),
        in_library=True,
        position_ms=pos[0] if pos else None,
    )


def title_or_404(state: AudibleState, asin: str) -> Title | web.Response:
    if not _ASIN.match(asin):
        return validation_error(choices.pattern_violation(asin, "asin", "^[A-Z0-9]{10}$"))
    title = state.titles.get(asin)
    if title is None:
        return message(404, f"Requested product {asin} was not found")
    return title


async def library_item(request: web.Request) -> web.Response:
    state = state_of(request)
    reg = await auth_api(request)
    if isinstance(reg, web.Response):
        return reg
    title = title_or_404(state, request.match_info["asin"])
    if isinstance(title, web.Response):
        return title
    if not owned(state, request, title):
        return message(404, f"Requested product {title.asin} is not in the library")
    groups = _groups(request.query.get("response_groups"), choices.LIBRARY_VALID_RESPONSE_GROUPS)
    if isinstance(groups, web.Response):
        return groups
    return web.json_response(
        {
            "item": _library_item(state, title, groups),
            "response_groups": sorted(groups | {"always-returned"}),
        }
    )


async def _optional_auth(request: web.Request) -> web.Response | None:
    """Catalog/metadata work unauthenticated, but a signature that is present must verify."""
    fault = take_fault(request)
    if fault is not None:
        return fault
    if has_signature(request) and authenticate(request, b"", signed_only=True) is None:
        return not_authenticated()
    return None


async def catalog_product(request: web.Request) -> web.Response:
    state = state_of(request)
    refused = await _optional_auth(request)
    if refused is not None:
        return refused
    title = title_or_404(state, request.match_info["asin"])
    if isinstance(title, web.Response):
        return title
    groups = _groups(request.query.get("response_groups"), choices.CATALOG_VALID_RESPONSE_GROUPS)
    if isinstance(groups, web.Response):
        return groups
    product = item_json(title, groups, runtime_s(state, title), in_library=False, position_ms=None)
    return web.json_response(
        {"product": product, "response_groups": sorted(groups | {"always-returned"})}
    )


def chapter_info(state: AudibleState, title: Title) -> dict[str, Any]:
    length = content.chapter_length_ms(state.settings.chapter_seconds)
    chapters = [
        {
            "length_ms": length,
            "start_offset_ms": i * length,
            "start_offset_sec": i * length // 1000,
            "title": ch.title,
        }
        for i, ch in enumerate(title.chapters)
    ]
    total = length * len(chapters)
    return {
        "brandIntroDurationMs": 0,
        "brandOutroDurationMs": 0,
        "is_accurate": True,
        "runtime_length_ms": total,
        "runtime_length_sec": total // 1000,
        "chapters": chapters,
    }


def content_reference(
    state: AudibleState, title: Title, drm_type: str, size: int | None
) -> dict[str, Any]:
    fmt = {"Adrm": "AAX_22_64", "Mpeg": "MPEG", "Hls": "M4A_AAX_22"}.get(drm_type, "AAX_22_64")
    return {
        "acr": title.acr(drm_type),
        "asin": title.asin,
        "codec": "mp4a.40.2",
        "content_format": fmt,
        "content_size_in_bytes": size,
        "file_version": "1",
        "marketplace": c.LOCALES[title.marketplace].marketplace_id,
        "sku": f"BK_SPKR_{title.asin}",
        "tempo": "1.0",
        "version": "1",
    }


async def content_metadata(request: web.Request) -> web.Response:
    state = state_of(request)
    refused = await _optional_auth(request)
    if refused is not None:
        return refused
    title = title_or_404(state, request.match_info["asin"])
    if isinstance(title, web.Response):
        return title
    groups = _groups(
        request.query.get("response_groups", "chapter_info"), choices.METADATA_RESPONSE_GROUPS
    )
    if isinstance(groups, web.Response):
        return groups
    drm_type = request.query.get("drm_type", "Adrm")
    if drm_type not in choices.DRM_TYPES:
        return validation_error(
            f"Value '{drm_type}' at 'drmType' failed to satisfy "
            "constraint: Member must satisfy enum value set"
        )
    if drm_type in ("PlayReady", "Mpeg") or not title.playable:
        return message(404, f"No content metadata for {title.asin} with {drm_type}")
    meta: dict[str, Any] = {}
    if "chapter_info" in groups:
        meta["chapter_info"] = chapter_info(state, title)
    if "content_reference" in groups:
        meta["content_reference"] = content_reference(state, title, drm_type, None)
    return web.json_response(
        {"content_metadata": meta, "response_groups": sorted(groups | {"always-returned"})}
    )


# --- positions (AU-C17) ----------------------------------------------------------------------


def position_json(state: AudibleState, asin: str) -> dict[str, Any]:
    found = state.positions.get(asin)
    if found is None:
        return {"status": "DoesNotExist"}
    ms, _acr, when = found
    stamp = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return {"position_ms": ms, "status": "Exists", "last_updated": stamp}


async def last_positions(request: web.Request) -> web.Response:
    state = state_of(request)
    reg = await auth_api(request)
    if isinstance(reg, web.Response):
        return reg
    raw = request.query.get("asins")
    if raw is None:
        return validation_error(choices.null_violation("asins"))
    asins = [a.strip() for a in raw.split(",") if a.strip()]
    bad = [a for a in asins if not _ASIN.match(a)]
    if bad or not asins:
        return validation_error(
            choices.pattern_violation(bad[0] if bad else raw, "asins", "^[A-Z0-9]{10}$")
        )
    if len(asins) > c.LASTPOSITIONS_MAX_ASINS:
        return validation_error(
            f"Value '{len(asins)}' at 'asins' failed to satisfy "
            f"constraint: Member must have length less than or equal to "
            f"{c.LASTPOSITIONS_MAX_ASINS}"
        )
    annots = [{"asin": a, "last_position_heard": position_json(state, a)} for a in asins]
    return web.json_response({"asin_last_position_heard_annots": annots})


async def put_last_position(request: web.Request) -> web.Response:
    state = state_of(request)
    raw = await read_body(request)
    reg = await auth_api(request, raw)
    if isinstance(reg, web.Response):
        return reg
    title = title_or_404(state, request.match_info["asin"])
    if isinstance(title, web.Response):
        return title
    body = parse_json_object(raw)
    if body is None:
        return message(400, "Request body is not a JSON object")
    required = ("acr", "asin", "position_ms")
    errors = [choices.null_violation(k) for k in required if body.get(k) is None]
    if errors:
        return validation_error(*errors)
    acr, asin, pos = body["acr"], body["asin"], body["position_ms"]
    if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
        return validation_error(
            f"Value '{pos}' at 'positionMs' failed to satisfy constraint: "
            "Member must be a non-negative integer"
        )
    if asin != title.asin:
        return message(400, "asin in the body does not match the path")
    granted = {title.acr(d) for d in choices.SANDBOX_GRANTED_DRM_TYPES}
    if not isinstance(acr, str) or acr not in granted:
        return message(400, f"acr does not match a licensed file of {title.asin}")
    state.positions[title.asin] = (pos, acr, state.now())
    return web.Response(status=204)
