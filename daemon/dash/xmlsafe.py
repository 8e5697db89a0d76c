"""Hostile-input-safe XML loading for MPDs, and ISO-8601 durations.

`load_xml` caps the size before parsing, forbids DTDs (so no entity expansion and no external
references), declares prefixes a manifest uses without declaring (real manifests do this
with `mspr:`; a handful at most, so their number is capped), and turns every parser failure
into ManifestError. The element count and nesting depth are checked while the document is
fed to the parser in chunks, so a hostile document is refused before its tree is built.
Elements are later matched by local name, so an upper-case DASH namespace parses the same
as the standard one.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from daemon.core.errors import ManifestError

DEFAULT_MAX_BYTES = 1024 * 1024  # spec drm-and-media.md §9.2
#: a 1 MiB manifest of real elements (SegmentURLs with byte ranges, ~45 bytes each) holds
#: about 25 000 of them
MAX_ELEMENTS = 50_000
MAX_XML_DEPTH = 24  # MPD/Period/AdaptationSet/Representation/... is 6 deep
MAX_UNDECLARED_PREFIXES = 32
MAX_DECLARED_PREFIXES = 256
_FEED_CHUNK = 64 * 1024
#: Longest duration accepted anywhere in a manifest (audiobooks run to days, not years).
MAX_DURATION_SECONDS = 60 * 24 * 3600

_ENCODING = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']")
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_PREFIX_USE = re.compile(
    r"</?([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*\s*="
)
_PREFIX_DECL = re.compile(r"xmlns:([A-Za-z_][\w.-]*)\s*=")
_ROOT = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?MPD)\b")
_DURATION = re.compile(
    r"^P(?:(\d{1,12})Y)?(?:(\d{1,12})M)?(?:(\d{1,12})W)?(?:(\d{1,12})D)?"
    r"(?:T(?:(\d{1,12})H)?(?:(\d{1,12})M)?(?:(\d{1,15}(?:\.\d{1,12})?)S)?)?$"
)


def local(tag: str) -> str:
    """Local name of an ElementTree tag or attribute name ('{ns}name' -> 'name')."""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag.rsplit(":", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _decode(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            data = data[len(bom) :]
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise ManifestError(f"manifest is not valid {codec}", element="MPD") from exc
    declared = _ENCODING.match(data[:200])
    codec = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        "".encode(codec)  # LookupError for unknown and for bytes codecs ("zlib", "base64")
        return data.decode(codec)
    except LookupError:
        raise ManifestError(f"unknown XML encoding {codec[:30]!r}", element="MPD") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest is not valid {codec}", element="MPD",
                            offset=exc.start) from exc


def declare_missing_prefixes(text: str) -> str:
    """Add xmlns declarations on <MPD> for prefixes used but never declared."""
    declared = {"xml", "xmlns"}
    for m in _PREFIX_DECL.finditer(text):
        declared.add(m.group(1))
        if len(declared) > MAX_DECLARED_PREFIXES:
            raise ManifestError(f"more than {MAX_DECLARED_PREFIXES} namespace prefixes"
                                " declared", element="MPD")
    found: set[str] = set()
    for m in _PREFIX_USE.finditer(text):  # stops at the cap: no set of every prefix
        prefix = m.group(1) or m.group(2)
        if prefix not in declared:
            found.add(prefix)
            if len(found) > MAX_UNDECLARED_PREFIXES:
                raise ManifestError(f"more than {MAX_UNDECLARED_PREFIXES} undeclared"
                                    " namespace prefixes", element="MPD")
    missing = sorted(found)
    if not missing:
        return text
    root = _ROOT.search(text)
    if root is None:
        return text
    decls = "".join(f' xmlns:{p}="urn:undeclared:{p}"' for p in missing)
    return text[: root.end()] + decls + text[root.end() :]


class _BoundedBuilder(TreeBuilder):
    """A TreeBuilder that refuses a document past the element count or nesting depth."""

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._depth = 0

    def start(self, tag: Any, attrs: Any) -> Element:
        self._count += 1
        self._depth += 1
        if self._count > MAX_ELEMENTS:
            raise ManifestError(f"manifest has more than {MAX_ELEMENTS} elements",
                                element="MPD")
        if self._depth > MAX_XML_DEPTH:
            raise ManifestError(f"manifest elements nested deeper than {MAX_XML_DEPTH}",
                                element=str(tag)[-40:])
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Element:
        self._depth -= 1
        return super().end(tag)


def load_xml(data: str | bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Element:
    """Parse an MPD document into an Element tree, refusing anything unsafe or malformed."""
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if isinstance(data, str) and len(data) > max_bytes:
        size = len(data)  # already too large; avoid encoding a huge string
    if size > max_bytes:
        raise ManifestError(f"manifest of {size} bytes exceeds the {max_bytes}-byte limit",
                            element="MPD")
    text = _DECL.sub("", _decode(data), count=1)
    text = declare_missing_prefixes(text)
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    try:
        parser = DefusedXMLParser(target=_BoundedBuilder(), forbid_dtd=True,
                                  forbid_entities=True, forbid_external=True)
        for at in range(0, len(text), _FEED_CHUNK):
            parser.feed(text[at : at + _FEED_CHUNK])
        root = parser.close()
    except DefusedXmlException as exc:
        raise ManifestError(f"unsafe XML refused: {type(exc).__name__}", element="MPD") from exc
    except ParseError as exc:
        line, col = getattr(exc, "position", (None, None))
        raise ManifestError(f"malformed XML: {exc}", element="MPD", line=line,
                            column=col) from exc
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"malformed XML: {exc}", element="MPD") from exc
    if not isinstance(root, Element) or local(root.tag) != "MPD":
        raise ManifestError("document root is not an MPD element", element=str(local(root.tag)))
    return root


def parse_duration(value: str, where: str, attribute: str) -> Fraction:
    """xs:duration (as DASH uses it) -> exact seconds; refuses negative or absurd values."""
    v = value.strip()
    m = _DURATION.match(v)
    if m is None or v in ("P", "PT") or v.endswith("T"):
        raise ManifestError(f"bad ISO-8601 duration {value[:40]!r}", element=where,
                            attribute=attribute)
    y, mo, w, d, h, mi, s = m.groups()
    days = int(y or 0) * 365 + int(mo or 0) * 30 + int(w or 0) * 7 + int(d or 0)
    total = Fraction(days * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60)
    if s:
        total += Fraction(s)
    if total > MAX_DURATION_SECONDS:
        raise ManifestError(f"duration {value[:40]!r} exceeds {MAX_DURATION_SECONDS} s",
                            element=where, attribute=attribute)
    return total
