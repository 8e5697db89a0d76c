"""Representation selection against capabilities, decoders, output formats and bandwidth."""

from __future__ import annotations

import json

import pytest

from daemon.core.tiers import Capability
from daemon.dash import parse_mpd
from daemon.dash.model import Period
from daemon.dash.select import OutputFormats, codec_family, select

ALL_CAPS = [c.value for c in Capability]
ALL_DECODERS = ["opus", "flac", "eac3", "aac"]
HIFI_DAC = OutputFormats(max_sample_rate=192000, max_bit_depth=24, max_channels=2)
CD_DAC = OutputFormats(max_sample_rate=48000, max_bit_depth=16, max_channels=2)


def _rep(rid: str, bw: int, codecs: str, rate: int | None = None, bits: int | None = None,
         ch: int | None = None) -> str:
    attrs = f'id="{rid}" bandwidth="{bw}" codecs="{codecs}"'
    if rate:
        attrs += f' audioSamplingRate="{rate}"'
    inner = ""
    if bits:
        inner += f'<SupplementalProperty schemeIdUri="amz-music:bitDepth" value="{bits}"/>'
    if ch:
        inner += ('<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:'
                  f'audio_channel_configuration:2011" value="{ch}"/>')
    return f"<Representation {attrs}>{inner}</Representation>"


def period() -> Period:
    sets = [
        [_rep("opus48", 48000, "opus", 48000), _rep("opus192", 192000, "opus", 48000),
         _rep("opus320", 320000, "opus", 48000)],
        [_rep("flac16", 900000, "fLaC", 44100, 16, 2),
         _rep("flac96", 2600000, "fLaC", 96000, 24, 2),
         _rep("flac192", 4900000, "fLaC", 192000, 24, 2)],
        [_rep("ec3", 768000, "ec-3", 48000, None, 6)],
        [_rep("mha", 512000, "mhm1.0x0D", 48000, None, 2)],
    ]
    body = "".join(f'<AdaptationSet mimeType="audio/mp4">{"".join(s)}</AdaptationSet>'
                   for s in sets)
    doc = f'<MPD mediaPresentationDuration="PT10S"><Period>{body}</Period></MPD>'
    return parse_mpd(doc, "https://x.example/m.mpd").periods[0]


def test_codec_families() -> None:
    assert [codec_family(c) for c in ("opus", "fLaC", "ec-3", "mp4a.40.2", "mhm1.0x0D",
                                      "vp9")] == ["opus", "flac", "eac3", "aac", "mpegh", None]


def test_best_quality_without_estimate_on_a_hires_stereo_dac() -> None:
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=HIFI_DAC)
    assert s.chosen is not None
    assert s.chosen.id == "flac192"
    assert s.reason == "best_without_estimate"
    assert [r.id for r in s.ladder] == ["flac16", "flac96", "flac192"]
    why = {v.representation_id: v.code for v in s.verdicts}
    assert why["ec3"] == "channels"  # 6 channels into a stereo output
    assert why["mha"] == "no_decoder"  # FFmpeg has no MPEG-H decoder here


def test_bandwidth_estimate_picks_within_budget() -> None:
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=HIFI_DAC,
               bandwidth_bps=4_000_000)
    assert s.chosen is not None
    assert s.chosen.id == "flac96"  # 4.9 Mb/s does not fit 80 % of 4 Mb/s
    assert s.reason == "best_within_bandwidth"


def test_fallback_to_lowest_bandwidth_when_nothing_fits() -> None:
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=HIFI_DAC,
               bandwidth_bps=10_000)
    assert s.chosen is not None
    assert s.chosen.id == "opus48"
    assert s.reason == "lowest_bandwidth_fallback"
    assert [r.id for r in s.ladder] == ["opus48", "opus192", "opus320"]


def test_output_limits_exclude_formats() -> None:
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=CD_DAC)
    assert s.chosen is not None
    assert s.chosen.id == "flac16"
    why = {v.representation_id: (v.code, v.tier) for v in s.verdicts}
    assert why["flac96"] == ("sample_rate", "HI_RES")
    assert why["flac16"] == ("ok", "HI_FI")
    listed = OutputFormats(max_sample_rate=192000, max_bit_depth=24, max_channels=2,
                           sample_rates=frozenset({44100, 48000, 192000}))
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=listed)
    assert {v.representation_id: v.code for v in s.verdicts}["flac96"] == "sample_rate"
    assert s.chosen is not None
    assert s.chosen.id == "flac192"


def test_capabilities_and_decoders_gate_tiers() -> None:
    s = select(period(), capabilities=["STD_RES"], decoders=ALL_DECODERS, output=HIFI_DAC)
    assert s.chosen is not None
    assert s.chosen.id == "opus320"
    assert all(v.code == "capability" for v in s.verdicts if v.tier != "STD_RES")
    s = select(period(), capabilities=ALL_CAPS, decoders=["opus"], output=HIFI_DAC)
    assert s.chosen is not None
    assert s.chosen.id == "opus320"


def test_surround_output_takes_ec3_when_claimed() -> None:
    out = OutputFormats(max_sample_rate=48000, max_bit_depth=16, max_channels=8)
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=out)
    assert s.chosen is not None
    assert s.chosen.id == "ec3"


@pytest.mark.parametrize("decoders", [[], ["vorbis"]])
def test_nothing_playable_is_explained(decoders: list[str]) -> None:
    s = select(period(), capabilities=ALL_CAPS, decoders=decoders, output=HIFI_DAC)
    assert s.chosen is None
    assert s.reason == "nothing_playable"
    assert all(not v.playable for v in s.verdicts)
    assert len(s.verdicts) == 8


def test_explain_is_json_ready() -> None:
    s = select(period(), capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=HIFI_DAC)
    doc = json.loads(json.dumps(s.explain()))
    assert doc["chosen"] == "flac192"
    assert doc["tier"] == "HI_RES"
    assert len(doc["verdicts"]) == 8


def test_unsupported_protection_scheme_is_never_chosen() -> None:
    doc = ('<MPD mediaPresentationDuration="PT1S"><Period><AdaptationSet>'
           '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cens"/>'
           + _rep("flac", 900000, "fLaC", 44100, 16) + "</AdaptationSet></Period></MPD>")
    p = parse_mpd(doc, "https://x.example/m.mpd").periods[0]
    s = select(p, capabilities=ALL_CAPS, decoders=ALL_DECODERS, output=HIFI_DAC)
    assert s.chosen is None
    assert s.verdicts[0].code == "drm_scheme"
