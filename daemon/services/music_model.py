"""The Amazon Music Device API's values: documents and their objects, error reports and
the errors they raise, the client's settings, header values and how an answer is read.

Pure: no I/O. `MusicClient` (`daemon.services.music`) fetches the documents; this module
says what is in them (spec/amazon-music.md §3-5, §9) and raises `ProtocolError` for
anything malformed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urldefrag, urljoin, urlsplit

from daemon.contracts import amazon_music as am
from daemon.core.errors import ConfigError, LicenseError, ProtocolError, ServiceError
from daemon.core.tiers import Capability
from daemon.services import amazon_policy
from daemon.services.http import HttpResponse, safe_url

DEFAULT_API_ROOT: Final = "https://music-api.amazon.com/"
#: DOCUMENTED (Web API header table, older revision) plus "*" for a size placeholder.
IMAGE_STYLES: Final = ("SL500", "SL160", "SL110", "SL75", "SL30", "*")

log = logging.getLogger("daemon.services.music")

_HEADER_VALUE_RE: Final = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
_IMAGE_PLACEHOLDER_RE: Final = re.compile(r"\*|%2[aA]")


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportOption:
    label: str
    resume: bool
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class GeneralErrorReport:
    """DOCUMENTED: what the user must see; `explanation` is sanitised to A[href] and BR."""

    terse: str
    brief: str
    explanation: str
    options: tuple[ReportOption, ...] = ()


class ServiceConflict(ServiceError):
    """HTTP 409 with a GeneralErrorReport (subscription, playing elsewhere, ...)."""

    code = "service_conflict"

    def __init__(self, message: str, report: GeneralErrorReport | None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.report = report


class EventRejected(ServiceError):
    """A playback event collector answered non-2xx: playback must stop (DOCUMENTED)."""

    code = "event_rejected"

    def __init__(self, message: str, report: GeneralErrorReport | None = None, **fields: Any):
        super().__init__(message, **fields)
        self.report = report


class LicenceDenied(LicenseError):
    """The licence server said no; `reason` is its denialReason, `action` what to do (AM-C26)."""

    def __init__(self, message: str, reason: str, **fields: Any) -> None:
        super().__init__(message, reason=reason, **fields)
        self.reason = reason
        self.action = amazon_policy.denial_action(reason)


class ManifestExpired(ServiceError):
    """The manifest URL answered 403/410: re-fetch the TrackDefinition (AM-C23)."""

    code = "manifest_expired"


# --- pure helpers -------------------------------------------------------------------------


def normalize_language(value: str) -> str:
    """AM-C33: one supported code, lower-case and hyphenated (`es_MX` -> `es-mx`)."""
    code = value.strip().lower().replace("_", "-")
    if code not in am.SUPPORTED_LANGUAGES:
        raise ConfigError(
            f"unsupported Amazon Music language {value!r}; use one of "
            + ", ".join(am.SUPPORTED_LANGUAGES),
            path="amazon.language",
        )
    return code


def capability_header(capabilities: Iterable[str | Capability]) -> str:
    """AM-C07: known tokens only, canonical order, comma-separated without spaces.

    Unknown tokens are dropped (never advertised); an empty set means STD_RES.
    """
    known = {c.value: c for c in Capability}
    chosen: set[Capability] = set()
    for token in capabilities:
        cap = known.get(str(token).strip().upper())
        if cap is None:
            log.warning("music.capability_ignored token=%s", str(token)[:32])
        else:
            chosen.add(cap)
    return am.capability_header(chosen or {Capability.STD_RES})


def fill_image_size(url: str, size: int) -> str:
    """Replace the `*` placeholder (raw or %2A) in an image URL's path with `size`."""
    if size <= 0:
        raise ValueError("image size must be positive")
    parts = urlsplit(url)
    path = _IMAGE_PLACEHOLDER_RE.sub(str(size), parts.path)
    return parts._replace(path=path).geturl()


def resolve(doc_url: str, ref: str) -> tuple[str, str | None]:
    """DOCUMENTED reference rule: (document URL without fragment, object name or None).

    `#name` names an object in the same document, bare `#` its result; anything else is
    a URI relative to `doc_url` whose fragment (if any) names the object.
    """
    if not isinstance(ref, str) or not ref:
        raise ProtocolError("empty or non-string reference", url=safe_url(doc_url))
    base, _ = urldefrag(doc_url)
    if ref.startswith("#"):
        return base, ref[1:] or None
    target, fragment = urldefrag(urljoin(base, ref))
    if urlsplit(target).scheme not in ("http", "https"):
        raise ProtocolError("reference is not an http(s) URI", url=safe_url(doc_url))
    return target, fragment or None


