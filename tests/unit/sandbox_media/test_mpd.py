"""MPDs: exactly the requested Representations, AM-C23 signalling, addressing modes."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree

from daemon.mp4.pssh import WIDEVINE, parse_pssh
from daemon.mp4.sidx import parse_sidx
from daemon.sandbox.media import ContentStore, NoRepresentationsError
from daemon.sandbox.media.errors import ContentNotFoundError

NS = {
    "d": "urn:mpeg:dash:schema:mpd:2011",
    "cenc": "urn:mpeg:cenc:2013",
    "dashif": "https://dashif.org/CPS",
}
MP4PROTECTION = "urn:mpeg:dash:mp4protection:2011"
LICENCE = "http://127.0.0.1:1/drm/widevine/x?a=1&b=2"


def _mpd(store: ContentStore, track_id: str, formats: list[str]) -> Element:
    text = store.mpd(track_id, formats, f"http://127.0.0.1:1/dash/{track_id}/", LICENCE)
    root: Element = ElementTree.fromstring(text)
    return root


def _reps(root: Element) -> Iterator[Element]:
    yield from root.iterfind(".//d:Representation", NS)


def test_subset_has_exactly_those_representations(small_store: ContentStore) -> None:
    track = small_store.catalog.tracks[0]
    wanted = ["OPUS_192", "FLAC_16_44", "FLAC_24_192"]
    root = _mpd(small_store, track.id, wanted)
    assert sorted(r.get("id", "") for r in _reps(root)) == sorted(wanted)
    families = [a.get("codecs") for a in root.iterfind(".//d:AdaptationSet", NS)]
    assert families == ["opus", "flac"]  # one AdaptationSet per codec family


def test_formats_the_track_lacks_are_left_out(small_store: ContentStore) -> None:
    track = small_store.catalog.tracks[1]  # no hi-res
    root = _mpd(small_store, track.id, ["FLAC_24_192", "OPUS_48"])
    assert [r.get("id") for r in _reps(root)] == ["OPUS_48"]
    with pytest.raises(NoRepresentationsError):
        small_store.mpd(track.id, ["FLAC_24_192"], "http://x/", LICENCE)
    with pytest.raises(NoRepresentationsError):
        small_store.mpd(track.id, [], "http://x/", LICENCE)
    with pytest.raises(ContentNotFoundError):
        small_store.mpd("B0NOSUCHONE", ["OPUS_48"], "http://x/", LICENCE)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_signalling(small_store: ContentStore, index: int) -> None:
    content = small_store.tracks[small_store.catalog.tracks[index].id]
    root = _mpd(small_store, content.id, list(content.formats))
    assert root.get("type") == "static"
    assert root.get("profiles") == "urn:mpeg:dash:profile:isoff-on-demand:2011"
    assert root.get("minBufferTime") == "PT2S"
    for aset in root.iterfind(".//d:AdaptationSet", NS):
        protections = aset.findall("d:ContentProtection", NS)
        mp4 = next(p for p in protections if p.get("schemeIdUri") == MP4PROTECTION)
        assert mp4.get("value") == content.scheme
        assert mp4.get(f"{{{NS['cenc']}}}default_KID") == str(uuid.UUID(bytes=content.kid))
        wv = next(p for p in protections if p.get("schemeIdUri") == f"urn:uuid:{WIDEVINE}")
        pssh = parse_pssh(base64.b64decode(wv.findtext("cenc:pssh", namespaces=NS) or ""))
        assert pssh.system_id == WIDEVINE
        assert content.kid in pssh.data  # WidevinePsshData.key_id
        assert wv.findtext("dashif:Laurl", namespaces=NS) == LICENCE
    for rep in _reps(root):
        fmt_id = rep.get("id", "")
        bit_depth = [
            p.get("value")
            for p in rep.findall("d:SupplementalProperty", NS)
            if p.get("schemeIdUri") == "amz-music:bitDepth"
        ]
        expected = {"FLAC_16_44": ["16"], "FLAC_24_96": ["24"], "FLAC_24_192": ["24"]}
        assert bit_depth == expected.get(fmt_id, [])
        assert int(rep.get("bandwidth", "0")) > 0


def test_pssh_parses_with_pywidevine(small_store: ContentStore) -> None:
    pywidevine = pytest.importorskip("pywidevine")
    content = small_store.tracks[small_store.catalog.tracks[2].id]
    root = _mpd(small_store, content.id, ["OPUS_48"])
    b64 = root.findtext(".//cenc:pssh", namespaces=NS) or ""
    pssh = pywidevine.PSSH(b64)
    assert pssh.key_ids == [uuid.UUID(bytes=content.kid)]


def _expand(store: ContentStore, track_id: str, rep: Element) -> tuple[bytes, list[bytes]]:
    """(init, media segments) fetched the way the MPD's addressing says."""
    fmt_id = rep.get("id", "")
    template = rep.find("d:SegmentTemplate", NS)
    if template is not None:
        init_name = (template.get("initialization") or "").replace("$RepresentationID$", fmt_id)
        count = 0
        for s in template.iterfind("d:SegmentTimeline/d:S", NS):
            count += 1 + int(s.get("r", "0"))
        media = template.get("media") or ""
        names = [
            media.replace("$RepresentationID$", fmt_id).replace("$Number$", str(n))
            for n in range(int(template.get("startNumber", "1")), count + 1)
        ]
        return store.resource(track_id, init_name), [store.resource(track_id, n) for n in names]
    whole = store.resource(track_id, rep.findtext("d:BaseURL", namespaces=NS) or "")

    def span(value: str) -> bytes:
        first, last = (int(x) for x in value.split("-"))
        return whole[first : last + 1]

    seg_list = rep.find("d:SegmentList", NS)
    if seg_list is not None:
        init_el = seg_list.find("d:Initialization", NS)
        assert init_el is not None
        urls = seg_list.findall("d:SegmentURL", NS)
        return span(init_el.get("range", "")), [span(u.get("mediaRange", "")) for u in urls]
    base = rep.find("d:SegmentBase", NS)
    assert base is not None
    init_el = base.find("d:Initialization", NS)
    assert init_el is not None
    first, last = (int(x) for x in base.get("indexRange", "").split("-"))
    _, subs = parse_sidx(whole[first : last + 1], first)
    return span(init_el.get("range", "")), [whole[s.first_byte : s.last_byte + 1] for s in subs]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_addressing_modes_cover_the_whole_file(small_store: ContentStore, index: int) -> None:
    content = small_store.tracks[small_store.catalog.tracks[index].id]
    root = _mpd(small_store, content.id, list(content.formats))
    kinds = {
        "list": "d:SegmentList",
        "base": "d:SegmentBase",
        "template": "d:SegmentTemplate",
    }
    for rep in _reps(root):
        assert rep.find(kinds[content.addressing], NS) is not None
        init, segments = _expand(small_store, content.id, rep)
        whole = small_store.resource(content.id, f"{rep.get('id')}.mp4")
        assert init == whole[: len(init)]
        assert whole.endswith(b"".join(segments))
        assert all(s[4:8] == b"moof" for s in segments)
        assert len(segments) == len(content.layouts[rep.get("id", "")].segments)


