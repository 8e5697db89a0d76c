"""Playback event collectors (AM-C27) and one-stream-per-account concurrency (AM-C32)."""

from __future__ import annotations

from typing import Any

import aiohttp

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.sbm_helpers import (
    DEVICE_A,
    DEVICE_B,
    admin,
    event,
    first_track,
    playback,
    sign_in,
    track_definition,
)


async def _post(http: aiohttp.ClientSession, url: str, token: str, body: Any,
                device: str = DEVICE_A) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=playback(token, device)) as r:
        payload = await r.json() if r.content_type == "application/json" else None
        return r.status, payload


async def _events_log(http: aiohttp.ClientSession, sb: Sandbox) -> dict[str, Any]:
    async with http.get(f"{sb.base_url}/_sandbox/music/events") as r:
        assert r.status == 200
        log: dict[str, Any] = await r.json()
        return log


async def test_events_recorded_in_order_and_terminal_rules(
        http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    _, _, instance = await first_track(http, sandbox, token)
    url = instance["playbackEventCollector"]
    sequence = [
        event("PLAYBACK_STARTED", 0, 0),
        event("PLAYBACK_PROGRESS", 30_000, 30_000),
        event("PLAYBACK_PAUSED", 31_000, 31_000),
        event("PLAYBACK_RESUMED", 31_000, 31_000),
        event("PLAYBACK_FINISHED", 40_000, 40_000),
    ]
    for body in sequence:
        status, _ = await _post(http, url, token, body)
        assert status == 204, body["eventType"]
    status, report = await _post(http, url, token, event("PLAYBACK_PROGRESS", 41_000, 41_000))
    assert status == 409
    assert report["result"] == "#_obj0"
    status, _ = await _post(http, url, token, event("PLAYBACK_STOPPED", 41_000, 41_000,
                                                    "USER_STOP"))
    assert status == 409  # exactly one terminal event per instance
    log = await _events_log(http, sandbox)
    mine = [e for e in log["log"] if e["instance"] == url.rsplit("/", 1)[1]]
    assert [e["event"]["eventType"] for e in mine] == [
        "PLAYBACK_STARTED", "PLAYBACK_PROGRESS", "PLAYBACK_PAUSED", "PLAYBACK_RESUMED",
        "PLAYBACK_FINISHED", "PLAYBACK_PROGRESS", "PLAYBACK_STOPPED"]
    assert [e["status"] for e in mine] == [204, 204, 204, 204, 204, 409, 409]
    assert [e["seq"] for e in mine] == sorted(e["seq"] for e in mine)
    summary = next(i for i in log["instances"] if i["instance"] == mine[0]["instance"])
    assert summary["played"] is True
    assert summary["state"] == "ended"


async def test_event_validation(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    _, _, instance = await first_track(http, sandbox, token)
    url = instance["playbackEventCollector"]
    bad_bodies = [
        {**event("PLAYBACK_STARTED"), "eventType": "PLAYBACK_EXPLODED"},
        {**event("PLAYBACK_STARTED"), "trackPosition": "0"},
        {**event("PLAYBACK_STARTED"), "trackPosition": -1},
        {**event("PLAYBACK_STARTED"), "wallClockTime": "yesterday"},
        {**event("PLAYBACK_STARTED"), "audioQuality": "LOUD"},
        {**event("PLAYBACK_STARTED"), "drmType": "PLAYREADY"},
        {k: v for k, v in event("PLAYBACK_STARTED").items() if k != "playedDuration"},
        [event("PLAYBACK_STARTED")],
        event("PLAYBACK_PROGRESS", 1000, 1000),  # before STARTED
    ]
    for body in bad_bodies:
        status, problem = await _post(http, url, token, body)
        assert status == 400, body
        assert problem["message"]
    async with http.post(url, data=b"{", headers=playback(token)) as r:
        assert r.status == 400
    assert (await _post(http, url, token, event("PLAYBACK_STARTED", 0, 0)))[0] == 204
    assert (await _post(http, url, token, event("PLAYBACK_STARTED", 0, 0)))[0] == 400
    assert (await _post(http, url, token, event("PLAYBACK_PROGRESS", 5000, 5000)))[0] == 204
    # Position backwards without a seek, played duration backwards.
    assert (await _post(http, url, token, event("PLAYBACK_PROGRESS", 1000, 6000)))[0] == 400
    assert (await _post(http, url, token, event("PLAYBACK_PROGRESS", 6000, 1000)))[0] == 400
    status, _ = await _post(http, sandbox.base_url + "/events/nope", token,
                            event("PLAYBACK_STARTED"))
    assert status == 404


async def test_second_device_takes_over_and_first_gets_409(
        http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    chunk_url, _, inst_a = await first_track(http, sandbox, token, 0)
    _, _, inst_b = await first_track(http, sandbox, token, 1)
    assert (await _post(http, inst_a["playbackEventCollector"], token,
                        event("PLAYBACK_STARTED")))[0] == 204
    # Device B starts: the same token with another device id is concurrency.
    assert (await _post(http, inst_b["playbackEventCollector"], token,
                        event("PLAYBACK_STARTED"), DEVICE_B))[0] == 204
    status, report = await _post(http, inst_a["playbackEventCollector"], token,
                                 event("PLAYBACK_PROGRESS", 30_000, 30_000))
    assert status == 409
    general = report["generalErrorReports"]["_obj0"]
    assert general["terse"] == "Playing elsewhere"
    assert [o["resume"] for o in general["options"]] == [True, False]
    # The licence endpoint refuses device A too, in the AM-C24 denial shape.
    definition = await track_definition(http, chunk_url, inst_a, playback(token))
    async with http.post(definition["audio"]["licenseUri"], data=b"challenge",
                         headers=playback(token)) as r:
        assert r.status == 403
        denial = await r.json()
        assert denial["denialReason"] == "CONCURRENCY_LIMIT"
        assert denial["__type"].endswith("#DrmLicenseDeniedException")
    # "Play here" moves the stream back.
    resume = general["options"][0]["uri"]
    async with http.post(resume, headers=playback(token)) as r:
        assert r.status == 204
    assert (await _post(http, inst_a["playbackEventCollector"], token,
                        event("PLAYBACK_PROGRESS", 30_000, 30_000)))[0] == 204
    assert (await _post(http, inst_b["playbackEventCollector"], token,
                        event("PLAYBACK_PROGRESS", 30_000, 30_000), DEVICE_B))[0] == 409


async def test_competing_stream_hook_and_german_report(http: aiohttp.ClientSession,
                                                       sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    _, _, inst = await first_track(http, sandbox, token)
    url = inst["playbackEventCollector"]
    assert (await _post(http, url, token, event("PLAYBACK_STARTED")))[0] == 204
    await admin(http, sandbox, "music/compete", {})
    headers = {**playback(token), "Accept-Language": "fr-fr;q=0.5, de-DE"}
    async with http.post(url, json=event("PLAYBACK_PROGRESS", 1000, 1000),
                         headers=headers) as r:
        assert r.status == 409
        report = (await r.json())["generalErrorReports"]["_obj0"]
        assert report["options"][0]["label"] == "Hier abspielen"


async def test_station_chain_grows_and_rating(http: aiohttp.ClientSession,
                                              sandbox: Sandbox) -> None:
    from urllib.parse import urldefrag, urljoin

    from tests.integration.sandbox_music.sbm_helpers import auth, follow, get_doc, lookup

    token = (await sign_in(http, sandbox))["access_token"]
    h = auth(token)
    root_url = sandbox.base_url + "/"
    root = await get_doc(http, root_url, h)
    _, catalog = lookup(root, root["result"])
    _, item = lookup(root, catalog["items"][2])
    _, summary = lookup(root, item["navigationNodeSummary"])
    stations_url, stations, desc = await follow(http, root_url, summary["description"], h)
    _, item = lookup(stations, desc["items"][0])
    _, playable = lookup(stations, item["playable"])
    pointer = playable["naturalTrackPointer"]
    url, doc, chunk = await follow(http, stations_url, pointer["chunk"], h)
    assert chunk["prevTrackPointer"] is None
    seen = []
    for _ in range(3):  # stations have no end: keep following nextTrackPointer
        seen.append(url)
        assert chunk["nextTrackPointer"] is not None
        url, doc, chunk = await follow(http, url, chunk["nextTrackPointer"]["chunk"], h)
    assert len(set(seen)) == 3
    _, instance = lookup(doc, chunk["trackInstances"][0])
    definition = await track_definition(http, url, instance, playback(token))
    rating_url = urldefrag(urljoin(urldefrag(urljoin(url, instance["trackDefinition"]))[0],
                                   definition["trackRating"]["ratingURI"]))[0]
    async with http.post(rating_url, headers=h, json={
            "thumbRating": "thumbs_down", "trackPosition": 1000,
            "wallClockTime": "2026-01-01T00:00:00.000Z"}) as r:
        assert r.status == 200
        response = (await r.json())["trackRatingResponses"]["rating"]
        assert response["shouldSkip"] is True
    async with http.post(rating_url, headers=h, json={"thumbRating": "meh"}) as r:
        assert r.status == 400


async def test_prime_station_skip_limit(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    from tests.integration.sandbox_music.sbm_helpers import auth, follow, get_doc, lookup

    await admin(http, sandbox, "music/settings", {"tier": "PRIME"})
    token = (await sign_in(http, sandbox))["access_token"]
    h = auth(token)
    root_url = sandbox.base_url + "/"
    root = await get_doc(http, root_url, h)
    _, summary = lookup(root, "#stations_summary")
    stations_url, stations, desc = await follow(http, root_url, summary["description"], h)
    _, item = lookup(stations, desc["items"][0])
    _, playable = lookup(stations, item["playable"])
    url, doc, chunk = await follow(http, stations_url,
                                   playable["naturalTrackPointer"]["chunk"], h)
    statuses = []
    for _ in range(2):  # two chunks of 4 instances: 8 skips
        for ref in chunk["trackInstances"]:
            _, inst = lookup(doc, ref)
            collector = inst["playbackEventCollector"]
            await _post(http, collector, token, event("PLAYBACK_STARTED"))
            status, _ = await _post(http, collector, token,
                                    event("PLAYBACK_SKIPPED", 1000, 1000, "USER_NEXT"))
            statuses.append(status)
        url, doc, chunk = await follow(http, url, chunk["nextTrackPointer"]["chunk"], h)
    assert statuses == [204] * 6 + [409, 409]