def header_value(value: str, what: str) -> str:
    if not _HEADER_VALUE_RE.match(value):
        raise ConfigError(f"{what} must be printable ASCII without surrounding spaces")
    return value


class _ExplanationCleaner(HTMLParser):
    """Keeps text, `<br>` and `<a href="http(s)…">`; drops every other tag (DOCUMENTED)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._open_a = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        import html

        if tag == "br":
            self.out.append("<br>")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            if urlsplit(href).scheme in ("http", "https"):
                self.out.append(f'<a href="{html.escape(href, quote=True)}">')
                self._open_a += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open_a:
            self._open_a -= 1
            self.out.append("</a>")

    def handle_data(self, data: str) -> None:
        import html

        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        return "".join(self.out) + "</a>" * self._open_a


def sanitize_explanation(fragment: str) -> str:
    cleaner = _ExplanationCleaner()
    cleaner.feed(fragment)
    cleaner.close()
    return cleaner.result()


# --- documents ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """A fetched Document<T>: its URL (no fragment) and JSON body."""

    url: str
    body: Mapping[str, Any] = field(repr=False)

    def get(self, name: str | None, dictionary: str) -> dict[str, Any]:
        """The object `name` (None = the result) from `dictionary`; ProtocolError if absent."""
        if name is None:
            result = self.body.get("result")
            if not isinstance(result, str) or not result.startswith("#") or len(result) < 2:
                raise ProtocolError("document has no usable result", url=safe_url(self.url))
            name = result[1:]
        table = self.body.get(dictionary) or {}  # absent or null counts as empty
        obj = table.get(name) if isinstance(table, dict) else None
        if not isinstance(obj, dict):
            raise ProtocolError(
                "document lacks a referenced object",
                url=safe_url(self.url),
                dictionary=dictionary,
                name=name[:64],
            )
        return obj

    def report(self, name: str | None = None) -> GeneralErrorReport | None:
        try:
            return parse_report(self.get(name, "generalErrorReports"))
        except ProtocolError:
            return None


def parse_report(obj: Mapping[str, Any]) -> GeneralErrorReport:
    options = []
    for opt in obj.get("options") or []:
        if isinstance(opt, dict) and isinstance(opt.get("label"), str):
            uri = opt.get("uri")
            options.append(
                ReportOption(
                    opt["label"], opt.get("resume") is True, uri if isinstance(uri, str) else None
                )
            )
    return GeneralErrorReport(
        terse=text_value(obj.get("terse")),
        brief=text_value(obj.get("brief")),
        explanation=sanitize_explanation(text_value(obj.get("explanation"))),
        options=tuple(options),
    )


def sub_object(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def text_value(value: Any) -> str:
    return value if isinstance(value, str) else ""


def field_value(
    obj: Mapping[str, Any], key: str, kind: type, url: str, optional: bool = False
) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"field {key!r} is missing or has the wrong type", url=safe_url(url), field=key
        )
    return value


@dataclass(frozen=True, slots=True)
class TrackPointer:
    """A position in a chunk chain: absolute chunk URL (with fragment) and index."""

    chunk: str
    index: int


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    #: absolute reference to a NavigationNodeDescription, for items leading to a node
    node: str | None
    #: where playback starts, for playable items
    pointer: TrackPointer | None
    image_uri: str | None


@dataclass(frozen=True, slots=True)
class NavigationNode:
    url: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class TrackInstance:
    """One playable instance: its TrackDefinition reference and its own event collector."""

    pointer: TrackPointer
    definition: str
    collector: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Chunk:
    url: str
    title: str
    instances: tuple[TrackInstance, ...]
    first: TrackPointer | None
    last: TrackPointer | None
    next: TrackPointer | None
    prev: TrackPointer | None


@dataclass(frozen=True, slots=True)
class TrackDefinition:
    """Where the audio is (manifest, licence) and what to show; URLs are signed: no repr."""

    source: str
    track_tag: str
    title: str
    artist: str
    album: str
    duration_s: int | None
    image_uri: str | None
    manifest_uri: str = field(repr=False)
    manifest_headers: Mapping[str, str] = field(repr=False)
    expires_at: float | None
    license_uri: str | None = field(repr=False)
    rating_uri: str | None = field(repr=False)
    thumb_rating: str | None
    error: GeneralErrorReport | None
    auto_skip_on_error: bool


def parse_track_definition(doc: Document, obj: Mapping[str, Any]) -> TrackDefinition:
    """A TrackDefinition object of `doc` (spec §5); malformed fields raise ProtocolError."""
    url = doc.url
    audio = field_value(obj, "audio", dict, url)
    manifest = urljoin(url, field_value(audio, "uri", str, url))
    extra = audio.get("headers") or {}
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _HEADER_VALUE_RE.match(f"{k}{v}")
        for k, v in extra.items()
    ):
        raise ProtocolError("audio.headers is not a map of header strings", url=safe_url(url))
    expires = audio.get("expires")
    expires_at = am.parse_timestamp(expires) if expires is not None else None
    if expires is not None and expires_at is None:
        raise ProtocolError("audio.expires is not a timestamp", url=safe_url(url))
    licence = audio.get(am.AUDIO_LICENSE_URI_FIELD)
    rating = sub_object(obj, "trackRating")
    error_ref = obj.get("error")
    report = None
    if isinstance(error_ref, str):
        _, name = resolve(url, error_ref)
        report = doc.report(name)
    duration = obj.get("duration")
    artist = sub_object(obj, "artist")
    album = sub_object(obj, "album")
    image = sub_object(obj, "image")
    return TrackDefinition(
        source=url,
        track_tag=field_value(obj, "trackTag", str, url),
        title=text_value(obj.get("title")),
        artist=text_value(artist.get("name")),
        album=text_value(album.get("name")),
        duration_s=duration if isinstance(duration, int) and duration >= 0 else None,
        image_uri=image.get("uri") if isinstance(image.get("uri"), str) else None,
        manifest_uri=manifest,
        manifest_headers=dict(extra),
        expires_at=expires_at,
        license_uri=urljoin(url, licence) if isinstance(licence, str) else None,
        rating_uri=urljoin(url, rating["ratingURI"])
        if isinstance(rating.get("ratingURI"), str)
        else None,
        thumb_rating=rating.get("thumbRating")
        if isinstance(rating.get("thumbRating"), str)
        else None,
        error=report,
        auto_skip_on_error=obj.get("autoSkipOnError") is True,
    )


@dataclass(frozen=True, slots=True)
class MusicSettings:
    """Music client configuration; `daemon/config.py` maps the YAML onto these fields."""

    api_root: str = DEFAULT_API_ROOT
    language: str = am.DEFAULT_LANGUAGE
    site: str = amazon_policy.DEFAULT_MUSIC_SITE
    #: `amzn-image-style` (SL500 … SL30, or "*" for URLs with a size placeholder); None: omit
    image_style: str | None = "SL500"
    #: `X-Amz-Music-Images-Shrink` (e.g. amazon_policy.DEFAULT_IMAGES_SHRINK); None: omit
    images_shrink: str | None = None
    #: `X-Amz-Music-Images-Accept` (`png` or `jpeg`); None: omit
    images_accept: str | None = None
    #: send `X-Amz-Workaround: redirect` (DOCUMENTED alternative redirect mechanism)
    redirect_workaround: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", normalize_language(self.language))
        if self.image_style is not None and self.image_style not in IMAGE_STYLES:
            raise ConfigError(
                f"image style must be one of {', '.join(IMAGE_STYLES)}", path="amazon.image_style"
            )
        if urlsplit(self.api_root).scheme not in ("http", "https"):
            raise ConfigError("Amazon Music API root must be an http(s) URL", path="amazon.api")
        header_value(self.site, "X-Amz-Music-Site")


Capabilities = Iterable[str | Capability] | Callable[[], Iterable[str | Capability]]


# --- answers ------------------------------------------------------------------------------


def raise_for_status(resp: HttpResponse) -> None:
    """Nothing for a 2xx; a 409 is a `ServiceConflict` with its report, others `ProtocolError`."""
    if resp.ok:
        return
    where = safe_url(resp.url)
    if resp.status == am.GENERAL_ERROR_STATUS:
        report = None
        try:
            report = Document(resp.url, resp.json_object()).report()
        except ProtocolError:
            report = None
        message = (report.brief or report.terse) if report else "Amazon Music refused"
        raise ServiceConflict(message or "Amazon Music refused", report, url=where, status=409)
    if resp.status == 404:
        raise ProtocolError("Amazon Music has no such resource", url=where, status=404)
    raise ProtocolError("unexpected answer from Amazon Music", url=where, status=resp.status)


def redirect_of(resp: HttpResponse) -> tuple[int | None, str | None]:
    """(status, location) of a real or X-Amz-Workaround redirect, else (None, None)."""
    if resp.status in am.REDIRECT_STATUSES:
        return resp.status, resp.headers.get("Location")
    alt = resp.headers.get(am.H_REDIRECT_STATUS)
    if resp.status in (200, 204) and alt is not None and alt.strip().isdigit():
        status = int(alt.strip())
        if status in am.REDIRECT_STATUSES:
            return status, resp.headers.get(am.H_REDIRECT_LOCATION)
    return None, None
