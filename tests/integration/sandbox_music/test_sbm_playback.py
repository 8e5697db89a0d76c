"""Playback requests: required headers, 401 shape, capability/tier/format intersection."""

from __future__ import annotations

import asyncio
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.conftest import MakeSandbox
from tests.integration.sandbox_music.sbm_helpers import (
    admin,
    auth,
    event,
    first_track,
    playback,
    sign_in,
    track_definition,
)

MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"
REQUIRED = ("X-Amzn-Device-Id", "X-Amzn-Audio-DRMType")
#: Independent statement of AM-C07 for the test: which format ids each token unlocks.
UNLOCKS = {
    "STD_RES": {"OPUS_48", "OPUS_192", "OPUS_320"},
    "HI_FI": {"FLAC_16_44"},
    "HI_RES": {"FLAC_24_96", "FLAC_24_192"},
    "THREE_DIMENSIONAL": {"EC3"},
    "REAL_AUDIO_360": set(),
}


async def _setup(http: aiohttp.ClientSession, sb: Sandbox, index: int = 0
                 ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    token = (await sign_in(http, sb))["access_token"]
    chunk_url, _, instance = await first_track(http, sb, token, index)
    definition = await track_definition(http, chunk_url, instance, playback(token))
    return token, instance, definition


def _representations(mpd: str) -> set[str]:
    root = ElementTree.fromstring(mpd)
    return {r.get("id", "") for r in root.iter(f"{MPD_NS}Representation")}


async def test_each_required_header_removed_gets_400_naming_it(
        http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    token, instance, definition = await _setup(http, sandbox)
    base = playback(token)
    chunk_url, _, _ = await first_track(http, sandbox, token)
    track_ref = instance["trackDefinition"]
    from urllib.parse import urldefrag, urljoin

    requests = {
        "track definition": ("GET", urldefrag(urljoin(chunk_url, track_ref))[0], None),
        "manifest": ("GET", definition["audio"]["uri"], None),
        "licence": ("POST", definition["audio"]["licenseUri"], b"\x08\x04"),
        "event": ("POST", instance["playbackEventCollector"], event("PLAYBACK_STARTED")),
    }
    for what, (method, url, body) in requests.items():
        for header in REQUIRED:
            headers = {k: v for k, v in base.items() if k != header}
            kwargs: dict[str, Any] = ({"json": body} if isinstance(body, dict)
                                      else {"data": body})
            async with http.request(method, url, headers=headers, **kwargs) as r:
                assert r.status == 400, (what, header, r.status)
                problem = await r.json()
                assert problem["header"] == header, (what, problem)
                assert header in problem["message"]
        wrong = {**base, "X-Amzn-Audio-DRMType": "PLAYREADY"}
        async with http.request(method, url, headers=wrong) as r:
            assert r.status == 400
            assert (await r.json())["header"] == "X-Amzn-Audio-DRMType"
        spaced = {**base, "X-Amzn-Audio-Device-Capability": "STD_RES, HI_FI"}
        async with http.request(method, url, headers=spaced) as r:
            assert r.status == 400, what
            assert (await r.json())["header"] == "X-Amzn-Audio-Device-Capability"
        no_auth = {k: v for k, v in base.items() if k != "Authorization"}
        async with http.request(method, url, headers=no_auth) as r:
            assert r.status == 401, what
            assert (await r.json())["error"] == "invalid_token"


async def test_lower_case_drm_value_is_accepted(http: aiohttp.ClientSession,
                                                sandbox: Sandbox) -> None:
    token, _, definition = await _setup(http, sandbox)
    headers = {**playback(token), "x-amzn-audio-drmtype": "widevine"}
    async with http.get(definition["audio"]["uri"], headers=headers) as r:
        assert r.status == 200


async def test_expired_token_is_401_in_documented_shape(http: aiohttp.ClientSession,
                                                       sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    await admin(http, sandbox, "lwa/expire-tokens")
    async with http.get(sandbox.base_url + "/", headers=auth(token)) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        body = await r.json()
        assert set(body) == {"error", "message"}
        assert body["error"] == "invalid_token"
    async with http.get(sandbox.base_url + "/", headers={"Authorization": "Basic abc"}) as r:
        assert r.status == 401


@pytest.mark.parametrize("caps", [
    None,
    "STD_RES",
    "HI_FI",
    "STD_RES,HI_FI",
    "STD_RES,HI_FI,HI_RES",
    "HI_RES",
    "STD_RES,HI_FI,HI_RES,THREE_DIMENSIONAL",
    "THREE_DIMENSIONAL",
    "std_res,hi_fi,NOT_A_TOKEN",
    "STD_RES,REAL_AUDIO_360",
])
@pytest.mark.parametrize("index", [0, 1, 2])
async def test_mpd_has_exactly_the_intersection(http: aiohttp.ClientSession, sandbox: Sandbox,
                                                caps: str | None, index: int) -> None:
    token, _, definition = await _setup(http, sandbox, index)
    track = sandbox.music.catalog.track(definition["trackTag"])
    produced = set(sandbox.music.content.formats(track))
    tokens = {t.upper() for t in (caps or "STD_RES").split(",")}
    expected = set().union(*(UNLOCKS.get(t, set()) for t in tokens)) & produced
    async with http.get(definition["audio"]["uri"], headers=playback(token, caps=caps)) as r:
        if not expected:
            assert r.status == 409
            doc = await r.json()
            assert doc["result"] == "#_obj0"
            assert doc["generalErrorReports"]["_obj0"]["brief"]
            return
        assert r.status == 200, await r.text()
        assert r.content_type == "application/dash+xml"
        assert _representations(await r.text()) == expected


async def test_real_audio_360_only_gets_the_documented_error(
        http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    token, _, definition = await _setup(http, sandbox)
    async with http.get(definition["audio"]["uri"],
                        headers=playback(token, caps="REAL_AUDIO_360")) as r:
        assert r.status == 409
        report = (await r.json())["generalErrorReports"]["_obj0"]
        assert {"terse", "brief", "explanation", "options"} <= set(report)
        assert "360" in report["explanation"]


@pytest.mark.parametrize("tier", ["FREE", "PRIME"])
async def test_free_and_prime_get_standard_resolution_only(
        http: aiohttp.ClientSession, make_sandbox: MakeSandbox, tier: str) -> None:
    sb = await make_sandbox()
    await admin(http, sb, "music/settings", {"tier": tier})
    token, _, definition = await _setup(http, sb)
    all_caps = "STD_RES,HI_FI,HI_RES,THREE_DIMENSIONAL"
    async with http.get(definition["audio"]["uri"], headers=playback(token, caps=all_caps)) as r:
        assert r.status == 200
        reps = _representations(await r.text())
    assert reps
    assert reps <= UNLOCKS["STD_RES"]
    async with http.get(definition["audio"]["uri"], headers=playback(token, caps="HI_RES")) as r:
        assert r.status == 409


async def test_manifest_url_expires(http: aiohttp.ClientSession,
                                    make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(manifest_lifetime_s=2)
    token, _, definition = await _setup(http, sb)
    async with http.get(definition["audio"]["uri"], headers=playback(token)) as r:
        assert r.status == 200
    await asyncio.sleep(2.1)
    async with http.get(definition["audio"]["uri"], headers=playback(token)) as r:
        assert r.status == 403
        assert "expired" in (await r.json())["message"]
    tampered = definition["audio"]["uri"].replace("?t=", "?t=x")
    async with http.get(tampered, headers=playback(token)) as r:
        assert r.status == 403


async def test_expire_manifests_hook_and_segment_urls(http: aiohttp.ClientSession,
                                                      sandbox: Sandbox) -> None:
    token, _, definition = await _setup(http, sandbox)
    async with http.get(definition["audio"]["uri"], headers=playback(token)) as r:
        root = ElementTree.fromstring(await r.text())
    base = root.find(f"{MPD_NS}BaseURL")
    assert base is not None
    assert base.text
    rep = next(root.iter(f"{MPD_NS}Representation"))
    rep_base = rep.find(f"{MPD_NS}BaseURL")
    init = rep.find(f".//{MPD_NS}Initialization")
    assert rep_base is not None
    assert init is not None
    url = base.text + (rep_base.text or "")
    start, end = (int(x) for x in init.get("range", "").split("-"))
    async with http.get(url, headers={"Range": f"bytes={start}-{end}"}) as r:
        assert r.status == 206
        data = await r.read()
        assert len(data) == end - start + 1
        assert data[4:8] == b"ftyp"
    async with http.get(url, headers={"Range": "bytes=0-1,5-6"}) as r:
        assert r.status == 416
    await admin(http, sandbox, "music/expire-manifests")
    async with http.get(url, headers={"Range": f"bytes={start}-{end}"}) as r:
        assert r.status == 403
    async with http.get(definition["audio"]["uri"], headers=playback(token)) as r:
        assert r.status == 403


async def test_track_definition_shape(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    _, _, definition = await _setup(http, sandbox)
    assert isinstance(definition["duration"], int)
    assert definition["audio"]["expires"].endswith("Z")
    assert definition["audio"]["headers"] == {}
    assert definition["audio"]["licenseUri"].startswith(sandbox.base_url + "/drm/widevine/")
