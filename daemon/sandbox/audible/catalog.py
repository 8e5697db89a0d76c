"""The sandbox's fixture titles (AU-C01 multi-marketplace, AU-C14 library shapes).

Three single-part audiobooks, one MultiPartBook with two AudioPart children, one title
only in the `uk` store and one returned (`status=Revoked`) title. Pure data + builders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Chapter:
    title: str
    frequency: float  # tone used to generate this chapter's audio


@dataclass(frozen=True, slots=True)
class Title:
    asin: str
    title: str
    author: str
    narrator: str
    marketplace: str
    purchase_date: str
    chapters: tuple[Chapter, ...] = ()
    delivery_type: str = "SinglePartBook"
    parent_asin: str | None = None
    children: tuple[str, ...] = ()
    status: str = "Active"
    sequence: int = 0

    @property
    def playable(self) -> bool:
        return bool(self.chapters)

    def acr(self, drm_type: str) -> str:
        """A stable `CR!` + 28-char reference per file (one file per drm type)."""
        body = f"{self.asin}{drm_type.upper()}".ljust(28, "X")[:28]
        return "CR!" + body


def _ch(*pairs: tuple[str, float]) -> tuple[Chapter, ...]:
    return tuple(Chapter(t, f) for t, f in pairs)


FIXTURE_TITLES: tuple[Title, ...] = (
    Title(
        "B0SPKRD001",
        "The Quiet Tone",
        "Ada Sine",
        "Nora Narrator",
        "us",
        "2026-01-05",
        _ch(("Opening Credits", 440.0), ("Chapter 1", 523.25), ("Chapter 2", 659.25)),
    ),
    Title(
        "B0SPKRD002",
        "Chords at Dawn",
        "Ben Chord",
        "Otto Voice",
        "us",
        "2026-02-10",
        _ch(("Chapter 1", 392.0), ("Chapter 2", 493.88)),
    ),
    Title(
        "B0SPKRD003",
        "A Multipart Journey",
        "Cy Parts",
        "Nora Narrator",
        "us",
        "2026-03-15",
        delivery_type="MultiPartBook",
        children=("B0SPKRD03A", "B0SPKRD03B"),
    ),
    Title(
        "B0SPKRD03A",
        "A Multipart Journey, Part 1",
        "Cy Parts",
        "Nora Narrator",
        "us",
        "2026-03-15",
        _ch(("Part 1, Chapter 1", 330.0), ("Part 1, Chapter 2", 349.23)),
        delivery_type="AudioPart",
        parent_asin="B0SPKRD003",
        sequence=1,
    ),
    Title(
        "B0SPKRD03B",
        "A Multipart Journey, Part 2",
        "Cy Parts",
        "Nora Narrator",
        "us",
        "2026-03-15",
        _ch(
            ("Part 2, Chapter 1", 293.66),
        ),
        delivery_type="AudioPart",
        parent_asin="B0SPKRD003",
        sequence=2,
    ),
    Title(
        "B0SPKRD004",
        "Teatime in London",
        "Dee Brew",
        "Ed Kettle",
        "uk",
        "2026-04-20",
        _ch(("Chapter 1", 587.33), ("Chapter 2", 698.46)),
    ),
    Title(
        "B0SPKRD005",
        "A Returned Book",
        "Eve Gone",
        "Fay Away",
        "us",
        "2025-12-01",
        _ch(
            ("Chapter 1", 261.63),
        ),
        status="Revoked",
    ),
)

# Keys each response group adds; keys of groups not requested are present with null.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "product_attrs": (
        "content_delivery_type",
        "content_type",
        "format_type",
        "has_children",
        "runtime_length_min",
        "sku",
        "sku_lite",
    ),
    "product_desc": ("publisher_summary", "merchandising_summary"),
    "product_details": ("release_date", "language", "publisher_name"),
    "contributors": ("authors", "narrators"),
    "media": ("product_images", "available_codecs", "sample_url"),
    "relationships": ("relationships",),
    "series": ("series",),
    "listening_status": ("listening_status",),
    "customer_rights": ("customer_rights",),
    "percent_complete": ("percent_complete",),
    "is_finished": ("is_finished",),
}
ALWAYS_KEYS = ("asin", "title", "subtitle", "status", "purchase_date", "parent_asin")


def item_json(
    title: Title,
    groups: frozenset[str],
    runtime_s: float,
    *,
    in_library: bool,
    position_ms: int | None,
) -> dict[str, Any]:
    """A library item (or catalog product when `in_library` is False) for `groups`."""
    item: dict[str, Any] = {
        "asin": title.asin,
        "title": title.title,
        "subtitle": None,
        "status": title.status,
        "purchase_date": f"{title.purchase_date}T12:00:00.000Z" if in_library else None,
        "parent_asin": title.parent_asin,
    }
    for keys in GROUP_KEYS.values():
        for key in keys:
            item[key] = None
    runtime_min = max(1, round(runtime_s / 60))
    if "product_attrs" in groups:
        item.update(
            content_delivery_type=title.delivery_type,
            content_type="Product",
            format_type="unabridged",
            has_children=bool(title.children),
            runtime_length_min=runtime_min,
            sku=f"BK_SPKR_{title.asin}",
            sku_lite=f"BK_SPKR_{title.asin}",
        )
    if "product_desc" in groups:
        item.update(
            publisher_summary=f"<p>{title.title}: a generated test title.</p>",
            merchandising_summary=f"<p>{title.title}</p>",
        )
    if "product_details" in groups:
        item.update(
            release_date=title.purchase_date, language="english", publisher_name="speakerd sandbox"
        )
    if "contributors" in groups:
        item.update(
            authors=[{"asin": None, "name": title.author}],
            narrators=[{"asin": None, "name": title.narrator}],
        )
    if "media" in groups:
        codecs = (
            [
                {
                    "enhanced_codec": "LC_128_44100_stereo",
                    "format": "Enhanced",
                    "is_kindle_enhanced": True,
                    "name": "aax_44_128",
                }
            ]
            if title.playable
            else []
        )
        item.update(
            product_images={"500": f"https://m.media-amazon.com/images/{title.asin}.jpg"},
            available_codecs=codecs,
            sample_url=None,
        )
    if "relationships" in groups:
        rels: list[dict[str, Any]] = []
        if title.parent_asin:
            rels.append(
                {
                    "asin": title.parent_asin,
                    "relationship_to_product": "parent",
                    "relationship_type": "component",
                    "sequence": "",
                    "sort": "",
                    "content_delivery_type": "MultiPartBook",
                }
            )
        for n, child in enumerate(title.children, 1):
            rels.append(
                {
                    "asin": child,
                    "relationship_to_product": "child",
                    "relationship_type": "component",
                    "sequence": str(n),
                    "sort": str(n),
                    "content_delivery_type": "AudioPart",
                }
            )
        item["relationships"] = rels
    if "series" in groups:
        item["series"] = []
    if "listening_status" in groups and in_library:
        done = 0 if position_ms is None else min(100.0, position_ms / 10 / max(runtime_s, 1))
        item["listening_status"] = {
            "is_finished": False,
            "percent_complete": done,
            "time_remaining_seconds": int(runtime_s),
            "finished_at_timestamp": None,
        }
    if "customer_rights" in groups and in_library:
        item["customer_rights"] = {
            "is_consumable": True,
            "is_consumable_offline": True,
            "is_consumable_indefinitely": True,
            "is_consumable_until": None,
            "is_book_qa_eligible": False,
        }
    return item
