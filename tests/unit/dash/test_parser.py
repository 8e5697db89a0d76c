"""MPD parsing: namespaces, attributes, protection, and refusal of hostile documents."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.core.errors import ManifestError
from daemon.dash import parse_mpd, plan_segments
from daemon.dash.model import CLEARKEY_SYSTEM_ID, WIDEVINE_SYSTEM_ID
from daemon.mp4.pssh import WIDEVINE, build_pssh

URL = "https://api.example/v1/manifest.mpd"
KID = uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100")
PSSH = build_pssh(WIDEVINE, [KID.bytes], b"\x12\x10" + KID.bytes)

FULL = f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013"
     xmlns:dashif="https://dashif.org/CPS" type="static"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"
     mediaPresentationDuration="PT1M2.5S" minBufferTime="PT2S">
  <Period id="p0">
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="en">
      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"
                         cenc:default_KID="{KID}"/>
      <ContentProtection schemeIdUri="urn:uuid:EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED">
        <cenc:pssh>{base64.b64encode(PSSH).decode()}</cenc:pssh>
        <dashif:Laurl>https://licence.example/wv</dashif:Laurl>
      </ContentProtection>
      <SegmentTemplate timescale="44100" media="$RepresentationID$/$Number$.m4s"
                       initialization="$RepresentationID$/init.mp4" duration="88200"/>
      <Representation id="flac16" bandwidth="900000" codecs="fLaC" audioSamplingRate="44100">
        <SupplementalProperty schemeIdUri="amz-music:bitDepth" value="16"/>
        <AudioChannelConfiguration
            schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
      </Representation>
      <Representation id="flac24" bandwidth="4800000" codecs="fLaC" audioSamplingRate="192000">
        <SupplementalProperty schemeIdUri="amz-music:bitDepth" value="24"/>
        <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs"
                           cenc:default_KID="{uuid.UUID(int=1)}"/>
      </Representation>
    </AdaptationSet>
    <AdaptationSet mimeType="audio/mp4" codecs="ec-3">
      <AudioChannelConfiguration
          schemeIdUri="tag:dolby.com,2014:dash:audio_channel_configuration:2011" value="F801"/>
      <Representation id="atmos" bandwidth="768000" audioSamplingRate="48000">
        <SegmentBase indexRange="800-899"><Initialization range="0-799"/></SegmentBase>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_full_manifest_fields() -> None:
    m = parse_mpd(FULL, URL)
    assert (m.type, m.dynamic, float(m.media_presentation_duration or 0)) == ("static", False,
                                                                              62.5)
    assert m.min_buffer_time == 2
    flac16, flac24, atmos = m.periods[0].representations
    assert (flac16.codecs, flac16.mime_type, flac16.audio_sampling_rate, flac16.bit_depth,
            flac16.channels, flac16.bandwidth) == ("fLaC", "audio/mp4", 44100, 16, 2, 900000)
    assert flac16.default_kid == KID.bytes
    assert flac16.protection_scheme == "cenc"
    assert flac16.pssh_for(WIDEVINE_SYSTEM_ID) == PSSH
    assert flac16.license_url("widevine") == "https://licence.example/wv"
    # a Representation-level element overrides the AdaptationSet's of the same scheme and
    # merges with the others (the Widevine pssh is still offered)
    assert (flac24.protection_scheme, flac24.default_kid) == ("cbcs", uuid.UUID(int=1).bytes)
    assert flac24.pssh_for(WIDEVINE_SYSTEM_ID) == PSSH
    assert (atmos.codecs, atmos.channels, atmos.protected) == ("ec-3", 6, False)
    assert atmos.segment_info.kind == "base"
    assert atmos.segment_info.index_range == (800, 899)
    plan = plan_segments(m, m.periods[0], flac16)
    assert len(plan.segments) == 32  # ceil(62.5 / 2)
    assert plan.segments[-1].duration == pytest.approx(0.5)


@pytest.mark.parametrize(
    "root",
    [
        '<MPD xmlns="urn:mpeg:DASH:schema:MPD:2011" xmlns:c="urn:mpeg:cenc:2013" ',
        '<MPD xmlns:c="urn:mpeg:cenc:2013" ',
        '<m:MPD xmlns:m="urn:mpeg:dash:schema:mpd:2011" xmlns:c="urn:mpeg:cenc:2013" ',
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" ',  # c: never declared
    ],
)
def test_namespace_variants_parse_the_same(root: str) -> None:
    m_prefix = "m:" if root.startswith("<m:") else ""
    doc = (f'{root}type="static" mediaPresentationDuration="PT4S">'
           f"<{m_prefix}Period><{m_prefix}AdaptationSet>"
           f'<{m_prefix}ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" '
           f'value="cenc" c:default_KID="{KID}"/>'
           f'<{m_prefix}ContentProtection schemeIdUri="urn:uuid:{WIDEVINE_SYSTEM_ID}">'
           f"<c:pssh>{base64.b64encode(PSSH).decode()}</c:pssh><mspr:pro>AAA=</mspr:pro>"
           f"</{m_prefix}ContentProtection>"
           f'<{m_prefix}Representation id="r" bandwidth="1" codecs="opus">'
           f'<{m_prefix}SegmentTemplate media="$Number$" duration="2"/>'
           f"</{m_prefix}Representation></{m_prefix}AdaptationSet></{m_prefix}Period>"
           f"</{m_prefix}MPD>")
    m = parse_mpd(doc.encode(), URL)
    r = m.periods[0].representations[0]
    assert r.default_kid == KID.bytes
    assert r.pssh_for(WIDEVINE_SYSTEM_ID) == PSSH
    assert len(plan_segments(m, m.periods[0], r).segments) == 2


def test_clearkey_and_ms_laurl() -> None:
    doc = f"""<MPD xmlns:dashif="https://dashif.org/CPS" xmlns:ms="urn:microsoft"
      mediaPresentationDuration="PT2S"><Period><AdaptationSet>
      <ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_SYSTEM_ID}" value="ClearKey1.0">
        <dashif:Laurl>../ck/licence</dashif:Laurl></ContentProtection>
      <ContentProtection schemeIdUri="urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95">
        <ms:laurl licenseUrl="https://pr.example/rightsmanager.asmx"/></ContentProtection>
      <Representation id="r" bandwidth="1"/></AdaptationSet></Period></MPD>"""
    r = parse_mpd(doc, URL).periods[0].representations[0]
    assert r.license_url("clearkey") == "https://api.example/ck/licence"
    assert r.license_url("playready") == "https://pr.example/rightsmanager.asmx"
    assert [c.kind for c in r.content_protection] == ["clearkey", "playready"]


def test_dynamic_manifest_is_flagged() -> None:
    doc = ('<MPD type="dynamic"><Period><AdaptationSet><Representation id="r" bandwidth="1">'
           '<SegmentTemplate media="$Time$"><SegmentTimeline><S t="0" d="2" r="3"/>'
           "</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet></Period></MPD>")
    m = parse_mpd(doc, URL)
    assert m.dynamic
    assert len(plan_segments(m, m.periods[0], m.periods[0].representations[0]).segments) == 4


def test_declared_encoding_is_honoured() -> None:
    doc = ('<?xml version="1.0" encoding="ISO-8859-1"?><MPD mediaPresentationDuration="PT1S">'
           '<Period><AdaptationSet lang="fr"><Representation id="caf\xe9" bandwidth="1"/>'
           "</AdaptationSet></Period></MPD>").encode("latin-1")
    assert parse_mpd(doc, URL).periods[0].representations[0].id == "caf\xe9"
    with pytest.raises(ManifestError, match="unknown XML encoding"):
        parse_mpd(b'<?xml version="1.0" encoding="x-nope"?><MPD/>', URL)


def test_packager_rate_zero_is_unknown() -> None:
    doc = ('<MPD mediaPresentationDuration="PT1S"><Period><AdaptationSet>'
           '<Representation id="r" bandwidth="1" codecs="flac" audioSamplingRate="0"/>'
           "</AdaptationSet></Period></MPD>")
    assert parse_mpd(doc, URL).periods[0].representations[0].audio_sampling_rate is None


# --- hostile documents ----------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<MPD>&lol3;</MPD>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><MPD><BaseURL>&xxe;</BaseURL></MPD>"""


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (BILLION_LAUGHS, "unsafe XML"),
        (EXTERNAL, "unsafe XML"),
        ('<!DOCTYPE MPD SYSTEM "http://evil/x.dtd"><MPD/>', "unsafe XML"),
        ("<MPD><Period></MPD>", "malformed XML"),
        ("", "malformed XML"),
        ("<NotMPD/>", "root is not an MPD"),
        (b"\xff\xfe\x00\xd8<\x00", "not valid utf-16"),
        (b"<MPD>\xc3\x28</MPD>", "not valid utf-8"),
        (b'<?xml version="1.0" encoding="zlib"?><MPD/>', "unknown XML encoding"),
        (b'<?xml version="1.0" encoding="rot13"?><MPD/>', "unknown XML encoding"),
        ("<MPD/>", "no Period"),
        ('<MPD type="live"><Period/></MPD>', "unknown MPD type"),
        ('<MPD mediaPresentationDuration="P99999Y"><Period/></MPD>', "exceeds"),
        ('<MPD mediaPresentationDuration="-PT5S"><Period/></MPD>', "bad ISO-8601"),
        ('<MPD mediaPresentationDuration="PT"><Period/></MPD>', "bad ISO-8601"),
        ('<MPD><Period start="PT9999999999999999999S"/></MPD>', "bad ISO-8601"),
        ("<MPD>" + "<Period/>" * 65 + "</MPD>", "Periods exceed"),
        ('<MPD><Period><AdaptationSet><ContentProtection cenc:default_KID="nope"/>'
         "</AdaptationSet></Period></MPD>", "not a UUID"),
        ('<MPD><Period><AdaptationSet><ContentProtection><cenc:pssh>!!</cenc:pssh>'
         "</ContentProtection></AdaptationSet></Period></MPD>", "not base64"),
        # found by the fuzzer: urllib raises ValueError on an unterminated IPv6 host
        ("<MPD><BaseURL>http://[::1/x</BaseURL><Period/></MPD>", "bad URL"),
    ],
)
def test_hostile_documents_raise_manifest_error(doc: str | bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as info:
        parse_mpd(doc, URL)
    assert "element" in info.value.fields


def test_size_cap_is_checked_before_parsing() -> None:
    huge = b"<MPD>" + b" " * (100 * 1024 * 1024) + b"</MPD>"
    with pytest.raises(ManifestError, match="exceeds"):
        parse_mpd(huge, URL)
    with pytest.raises(ManifestError, match="exceeds"):
        parse_mpd("<MPD>" + " " * 3_000_000 + "</MPD>", URL)
    with pytest.raises(ManifestError, match="exceeds"):
        parse_mpd(FULL, URL, max_bytes=100)


def test_representation_count_is_capped() -> None:
    reps = '<Representation id="r" bandwidth="1"/>' * 129
    with pytest.raises(ManifestError, match="Representations exceed"):
        parse_mpd(f"<MPD><Period><AdaptationSet>{reps}</AdaptationSet></Period></MPD>", URL)


def test_error_names_the_element_path() -> None:
    doc = FULL.replace('bandwidth="4800000"', 'bandwidth="lots"')
    with pytest.raises(ManifestError) as info:
        parse_mpd(doc, URL)
    assert info.value.fields["element"] == (
        "MPD/Period[0]/AdaptationSet[0]/Representation[id=flac24]")
    assert info.value.fields["attribute"] == "bandwidth"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_manifests_raise_only_manifest_errors(data: st.DataObject) -> None:
    text = FULL
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        ch = data.draw(st.sampled_from(list("<>/=\"'&;:-$%0123456789 aZ\x00é")))
        n = data.draw(st.integers(1, 20))
        if op == "delete":
            text = text[:pos] + text[pos + n :]
        elif op == "insert":
            text = text[:pos] + ch * n + text[pos:]
        else:
            text = text[:pos] + ch + text[pos + 1 :]
    try:
        m = parse_mpd(text, URL)
        for p in m.periods:
            for r in p.representations:
                plan_segments(m, p, r)
    except ManifestError:
        pass
