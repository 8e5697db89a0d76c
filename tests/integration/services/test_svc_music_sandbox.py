"""MusicClient against the sandbox's strict Device API: headers, browse, queue, manifest,
licence, events, 401 refresh, retries under injected faults."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from daemon.contracts import amazon_music as am
from daemon.core.errors import TransportError
from daemon.core.retry import RetryPolicy
from daemon.core.tiers import Quality
from daemon.sandbox import choices
from daemon.services import amazon_policy
from daemon.services.lwa import STORE_NAME, SignInRequired
from daemon.services.music import MusicClient, TrackInstance
from daemon.services.music_model import EventRejected, LicenceDenied, fill_image_size

from .conftest import DEVICE_ID, SEED, Env, MakeEnv


async def first_album_track(music: MusicClient) -> TrackInstance:
    root = await music.root()
    albums = next(i for i in root.items if i.label == "Albums")
    assert albums.node is not None
    listing = await music.node(albums.node)
    album_ref = listing.items[0].node
    assert album_ref is not None
    album = await music.node(album_ref)
    pointer = album.items[0].pointer
    assert pointer is not None
    chunk = await music.chunk(pointer)
    return chunk.instances[pointer.index]


def playback_requests(env: Env) -> list[Any]:
    return [
        r
        for r in env.requests
        if r.path.startswith(("/catalog/tracks/", "/dash/", "/drm/", "/events/"))
    ]


CAPABILITY_SETS = [
    (["STD_RES"], "STD_RES", {"opus"}),
    (["HI_FI", "STD_RES"], "STD_RES,HI_FI", {"opus", "flac"}),
    (["HI_RES", "HI_FI", "STD_RES"], "STD_RES,HI_FI,HI_RES", {"opus", "flac"}),
    (
        ["THREE_DIMENSIONAL", "STD_RES", "NOT_A_TOKEN"],
        "STD_RES,THREE_DIMENSIONAL",
        {"opus", "ec-3"},
    ),
    (["hi_fi"], "HI_FI", {"flac"}),
]


@pytest.mark.parametrize(("caps", "header", "codecs"), CAPABILITY_SETS)
async def test_playback_headers_exact(
    make_env: MakeEnv, caps: list[str], header: str, codecs: set[str]
) -> None:
    env = await make_env()
    await env.login()
    music = env.music(caps, language="en_GB", image_style="SL160")
    instance = await first_album_track(music)
    definition, mpd = await music.manifest_for(instance)
    token = (await env.lwa.token()).reveal()
    playback = playback_requests(env)
    assert [r.path.split("/")[1] for r in playback] == ["catalog", "dash"]
    for request in playback:
        h = request.headers
        assert h["Authorization"] == f"Bearer {token}"
        assert h["Accept-Language"] == "en-gb"
        assert h["X-Amzn-Device-Id"] == DEVICE_ID
        assert h["X-Amzn-Audio-DRMType"] == "WIDEVINE"
        assert h["X-Amzn-Audio-Device-Capability"] == header
        assert h["amzn-image-style"] == "SL160"
        for deprecated in am.DEPRECATED_HEADERS:
            assert deprecated not in h
    browse = [
        r
        for r in env.requests
        if r not in playback and not r.path.startswith(("/_sandbox", "/auth"))
    ]
    assert browse
    for request in browse:  # browse requests carry no playback headers
        assert "X-Amzn-Device-Id" not in request.headers
        assert request.headers["Accept-Language"] == "en-gb"
    offered = set(re.findall(rb'codecs="([^"]+)"', mpd))
    assert {c.decode() for c in offered} <= codecs
    assert offered
    assert definition.track_tag
    assert definition.expires_at is not None
    assert definition.expires_at > env.clock.time()
    assert definition.license_uri is not None


async def test_sandbox_rejects_a_missing_device_header(make_env: MakeEnv) -> None:
    """Control: the sandbox's validation is strict, so the header test above means something."""
    env = await make_env()
    await env.login()
    music = env.music()
    instance = await first_album_track(music)
    headers = music.playback_headers()
    del headers["X-Amzn-Device-Id"]
    target = instance.definition.split("#")[0]
    resp = await env.http.request("GET", target, headers=headers, auth=env.lwa)
    assert resp.status == 400
    headers = {**music.playback_headers(), "X-Amzn-Audio-Device-Capability": "STD_RES, HI_FI"}
    resp = await env.http.request("GET", target, headers=headers, auth=env.lwa)
    assert resp.status == 400


