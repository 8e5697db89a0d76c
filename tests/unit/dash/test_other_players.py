"""Manifest cases checked against what other DASH players' parsers and unit tests expect.

Each case names its source: the behaviour of shaka-player's `lib/dash/dash_parser.js`
(exercised by `test/dash/dash_parser_manifest_unit.js`), ExoPlayer's
`DashManifestParser` (exercised by `DashManifestParserTest`) or dash.js's
`DashAdapter`/`DashManifestModel` (exercised by `test/unit/dash.models.DashManifestModel.js`),
as recalled from those projects; where they differ, the test says which one we follow.
"""

from __future__ import annotations

import pytest

from daemon.core.errors import ManifestError
from daemon.dash import parse_mpd

URL = "https://cdn.example/m/manifest.mpd"


def mpd(sets: str) -> str:
    return ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            f'mediaPresentationDuration="PT10S"><Period>{sets}</Period></MPD>')


AUDIO_SEG = '<SegmentTemplate media="$Number$.m4s" initialization="i.mp4" duration="5"/>'


# --- 19: @bandwidth ------------------------------------------------------------------


def test_representation_without_bandwidth_does_not_refuse_the_manifest() -> None:
    # ExoPlayer DashManifestParser: bandwidth = parseInt(xpp, "bandwidth", Format.NO_VALUE),
    # i.e. optional; shaka-player keeps such streams (bandwidth undefined) for text.
    text = mpd('<AdaptationSet contentType="text" mimeType="text/vtt" lang="de">'
               '<Representation id="t1"><BaseURL>sub.vtt</BaseURL></Representation>'
               "</AdaptationSet>"
               f'<AdaptationSet mimeType="audio/mp4" codecs="opus" lang="fr">{AUDIO_SEG}'
               '<Representation id="fr"/></AdaptationSet>'
               f'<AdaptationSet mimeType="audio/mp4" codecs="opus" lang="en">{AUDIO_SEG}'
               '<Representation id="en" bandwidth="128000"/>'
               '<Representation id="en0" bandwidth="0"/></AdaptationSet>')
    m = parse_mpd(text, URL)
    by_id = {r.id: r for a in m.periods[0].adaptation_sets for r in a.representations}
    assert by_id["en"].bandwidth == 128000
    assert by_id["t1"].bandwidth == 0  # 0 = unknown
    assert by_id["fr"].bandwidth == 0
    assert by_id["en0"].bandwidth == 0


# --- 20: AudioChannelConfiguration ---------------------------------------------------

_2011 = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
_DOLBY_2011 = "tag:dolby.com,2014:dash:audio_channel_configuration:2011"
_DOLBY_URN = "urn:dolby:dash:audio_channel_configuration:2011"
_DOLBY_2015 = "tag:dolby.com,2015:dash:audio_channel_configuration:2015"
_CICP = "urn:mpeg:mpegB:cicp:ChannelConfiguration"


def channels(*configs: tuple[str, str]) -> int | None:
    acc = "".join(f'<AudioChannelConfiguration schemeIdUri="{s}" value="{v}"/>'
                  for s, v in configs)
    text = mpd(f'<AdaptationSet mimeType="audio/mp4" codecs="ec-3">{AUDIO_SEG}'
               f'<Representation id="a" bandwidth="1">{acc}</Representation>'
               "</AdaptationSet>")
    return parse_mpd(text, URL).periods[0].adaptation_sets[0].representations[0].channels


@pytest.mark.parametrize(("scheme", "value", "count"), [
    # shaka dash_parser parseAudioChannels_ and its "parses channel counts" cases
    (_2011, "2", 2),
    (_2011, "6", 6),
    # Dolby 2011 (both spellings): a 16-bit hex mask. ExoPlayer's
    # parseDolbyChannelConfiguration: 4000->1, A000->2, F801->6, FA01->8. Shaka counts set
    # bits (FA01->7); we follow Dolby's definition, where the Lrs/Rrs bit is a pair (8)
    (_DOLBY_2011, "4000", 1),
    (_DOLBY_2011, "A000", 2),
    (_DOLBY_2011, "F801", 6),
    (_DOLBY_URN, "FA01", 8),
    (_DOLBY_URN, "8000", 1),  # all digits, still hex: one bit, not "8000 channels"
    # Dolby 2015 (AC-4, ETSI TS 103 190-2 Annex G.3): bits are speaker groups, some pairs
    # (shaka's mapping [2,1,2,2,2,2,1,2,2,1,1,1,1,2,1,1,2,2], LSB first)
    (_DOLBY_2015, "000047", 6),
    (_DOLBY_2015, "000001", 2),
    (_DOLBY_2015, "000002", 1),
    # MPEG CICP ChannelConfiguration index (ISO/IEC 23091-3), the mapping shaka and
    # ExoPlayer share: 1-6 -> 1-6, 7 -> 8, 12 -> 8, 13 -> 24, 19 -> 12
    (_CICP, "2", 2),
    (_CICP, "6", 6),
    (_CICP, "7", 8),
    (_CICP, "12", 8),
    (_CICP, "13", 24),
    (_CICP, "19", 12),
])
def test_channel_configuration_schemes(scheme: str, value: str, count: int) -> None:
    assert channels((scheme, value)) == count


