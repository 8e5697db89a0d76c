"""Typed views of Audible answers (§7), checked as they are built.

Every parser raises ProtocolError naming the field when the service's answer does not
have the shape the contract documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from daemon.core.errors import ProtocolError
from daemon.core.redact import MASK, Secret


def _bad(what: str) -> ProtocolError:
    return ProtocolError(f"Audible answer is unusable: {what}")


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} is not an object")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(f"{what} is missing or not a string")
    return value


@dataclass(frozen=True, slots=True)
class LibraryPage:
    items: list[dict[str, Any]]
    total_count: int
    state_token: str | None

    @classmethod
    def parse(cls, body: dict[str, Any], headers: Any) -> LibraryPage:
        items = body.get("items")
        if items is None:
            items = []  # lists may go null deep into paging (AudibleApi, §7.1)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _bad("library items is not a list of objects")
        for i, item in enumerate(items):
            _str(item.get("asin"), f"items[{i}].asin")
        raw_total = headers.get("Total-Count")
        try:
            total = int(raw_total) if raw_total is not None else len(items)
        except ValueError:
            raise _bad("Total-Count header is not a number") from None
        return cls(items, max(total, 0), headers.get("State-Token"))


@dataclass(frozen=True, slots=True)
class LastPosition:
    asin: str
    position_ms: int | None
    last_updated: datetime | None

    @classmethod
    def parse(cls, asin: str, annot: Any) -> LastPosition:
        annot = _dict(annot, f"last_position_heard of {asin}")
        status = annot.get("status")
        if status == "DoesNotExist":
            return cls(asin, None, None)
        if status != "Exists":
            raise _bad(f"position status of {asin} is {status!r}")
        pos = annot.get("position_ms")
        if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
            raise _bad(f"position_ms of {asin} is not a non-negative integer")
        return cls(asin, pos, parse_updated(annot.get("last_updated")))


def parse_updated(value: Any) -> datetime | None:
    """`YYYY-MM-DD HH:MM:SS.fff` (UTC, no zone) or ISO with `T`/`Z`; None if unreadable."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T", 1).replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Licence:
    """A granted licence; `license_response` (voucher or stream URL) stays masked."""

    asin: str
    acr: str
    drm_type: str
    offline_url: str | None
    license_response: Secret | None = field(repr=False)
    content_reference: dict[str, Any]
    chapter_info: dict[str, Any] | None
    last_position: LastPosition | None
    allowed_users: tuple[str, ...]
    refresh_date: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def valid_until(self) -> float | None:
        """Unix time after which the licence must not be reused: the earlier of
        `refresh_date` and the file URL's `Expires` (audible-cli's reuse rule, §7.5)."""
        limits: list[float] = []
        refresh = parse_updated(self.refresh_date)
        if refresh is not None:
            limits.append(refresh.timestamp())
        if self.offline_url:
            expires = parse_qs(urlsplit(self.offline_url).query).get("Expires")
            if expires and expires[0].isdigit():
                limits.append(float(expires[0]))
        return min(limits) if limits else None

    def __repr__(self) -> str:
        return (
            f"Licence(asin={self.asin!r}, drm_type={self.drm_type!r}, acr={self.acr!r},"
            f" license_response={MASK})"
        )

    @classmethod
    def parse(cls, lic: dict[str, Any]) -> Licence:
        asin = _str(lic.get("asin"), "content_license.asin")
        drm = _str(lic.get("drm_type"), "content_license.drm_type")
        meta = _dict(lic.get("content_metadata", {}), "content_metadata")
        ref = _dict(meta.get("content_reference", {}), "content_reference")
        acr = lic.get("acr") or ref.get("acr")
        url_obj = meta.get("content_url")
        offline = _dict(url_obj, "content_url").get("offline_url") if url_obj else None
        if offline is not None and not isinstance(offline, str):
            raise _bad("offline_url is not a string")
        response = lic.get("license_response")
        if response is not None and not isinstance(response, str):
            raise _bad("license_response is not a string")
        if drm == "Adrm" and (not response or not offline):
            raise _bad("an Adrm licence lacks its voucher or its file URL")
        if drm == "Hls" and not response:
            raise _bad("an Hls licence lacks its stream URL")
        chapters = meta.get("chapter_info")
        position = meta.get("last_position_heard")
        users = lic.get("allowed_users") or []
        if not isinstance(users, list):
            raise _bad("allowed_users is not a list")
        return cls(
            asin=asin,
            acr=_str(acr, "acr"),
            drm_type=drm,
            offline_url=offline,
            license_response=Secret(response) if response else None,
            content_reference=ref,
            chapter_info=_dict(chapters, "chapter_info") if chapters else None,
            last_position=LastPosition.parse(asin, position) if position else None,
            allowed_users=tuple(str(u) for u in users),
            raw=lic,
            refresh_date=lic.get("refresh_date")
            if isinstance(lic.get("refresh_date"), str)
            else None,
        )
