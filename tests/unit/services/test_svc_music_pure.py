"""Music client pure parts: headers, capability header, images, references, documents."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.contracts import amazon_music as am
from daemon.core.errors import ConfigError, ProtocolError
from daemon.core.redact import Secret
from daemon.core.tiers import CAPABILITY_ORDER, Capability
from daemon.services import amazon_policy
from daemon.services.http import HttpClient
from daemon.services.music import MusicClient, MusicSettings
from daemon.services.music_model import (
    Document,
    capability_header,
    fill_image_size,
    normalize_language,
    resolve,
    sanitize_explanation,
)
from tests.support.clock import FakeClock


class NoAuth:
    async def token(self) -> Secret:
        return Secret("Atza|x")

    async def refresh_rejected(self, rejected: Secret) -> Secret:
        return rejected

    def rejected_error(self, url: str) -> Any:
        raise AssertionError


def client(caps: Any = ("STD_RES",), **settings: Any) -> MusicClient:
    clock = FakeClock()
    return MusicClient(
        http=HttpClient(clock=clock, rng=random.Random(0)),
        auth=NoAuth(),
        device_id="0123456789abcdef0123456789abcdef",
        capabilities=caps,
        settings=MusicSettings(**settings),
        clock=clock,
    )


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        (["HI_RES", "STD_RES", "HI_FI"], "STD_RES,HI_FI,HI_RES"),
        (["three_dimensional", "STD_RES"], "STD_RES,THREE_DIMENSIONAL"),
        (["REAL_AUDIO_360", "HI_FI", "HI_FI", " STD_RES "], "STD_RES,HI_FI,REAL_AUDIO_360"),
        (["MP3", "DOLBY_VISION", "HI_FI"], "HI_FI"),
        ([], "STD_RES"),
        (["bogus"], "STD_RES"),
        ([Capability.HI_RES, Capability.STD_RES], "STD_RES,HI_RES"),
    ],
)
def test_capability_header(caps: list[Any], expected: str) -> None:
    assert capability_header(caps) == expected


@given(st.lists(st.sampled_from([c.value for c in Capability] + ["X", "hi_fi", "aac"])))
def test_capability_header_properties(tokens: list[str]) -> None:
    value = capability_header(tokens)
    assert " " not in value
    items = value.split(",")
    order = [c.value for c in CAPABILITY_ORDER]
    assert all(i in order for i in items)
    assert [order.index(i) for i in items] == sorted(order.index(i) for i in items)
    assert len(set(items)) == len(items)
    # the sandbox's parser reads back exactly what we meant
    wanted = {t.upper() for t in tokens} & set(order) or {"STD_RES"}
    assert {c.value for c in am.parse_capabilities(value)} == wanted


@pytest.mark.parametrize(
    ("given_", "expected"), [("en-US", "en-us"), ("es_MX", "es-mx"), (" de-de ", "de-de")]
)
def test_language_normalised(given_: str, expected: str) -> None:
    assert normalize_language(given_) == expected


@pytest.mark.parametrize("bad", ["en", "xx-yy", "", "en-us,de-de", "fr"])
def test_language_rejected(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalize_language(bad)


def test_settings_validation() -> None:
    with pytest.raises(ConfigError):
        MusicSettings(image_style="SL400")
    with pytest.raises(ConfigError):
        MusicSettings(api_root="ftp://x/")
    with pytest.raises(ConfigError):
        MusicSettings(site="bad\r\nX-Injected: 1")
    for style in ("SL500", "SL160", "SL110", "SL75", "SL30", "*", None):
        MusicSettings(image_style=style)


def test_device_id_must_be_header_safe() -> None:
    with pytest.raises(ConfigError):
        MusicClient(
            http=HttpClient(clock=FakeClock()),
            auth=NoAuth(),
            device_id="a\r\nb",
            capabilities=[],
            settings=MusicSettings(),
            clock=FakeClock(),
        )


def test_common_and_playback_headers() -> None:
    c = client(["HI_FI", "STD_RES"], language="de_DE", image_style="SL160")
    common = c.common_headers()
    assert common == {
        "Accept": "application/json",
        "Accept-Language": "de-de",
        "X-Amz-Music-Site": "music.amazon.com",
        "amzn-image-style": "SL160",
    }
    play = c.playback_headers()
    assert play == {
        **common,
        "X-Amzn-Device-Id": "0123456789abcdef0123456789abcdef",
        "X-Amzn-Audio-DRMType": "WIDEVINE",
        "X-Amzn-Audio-Device-Capability": "STD_RES,HI_FI",
    }
    for name in am.DEPRECATED_HEADERS:
        assert name not in play
    assert "Authorization" not in play  # added per attempt by the HTTP layer


def test_capabilities_provider_is_called_per_request() -> None:
    current = [["STD_RES"]]
    c = client(lambda: current[0])
    assert c.playback_headers()["X-Amzn-Audio-Device-Capability"] == "STD_RES"
    current[0] = ["STD_RES", "HI_RES"]
    assert c.playback_headers()["X-Amzn-Audio-Device-Capability"] == "STD_RES,HI_RES"


def test_optional_image_headers() -> None:
    c = client(
        image_style=None,
        images_shrink=amazon_policy.DEFAULT_IMAGES_SHRINK,
        images_accept="png",
        redirect_workaround=True,
    )
    h = c.common_headers()
    assert "amzn-image-style" not in h
    assert h["X-Amz-Music-Images-Shrink"] == "*=400x400"
    assert h["X-Amz-Music-Images-Accept"] == "png"
    assert h["X-Amz-Workaround"] == "redirect"


@pytest.mark.parametrize(
    ("url", "size", "expected"),
    [
        (
            "https://m.media-amazon.com/images/I/41abc._SL*_.jpg",
            300,
            "https://m.media-amazon.com/images/I/41abc._SL300_.jpg",
        ),
        (
            "https://x/images/abc._SX*_SY*_.png?k=v*",
            64,
            "https://x/images/abc._SX64_SY64_.png?k=v*",
        ),
        ("https://x/images/abc._SL%2A_.jpg", 500, "https://x/images/abc._SL500_.jpg"),
        ("https://x/images/abc._SL500_.jpg", 30, "https://x/images/abc._SL500_.jpg"),
    ],
)
def test_fill_image_size(url: str, size: int, expected: str) -> None:
    assert fill_image_size(url, size) == expected


def test_fill_image_size_rejects_zero() -> None:
    with pytest.raises(ValueError):
        fill_image_size("https://x/a._SL*_.jpg", 0)


@pytest.mark.parametrize(
    ("doc", "ref", "expected"),
    [
        ("https://m/catalog/", "#catalog_desc", ("https://m/catalog/", "catalog_desc")),
        ("https://m/catalog/#x", "#", ("https://m/catalog/", None)),
        (
            "https://m/",
            "catalog/playlists/#prime_playlists",
            ("https://m/catalog/playlists/", "prime_playlists"),
        ),
        (
            "https://m/a/b/chunk/",
            "../../../tracks/T1/#track_def",
            ("https://m/tracks/T1/", "track_def"),
        ),
        ("https://m/a/", "../rating/1/2", ("https://m/rating/1/2", None)),
        ("https://m/a/", "https://other/x/#", ("https://other/x/", None)),
        ("https://m/a/", "/search/?keywords=x", ("https://m/search/?keywords=x", None)),
    ],
)
def test_resolve(doc: str, ref: str, expected: tuple[str, str | None]) -> None:
    assert resolve(doc, ref) == expected


@pytest.mark.parametrize("bad", ["", "javascript:alert(1)", "file:///etc/passwd"])
def test_resolve_rejects(bad: str) -> None:
    with pytest.raises(ProtocolError):
        resolve("https://m/", bad)


def test_document_lookup_rules() -> None:
    doc = Document(
        "https://m/", {"result": "#a", "itemDescriptions": {"a": {"x": 1}}, "playables": None}
    )
    assert doc.get(None, "itemDescriptions") == {"x": 1}
    assert doc.get("a", "itemDescriptions") == {"x": 1}
    with pytest.raises(ProtocolError):
        doc.get("b", "itemDescriptions")
    with pytest.raises(ProtocolError):
        doc.get("a", "playables")  # null dictionary counts as empty
    with pytest.raises(ProtocolError):
        Document("https://m/", {"result": 5}).get(None, "itemDescriptions")


def test_explanation_sanitised() -> None:
    dirty = (
        'Pay <b>now</b><br/><a href="https://amazon.com/x" onclick="evil()">here</a>'
        '<script>alert(1)</script><a href="javascript:x">js</a><img src=x>'
    )
    clean = sanitize_explanation(dirty)
    assert clean == 'Pay now<br><a href="https://amazon.com/x">here</a>alert(1)js'
