"""Manifest cases checked against what other DASH players' parsers and unit tests expect.

Each case names its source: the behaviour of shaka-player's `lib/dash/dash_parser.js`
(exercised by `test/dash/dash_parser_manifest_unit.js`), ExoPlayer's
`DashManifestParser` (exercised by `DashManifestParserTest`) or dash.js's
`DashAdapter`/`DashManifestModel` (exercised by `test/unit/dash.models.DashManifestModel.js`),
as recalled from those projects; where they differ, the test says which one we follow.
"""

from __future__ import annotations

import pytest

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
