"""The shared contract module's pure rules (AM-C02, C07, C10, C13, C16, C29, C33)."""

from __future__ import annotations

import hashlib

import pytest

from daemon.contracts import amazon_music as am
from daemon.core.retry import jittered
from daemon.core.tiers import Capability
from daemon.sandbox import choices
from daemon.services import amazon_policy


def test_poll_interval_doubles_on_slow_down_within_bounds() -> None:
    assert amazon_policy.next_poll_interval(5, "slow_down") == 10
    assert amazon_policy.next_poll_interval(40, "slow_down") == 60
    assert amazon_policy.next_poll_interval(1, "authorization_pending") == 5
    assert amazon_policy.lwa_action("invalid_code_pair") is amazon_policy.LwaAction.NEW_CODE_PAIR
    assert amazon_policy.lwa_action("something_new") is amazon_policy.LwaAction.FATAL
    lwa = amazon_policy.LWA_RETRY
    assert [lwa.nominal(i) for i in range(9)] == [0, 1, 2, 4, 10, 30, 60, 60, 60]
    assert jittered(10, 0.0, 0.5) == 5
    assert jittered(10, 0.999999, 0.5) == pytest.approx(15, abs=1e-4)
    assert lwa.backoff(4, 0.0) == 5
    assert lwa.backoff(4, 0.999999) == pytest.approx(15, abs=1e-4)


def test_token_response_acceptance() -> None:
    good = {"access_token": "Atza|x", "refresh_token": "Atzr|y", "token_type": "Bearer",
            "expires_in": 3600}
    assert amazon_policy.parse_token_response(good) is not None
    for broken in ({**good, "token_type": "mac"}, {**good, "expires_in": 0},
                   {**good, "expires_in": True}, {**good, "refresh_token": ""},
                   {**good, "access_token": "A" * 3000}, ["not a dict"]):
        assert amazon_policy.parse_token_response(broken) is None


def test_device_id_is_sha256_of_canonical_mac() -> None:
    expected = hashlib.sha256(b"aa:bb:cc:dd:ee:0f").hexdigest()[:32]
    assert amazon_policy.device_id_from_mac("AA-BB-CC-DD-EE-0F") == expected
    assert amazon_policy.device_id_from_mac("aabbccddee0f") == expected
    with pytest.raises(ValueError):
        amazon_policy.device_id_from_mac("aa:bb")


def test_capabilities_and_intersection() -> None:
    assert am.parse_capabilities(None) == {Capability.STD_RES}
    assert am.parse_capabilities("hi_fi, ,UNKNOWN") == {Capability.HI_FI}
    assert am.parse_capabilities("BOGUS") == {Capability.STD_RES}
    caps = [Capability.HI_RES, Capability.STD_RES, Capability.HI_FI]
    assert am.capability_header(caps) == "STD_RES,HI_FI,HI_RES"
    track = ["OPUS_48", "FLAC_16_44", "FLAC_24_96", "EC3"]
    assert choices.offered_formats(caps, choices.Tier.UNLIMITED, track) == track[:3]
    assert choices.offered_formats(caps, choices.Tier.PRIME, track) == ["OPUS_48"]
    assert choices.offered_formats([Capability.REAL_AUDIO_360], choices.Tier.UNLIMITED, track) == []


def test_image_rules() -> None:
    spec = choices.parse_shrink_spec("navigation-node=800x800, track=1200x1200, *=400x400, x=1x1")
    assert spec == {"navigation-node": (800, 800), "track": (1200, 1200), "*": (400, 400)}
    assert choices.image_bound("item", spec, None) == (400, 400)
    assert choices.image_bound("item", {}, choices.parse_image_style("SL160")) == (160, 160)
    assert choices.parse_image_style("SL161") is None
    assert choices.fit_within((1000, 500), (400, 400)) == (400, 200)
    assert choices.fit_within((100, 100), (400, 400)) == (100, 100)  # never enlarged
    assert choices.image_extension("image/png") == "png"
    assert choices.image_extension("jpeg") == "jpg"


def test_timestamps_and_languages() -> None:
    assert am.format_timestamp(1714565700.25) == "2024-05-01T12:15:00.250Z"
    assert am.parse_timestamp("2024-05-01T12:15:00.250Z") == pytest.approx(1714565700.25)
    assert am.parse_timestamp(1714565700250) == pytest.approx(1714565700.25)
    assert am.parse_timestamp("2024-05-01") is None
    assert choices.negotiate_language("fr-FR;q=0.4, es_MX;q=0.9") == "es-mx"
    assert choices.negotiate_language("xx-yy") == "en-us"
    assert choices.negotiate_language(None) == "en-us"


def test_retry_policy() -> None:
    api, media = amazon_policy.API_RETRY, amazon_policy.MEDIA_RETRY
    assert api.should_retry(None)
    assert api.should_retry(503)
    assert not api.should_retry(404)
    # retry indexes are 0-based: the first retry waits the base delay
    assert api.backoff(0, 0.5) == 1.0
    assert api.backoff(2, 0.5) == 4.0
    assert api.backoff(9, 0.999) == 60.0
    assert media.backoff(9, 0.5) == 8.0