def test_unknown_values_are_skipped_and_every_element_is_read() -> None:
    # shaka parseAudioChannels_ loops over every element and `continue`s past values it
    # cannot read; none of them refuses the manifest
    assert channels((_2011, "stereo"), (_CICP, "6")) == 6
    assert channels(("urn:example:unknown", "x"), (_DOLBY_2011, "F801")) == 6
    assert channels((_CICP, "99")) is None
    assert channels((_DOLBY_2011, "zz"), (_2011, "0")) is None


# --- 18: ContentProtection -----------------------------------------------------------

_MP4P = "urn:mpeg:dash:mp4protection:2011"
_WV = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
_PR = "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"
_KID = "0123456789abcdef0123456789abcdef"
_KID_UUID = "01234567-89ab-cdef-0123-456789abcdef"


def _pssh_box(system: str, data: bytes = b"\x08\x01") -> bytes:
    import struct
    import uuid as uuidlib

    body = b"\0\0\0\0" + uuidlib.UUID(system).bytes + struct.pack(">I", len(data)) + data
    return struct.pack(">I4s", 8 + len(body), b"pssh") + body


def protected(set_cp: str, rep_cp: str) -> str:
    return ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
            'type="static" mediaPresentationDuration="PT10S"><Period>'
            f'<AdaptationSet mimeType="audio/mp4" codecs="opus">{AUDIO_SEG}{set_cp}'
            f'<Representation id="a" bandwidth="1">{rep_cp}</Representation>'
            "</AdaptationSet></Period></MPD>")


def test_representation_protection_merges_with_the_adaptation_sets() -> None:
    # ExoPlayer DashManifestParser.buildRepresentation adds the AdaptationSet's scheme
    # datas to the Representation's; shaka keeps the AdaptationSet's key id when the
    # Representation names none
    import base64
    import uuid as uuidlib

    wv = base64.b64encode(_pssh_box(_WV[9:])).decode()
    set_cp = (f'<ContentProtection schemeIdUri="{_MP4P}" value="cenc" '
              f'cenc:default_KID="{_KID_UUID}"/>'
              f'<ContentProtection schemeIdUri="{_WV}"><cenc:pssh>{wv}</cenc:pssh>'
              "</ContentProtection>")
    rep_cp = f'<ContentProtection schemeIdUri="{_PR}"/>'
    rep = parse_mpd(protected(set_cp, rep_cp), URL).periods[0].adaptation_sets[0] \
        .representations[0]
    kinds = [c.kind for c in rep.content_protection]
    assert kinds[0] == "playready"  # the Representation's own first
    assert set(kinds) == {"playready", "mp4protection", "widevine"}
    assert rep.default_kid == bytes.fromhex(_KID)
    assert rep.protection_scheme == "cenc"
    assert rep.pssh_for(uuidlib.UUID(_WV[9:])) == _pssh_box(_WV[9:])


def test_a_pssh_on_the_generic_element_is_offered_to_its_key_system() -> None:
    # ExoPlayer parseContentProtection reads the system id of a cenc:pssh from the box
    # itself (PsshAtomUtil.parseUuid), whatever element carries it
    import base64
    import uuid as uuidlib

    box = _pssh_box(_WV[9:])
    cp = (f'<ContentProtection schemeIdUri="{_MP4P}" value="cenc" '
          f'cenc:default_KID="{_KID_UUID}"><cenc:pssh>{base64.b64encode(box).decode()}'
          "</cenc:pssh></ContentProtection>")
    rep = parse_mpd(protected(cp, ""), URL).periods[0].adaptation_sets[0].representations[0]
    assert rep.pssh_for(uuidlib.UUID(_WV[9:])) == box
    assert rep.pssh_for(uuidlib.UUID(_PR[9:])) is None


def test_conflicting_default_kids_are_refused() -> None:
    # shaka-player: Error DASH_CONFLICTING_KEY_IDS (4010) when ContentProtection elements
    # of one Representation name different default_KIDs
    set_cp = (f'<ContentProtection schemeIdUri="{_MP4P}" value="cenc" '
              f'cenc:default_KID="{_KID_UUID}"/>')
    rep_cp = (f'<ContentProtection schemeIdUri="{_WV}" '
              'cenc:default_KID="11111111-2222-3333-4444-555555555555"/>')
    with pytest.raises(ManifestError, match="conflicting default_KID"):
        parse_mpd(protected(set_cp, rep_cp), URL)
    # the same KID written twice is no conflict
    same = f'<ContentProtection schemeIdUri="{_WV}" cenc:default_KID="{_KID_UUID.upper()}"/>'
    rep = parse_mpd(protected(set_cp, same), URL).periods[0].adaptation_sets[0] \
        .representations[0]
    assert rep.default_kid == bytes.fromhex(_KID)