def test_unknown_resources_are_not_found(small_store: ContentStore) -> None:
    tid = small_store.catalog.tracks[1].id
    count = len(small_store.tracks[tid].layouts["OPUS_48"].segments)
    for name in (
        "OPUS_48/0.m4s",
        f"OPUS_48/{count + 1}.m4s",
        "FLAC_24_192.mp4",
        "x",
        "OPUS_48.mpd",
        "../OPUS_48.mp4",
        "OPUS_48/init.mp4/x",
    ):
        with pytest.raises(ContentNotFoundError):
            small_store.resource(tid, name)


def test_bandwidths_follow_the_formats(small_store: ContentStore) -> None:
    content = small_store.tracks[small_store.catalog.tracks[0].id]
    bw = {k: v.bandwidth for k, v in content.layouts.items()}
    assert bw["OPUS_48"] < bw["OPUS_192"] < bw["OPUS_320"] < bw["FLAC_16_44"]
    assert bw["FLAC_16_44"] < bw["FLAC_24_96"] < bw["FLAC_24_192"]
    # Constrained VBR: peak segment bitrate near the nominal one (container overhead aside).
    for fmt_id, nominal in (("OPUS_48", 48_000), ("OPUS_192", 192_000), ("OPUS_320", 320_000)):
        assert nominal * 0.8 < bw[fmt_id] < nominal * 1.3