async def test_image_style_changes_image_size(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    for style, size in (("SL30", 30), ("SL500", 500)):
        root = await env.music(image_style=style).root()
        albums = next(i for i in root.items if i.label == "Albums")
        assert albums.node is not None
        listing = await env.music(image_style=style).node(albums.node)
        uri = listing.items[0].image_uri
        assert uri is not None
        match = choices.IMAGE_PATH_RE.match("/images/" + uri.rsplit("/images/", 1)[1])
        assert match is not None
        assert max(int(match["width"]), int(match["height"])) == size
        resp = await env.http.request("GET", uri)
        assert resp.status == 200
    assert uri is not None
    assert fill_image_size(uri.replace("_SX500_SY500_", "_SL*_"), 75).endswith("_SL75_.jpg")


async def test_station_chain_is_followed_across_chunks(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    music = env.music()
    root = await music.root()
    stations = next(i for i in root.items if i.label == "Stations")
    assert stations.node is not None
    node = await music.node(stations.node)
    start = node.items[0].pointer
    assert start is not None
    seen = [inst async for inst in music.instances(start, limit=10)]
    assert len(seen) == 10
    assert len({inst.collector for inst in seen}) == 10
    assert len({inst.pointer.chunk for inst in seen}) >= 3  # crossed chunk boundaries


async def test_401_refreshes_once_then_succeeds(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    old = await env.lwa.token()
    await env.admin("lwa/expire-tokens")
    root = await env.music().root()
    assert root.items
    new = await env.lwa.token()
    assert new != old
    roots = [r for r in env.requests if r.path == "/"]
    assert [r.headers["Authorization"] for r in roots] == [
        f"Bearer {old.reveal()}",
        f"Bearer {new.reveal()}",
    ]


async def test_second_401_asks_for_sign_in(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    await env.admin("faults", {"kind": "token_expiry", "path_prefix": "/catalog/", "count": 2})
    root = await env.music().root()
    albums = next(i for i in root.items if i.label == "Albums")
    assert albums.node is not None
    with pytest.raises(SignInRequired, match="speakerd login amazon"):
        await env.music().node(albums.node)


async def test_retries_5xx_with_exact_backoff(make_env: MakeEnv) -> None:
    policy = RetryPolicy(max_attempts=4)
    env = await make_env(retry=policy)
    await env.login()
    mark = len(env.clock.sleeps)
    await env.admin("faults", {"kind": "status", "status": 503, "count": 2, "path_prefix": "/"})
    root = await env.music().root()
    assert root.items
    assert len([r for r in env.requests if r.path == "/"]) == 3
    # the HTTP layer's generator was not used before: these are its first two draws
    rng = random.Random(SEED)
    expected = [policy.backoff(0, rng.random()), policy.backoff(1, rng.random())]
    assert env.clock.sleeps[mark:] == pytest.approx(expected)


async def test_retries_resets_then_gives_up(make_env: MakeEnv) -> None:
    policy = RetryPolicy(max_attempts=3)
    env = await make_env(retry=policy)
    await env.login()
    mark = len(env.clock.sleeps)
    await env.admin("faults", {"kind": "reset", "after_bytes": 0, "count": 2, "path_prefix": "/"})
    assert (await env.music().root()).items
    assert len([r for r in env.requests if r.path == "/"]) == 3
    rng = random.Random(SEED)
    expected = [policy.backoff(0, rng.random()), policy.backoff(1, rng.random())]
    assert env.clock.sleeps[mark:] == pytest.approx(expected)
    await env.admin("faults", {"kind": "reset", "after_bytes": 0, "count": 5, "path_prefix": "/"})
    with pytest.raises(TransportError):
        await env.music().root()
    assert len([r for r in env.requests if r.path == "/"]) == 6  # capped at 3 attempts


async def test_expired_manifest_url_refetches_definition(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    music = env.music()
    instance = await first_album_track(music)
    await env.admin("faults", {"kind": "expire_urls", "path_prefix": "/dash/", "count": 1})
    _definition, mpd = await music.manifest_for(instance)
    assert b"<MPD" in mpd
    assert len([r for r in env.requests if r.path.startswith("/catalog/tracks/")]) == 2
    assert len([r for r in env.requests if r.path.startswith("/dash/")]) == 2


async def test_licence_and_denial(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    await env.admin("music/settings", {"licence_backend": "opaque"})
    music = env.music(["STD_RES", "HI_FI"])
    instance = await first_album_track(music)
    definition, _ = await music.manifest_for(instance)
    assert definition.license_uri is not None
    licence = await music.license(definition.license_uri, b"\x08\x01challenge")
    assert licence
    lic = [r for r in env.requests if r.path.startswith("/drm/")][-1]
    assert lic.headers["Content-Type"] == "application/octet-stream"
    assert lic.headers["X-Amzn-Audio-Device-Capability"] == "STD_RES,HI_FI"
    await env.admin("music/settings", {"denial_reason": "NOT_ENTITLED"})
    with pytest.raises(LicenceDenied) as info:
        await music.license(definition.license_uri, b"\x08\x01challenge")
    assert info.value.reason == "NOT_ENTITLED"
    assert info.value.action is amazon_policy.DenialAction.TRACK_ERROR


def event(kind: am.EventType, position: int, wall: float) -> dict[str, object]:
    return am.playback_event(
        kind,
        track_position_ms=position,
        wall_clock_s=wall,
        played_duration_ms=position,
        audio_quality=Quality.SD,
    )


async def test_events_accepted_then_concurrency_stops_playback(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    music = env.music()
    instance = await first_album_track(music)
    await music.manifest_for(instance)
    wall = env.clock.time()
    await music.report_event(instance.collector, event(am.EventType.PLAYBACK_STARTED, 0, wall))
    await music.report_event(
        instance.collector, event(am.EventType.PLAYBACK_PROGRESS, 30_000, wall + 30)
    )
    await env.admin("music/compete", {"device_id": "another-device"})
    with pytest.raises(EventRejected) as info:
        await music.report_event(
            instance.collector, event(am.EventType.PLAYBACK_PROGRESS, 60_000, wall + 60)
        )
    assert info.value.fields["status"] == 409
    assert info.value.report is not None
    assert info.value.report.terse == "Playing elsewhere"
    assert [o.label for o in info.value.report.options] == ["Play here", "OK"]
    posts = [r for r in env.requests if r.path.startswith("/events/")]
    assert len(posts) == 3  # never retried
    assert all(r.headers["Content-Type"] == "application/json" for r in posts)


async def test_event_5xx_and_401_surface(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    music = env.music()
    instance = await first_album_track(music)
    wall = env.clock.time()
    await env.admin(
        "faults", {"kind": "status", "status": 500, "count": 1, "path_prefix": "/events/"}
    )
    with pytest.raises(EventRejected) as info:
        await music.report_event(instance.collector, event(am.EventType.PLAYBACK_STARTED, 0, wall))
    assert info.value.fields["status"] == 500
    await env.admin("faults", {"kind": "token_expiry", "count": 1, "path_prefix": "/events/"})
    with pytest.raises(EventRejected) as info:
        await music.report_event(instance.collector, event(am.EventType.PLAYBACK_STARTED, 0, wall))
    assert info.value.fields["status"] == 401
    assert info.value.fields["resent_status"] == 204  # re-sent once with a fresh token
    assert env.store.load(STORE_NAME) is not None


async def test_search_and_rating(make_env: MakeEnv) -> None:
    env = await make_env()
    await env.login()
    music = env.music()
    root = await music.root()
    stations = next(i for i in root.items if i.label == "Stations")
    assert stations.node is not None
    start = (await music.node(stations.node)).items[0].pointer
    assert start is not None
    instance = (await music.chunk(start)).instances[0]
    definition = await music.track_definition(instance)
    assert definition.rating_uri is not None  # station tracks can be rated
    skip, message = await music.rate(definition, "thumbs_down", 1000)
    assert skip is True
    assert message
    assert (await music.rate(definition, "thumbs_up", 2000))[0] is False
    word = definition.title.split()[0]
    found = await music.search(word, count=5)
    assert found.items
    assert all(item.pointer is not None for item in found.items)
    searches = [r for r in env.requests if r.path == am.FLAT_SEARCH_PATH]
    assert len(searches) == 1