# --- 21: several BaseURLs ------------------------------------------------------------


def test_base_url_failover_order_and_absolute_children() -> None:
    # ExoPlayer DashManifestParser.parseBaseUrl: for each child BaseURL in document order,
    # an absolute one is taken once (its parents ignored), a relative one is resolved
    # against every parent in turn
    text = ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            'mediaPresentationDuration="PT10S">'
            "<BaseURL>https://a.example/</BaseURL><BaseURL>https://b.example/</BaseURL>"
            '<Period><AdaptationSet mimeType="audio/mp4" codecs="opus">'
            "<BaseURL>c1/</BaseURL><BaseURL>https://abs.example/x/</BaseURL>"
            f"<BaseURL>c2/</BaseURL>{AUDIO_SEG}"
            '<Representation id="a" bandwidth="1"/></AdaptationSet></Period></MPD>')
    rep = parse_mpd(text, URL).periods[0].adaptation_sets[0].representations[0]
    assert [b.url for b in rep.base_urls] == [
        "https://a.example/c1/", "https://b.example/c1/", "https://abs.example/x/",
        "https://a.example/c2/", "https://b.example/c2/"]


# --- 22: index addressing and SegmentList edge cases ---------------------------------


def _sidx(sizes: list[int], timescale: int = 1000, duration: int = 2000,
          first_offset: int = 0) -> bytes:
    import struct

    body = struct.pack(">IIIIHH", 1, timescale, 0, first_offset, 0, len(sizes))
    for size in sizes:
        body += struct.pack(">III", size, duration, 0x90000000)
    body = b"\0\0\0\0" + body  # version 0, flags
    return struct.pack(">I4s", 8 + len(body), b"sidx") + body


def _plan(seg: str, period: str = ' duration="PT10S"') -> object:
    from daemon.dash import plan_segments

    text = ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
            f'<Period{period}><AdaptationSet mimeType="audio/mp4" codecs="opus">'
            f'<Representation id="a" bandwidth="1"><BaseURL>media.mp4</BaseURL>{seg}'
            "</Representation></AdaptationSet></Period></MPD>")
    m = parse_mpd(text, URL)
    return plan_segments(m, m.periods[0], m.periods[0].representations[0])


def test_segment_template_index_addresses_a_separate_sidx() -> None:
    # shaka-player SegmentTemplate with @index and no timing: the segment index comes
    # from the sidx at the expanded index URL, the media from the Representation's URL,
    # with offsets as if the sidx started the file (shaka passes sidx offset 0)
    from daemon.dash import resolve_index

    plan = _plan('<SegmentTemplate index="$RepresentationID$.sidx" '
                 'initialization="$RepresentationID$-init.mp4"/>')
    assert plan.needs_index  # type: ignore[attr-defined]
    assert plan.index.url == "https://cdn.example/m/a.sidx"  # type: ignore[attr-defined]
    assert plan.index.byte_range is None  # type: ignore[attr-defined]
    sidx = _sidx([100, 200])
    done = resolve_index(plan, sidx)  # type: ignore[arg-type]
    assert [s.url for s in done.segments] == ["https://cdn.example/m/media.mp4"] * 2
    assert [s.byte_range for s in done.segments] == [
        (len(sidx), len(sidx) + 99), (len(sidx) + 100, len(sidx) + 299)]


def test_representation_index_names_where_the_sidx_is() -> None:
    # shaka-player SegmentBase: RepresentationIndex@sourceURL/@range take the place of
    # @indexRange
    plan = _plan('<SegmentBase><Initialization range="0-99"/>'
                 '<RepresentationIndex sourceURL="media.sidx" range="10-109"/></SegmentBase>')
    assert plan.index.url == "https://cdn.example/m/media.sidx"  # type: ignore[attr-defined]
    assert plan.index.byte_range == (10, 109)  # type: ignore[attr-defined]


def test_segment_list_longer_than_its_timeline_keeps_the_timed_segments() -> None:
    # shaka-player SegmentList: more SegmentURLs than timeline entries is a warning and
    # the extra SegmentURLs are dropped (the timeline decides how many segments exist)
    plan = _plan('<SegmentList timescale="1"><SegmentTimeline><S t="0" d="5" r="1"/>'
                 '</SegmentTimeline><SegmentURL media="1.m4s"/><SegmentURL media="2.m4s"/>'
                 '<SegmentURL media="3.m4s"/></SegmentList>')
    segments = plan.segments  # type: ignore[attr-defined]
    assert [s.url.rsplit("/", 1)[1] for s in segments] == ["1.m4s", "2.m4s"]


def test_segment_list_without_any_duration_is_an_error() -> None:
    # shaka-player: a SegmentList with neither @duration nor a SegmentTimeline has no
    # segment timing (DASH_NO_SEGMENT_INFO); no zero-length segment is made up
    with pytest.raises(ManifestError, match="no segment duration"):
        _plan('<SegmentList><SegmentURL media="1.m4s"/></SegmentList>', period="")
