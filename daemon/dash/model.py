"""The MPD model: immutable values produced by `parse_mpd` and consumed by selection/addressing.

Times are exact `Fraction` seconds where they come from the manifest; media times stay in
their timescale as ints. Segment addressing information is already merged down the
MPD -> Period -> AdaptationSet -> Representation inheritance chain.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from urllib.parse import urljoin

from daemon.core.errors import ManifestError

MP4PROTECTION = "urn:mpeg:dash:mp4protection:2011"
WIDEVINE_SYSTEM_ID = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
PLAYREADY_SYSTEM_ID = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
CLEARKEY_SYSTEM_ID = uuid.UUID("e2719d58-a985-b3c9-781a-b030af78d30e")
COMMON_SYSTEM_ID = uuid.UUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b")


_SIMPLE_REF = re.compile(r"[\w~%$!&'()*+,=@-][\w.~%$!&'()*+,=@/-]*", re.ASCII)


def join_url(base: str, ref: str, where: str) -> str:
    """RFC 3986 resolution; a reference urllib cannot parse becomes a ManifestError.

    A plain relative path against a base without query or fragment is joined directly
    (the same result as urljoin, without its cost per segment)."""
    if _SIMPLE_REF.fullmatch(ref) and "/." not in ref and "//" not in ref:
        authority = base.find("://")
        path_at = base.find("/", authority + 3) if authority > 0 else -1
        path = base[path_at:] if path_at > 0 else ""
        # urljoin also normalises the base path: only take bases it would leave alone
        if path and not any(c in path for c in "?#;") and "//" not in path and "/." not in path:
            return base[: base.rfind("/") + 1] + ref
    try:
        return urljoin(base, ref)
    except ValueError as exc:
        raise ManifestError(f"bad URL {ref[:60]!r}: {exc}", element=where) from None


@dataclass(frozen=True)
class ContentProtection:
    scheme_id_uri: str  # lower-cased
    value: str | None = None
    default_kid: bytes | None = None  # 16 bytes
    system_id: uuid.UUID | None = None  # from a urn:uuid: scheme
    pssh: bytes | None = None  # a whole pssh box (cenc:pssh, base64-decoded)
    license_url: str | None = None

    @property
    def kind(self) -> str:
        if self.scheme_id_uri == MP4PROTECTION:
            return "mp4protection"
        return {
            WIDEVINE_SYSTEM_ID: "widevine",
            PLAYREADY_SYSTEM_ID: "playready",
            CLEARKEY_SYSTEM_ID: "clearkey",
            COMMON_SYSTEM_ID: "clearkey",
        }.get(self.system_id, "other") if self.system_id else "other"


@dataclass(frozen=True)
class BaseUrl:
    url: str  # absolute, resolved against every level above
    service_location: str | None = None


@dataclass(frozen=True)
class UrlRange:
    """A URL (None = the BaseURL itself) with an optional inclusive byte range."""

    url: str | None = None
    byte_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class TimelineEntry:
    t: int | None
    d: int
    r: int = 0


@dataclass(frozen=True)
class SegmentInfo:
    """Merged SegmentTemplate / SegmentList / SegmentBase for one Representation."""

    kind: str  # "template", "list", "base" or "single" (the BaseURL is the whole media)
    timescale: int = 1
    presentation_time_offset: int = 0
    duration: int | None = None
    start_number: int = 1
    media: str | None = None  # template
    initialization_template: str | None = None
    initialization: UrlRange | None = None  # Initialization element
    index_range: tuple[int, int] | None = None  # SegmentBase@indexRange
    timeline: tuple[TimelineEntry, ...] | None = None
    segment_urls: tuple[UrlRange, ...] = ()  # SegmentList
    #: where the sidx is when not in the media at @indexRange: SegmentTemplate@index (a
    #: template) or RepresentationIndex (@sourceURL, @range)
    index_template: str | None = None
    representation_index: UrlRange | None = None


@dataclass(frozen=True)
class Representation:
    id: str
    bandwidth: int
    codecs: str
    mime_type: str
    audio_sampling_rate: int | None
    bit_depth: int | None
    channels: int | None
    content_protection: tuple[ContentProtection, ...]
    base_urls: tuple[BaseUrl, ...]
    segment_info: SegmentInfo
    path: str  # element path for messages
    lang: str | None = None

    @property
    def protected(self) -> bool:
        return bool(self.content_protection)

    @property
    def default_kid(self) -> bytes | None:
        return next((c.default_kid for c in self.content_protection if c.default_kid), None)

    @property
    def protection_scheme(self) -> str | None:
        return next((c.value for c in self.content_protection
                     if c.kind == "mp4protection" and c.value), None)

    def pssh_for(self, system_id: uuid.UUID) -> bytes | None:
        return next((c.pssh for c in self.content_protection
                     if c.system_id == system_id and c.pssh), None)

    def license_url(self, kind: str | None = None) -> str | None:
        return next((c.license_url for c in self.content_protection
                     if c.license_url and (kind is None or c.kind == kind)), None)


@dataclass(frozen=True)
class AdaptationSet:
    id: str | None
    content_type: str | None
    mime_type: str | None
    lang: str | None
    representations: tuple[Representation, ...]
    path: str


@dataclass(frozen=True)
class Period:
    id: str | None
    start: Fraction
    duration: Fraction | None
    adaptation_sets: tuple[AdaptationSet, ...]
    path: str

    @property
    def representations(self) -> list[Representation]:
        return [r for a in self.adaptation_sets for r in a.representations]


@dataclass(frozen=True)
class Manifest:
    url: str
    type: str  # "static" or "dynamic"
    profiles: str
    media_presentation_duration: Fraction | None
    min_buffer_time: Fraction | None
    periods: tuple[Period, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def dynamic(self) -> bool:
        return self.type == "dynamic"

    @property
    def duration(self) -> Fraction | None:
        if self.media_presentation_duration is not None:
            return self.media_presentation_duration
        last = self.periods[-1] if self.periods else None
        if last is not None and last.duration is not None:
            return last.start + last.duration
        return None
