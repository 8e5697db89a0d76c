"""MusicClient against a scripted server: malformed documents, odd statuses, redirects."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from daemon.core.errors import ProtocolError, TransportError
from daemon.core.redact import Secret
from daemon.core.retry import RetryPolicy
from daemon.services.http import HttpClient
from daemon.services.music import MusicClient, MusicSettings, TrackInstance, TrackPointer
from daemon.services.music_model import (
    EventRejected,
    LicenceDenied,
    ManifestExpired,
    ServiceConflict,
)
from tests.support.clock import FakeClock


class StaticAuth:
    async def token(self) -> Secret:
        return Secret("Atza|static")

    async def refresh_rejected(self, rejected: Secret) -> Secret:
        return Secret("Atza|fresh")

    def rejected_error(self, url: str) -> Any:
        from daemon.services.lwa import SignInRequired

        return SignInRequired("sign in again", url=url)


@pytest.fixture
async def music(scripted: Any) -> Any:
    clock = FakeClock(auto_advance=True)
    http = HttpClient(clock=clock, rng=random.Random(3), retry=RetryPolicy(max_attempts=2))
    await http.start()
    yield MusicClient(
        http=http,
        auth=StaticAuth(),
        device_id="dev1",
        capabilities=["STD_RES"],
        settings=MusicSettings(api_root=scripted.base_url + "/"),
        clock=clock,
    )
    await http.aclose()


def body(obj: Any) -> tuple[Any, ...]:
    return ("status", 200, {}, json.dumps(obj).encode())


ROOT_OK = {
    "result": "#root",
    "navigationNodeDescriptions": {"root": {"summary": "#s", "items": ["#i0"]}},
    "navigationNodeSummaries": {
        "s": {"title": "Root", "description": "#root"},
        "n": {"title": "Albums", "description": "albums/#albums"},
    },
    "itemDescriptions": {"i0": {"itemLabel": "Albums", "navigationNodeSummary": "#n"}},
}


@pytest.mark.parametrize(
    "answer",
    [
        ("status", 200, {"Content-Type": "text/html"}, b"<html><body>Service error</body></html>"),
        ("status", 200, {}, b'{"result": "#root", "navigationNode'),
        body({"result": "#root"}),
        body({"result": "#root", "navigationNodeDescriptions": {"root": {"items": "nope"}}}),
        body({"result": "#root", "navigationNodeDescriptions": {"root": {"items": ["#gone"]}}}),
        body({**ROOT_OK, "navigationNodeSummaries": {"n": {"title": "x", "description": 5}}}),
        body([ROOT_OK]),
        ("status", 418, {}, b"{}"),
        ("status", 404, {}, b"{}"),
    ],
)
async def test_malformed_root_is_protocol_error(
    music: Any, scripted: Any, answer: tuple[Any, ...]
) -> None:
    scripted.script("/", answer)
    with pytest.raises(ProtocolError):
        await music.root()


async def test_root_ok_and_relative_node_reference(music: Any, scripted: Any) -> None:
    scripted.script("/", body(ROOT_OK))
    root = await music.root()
    assert root.title == "Root"
    assert root.items[0].node == scripted.base_url + "/albums/#albums"


async def test_5xx_after_retries_is_transport_error(music: Any, scripted: Any) -> None:
    scripted.script("/", ("status", 503), ("status", 502))
    with pytest.raises(TransportError):
        await music.root()


async def test_409_carries_sanitised_report(music: Any, scripted: Any) -> None:
    report = {
        "result": "#_obj0",
        "generalErrorReports": {
            "_obj0": {
                "terse": "Subscription",
                "brief": "Your plan ended",
                "explanation": "Renew <script>x()</script><a href='https://a.example/'>here</a><br>",
                "options": [{"label": "OK", "resume": False}, {"label": 5}],
            }
        },
    }
    scripted.script("/", ("status", 409, {}, json.dumps(report).encode()))
    with pytest.raises(ServiceConflict) as info:
        await music.root()
    assert info.value.report is not None
    assert info.value.report.brief == "Your plan ended"
    assert "<script>" not in info.value.report.explanation
    assert '<a href="https://a.example/">here</a><br>' in info.value.report.explanation
    assert [o.label for o in info.value.report.options] == ["OK"]
    assert "Your plan ended" in str(info.value)


async def test_301_is_followed_and_remembered(music: Any, scripted: Any) -> None:
    scripted.script("/", ("status", 301, {"Location": "/v2/"}))
    scripted.script("/v2/", body(ROOT_OK))
    await music.root()
    assert music.moved == {scripted.base_url + "/": scripted.base_url + "/v2/"}
    scripted.script("/v2/", body(ROOT_OK))
    await music.document(scripted.base_url + "/")  # stored reference rewritten: no detour
    assert scripted.count("/") == 1


async def test_workaround_redirect_headers(music: Any, scripted: Any) -> None:
    scripted.script(
        "/",
        (
            "status",
            200,
            {"X-Amz-Redirect-Status": "307", "X-Amz-Redirect-Location": "../elsewhere/"},
            b"",
        ),
    )
    scripted.script("/elsewhere/", body(ROOT_OK))
    assert (await music.root()).title == "Root"
    assert music.moved == {}


async def test_redirect_loop_is_bounded(music: Any, scripted: Any) -> None:
    scripted.script("/", *[("status", 307, {"Location": "/"})] * 10)
    with pytest.raises(ProtocolError, match="too many redirects"):
        await music.root()


def instance(base: str) -> TrackInstance:
    return TrackInstance(
        TrackPointer(base + "/chunk/#c", 0), base + "/track/#t", base + "/events/1"
    )


TRACK: dict[str, Any] = {
    "trackTag": "T1",
    "title": "Song",
    "duration": 200,
    "audio": {
        "uri": "/dash/T1.mpd?t=sig",
        "headers": {"X-Extra": "1"},
        "expires": "2025-10-09T10:00:00.000Z",
        "licenseUri": "/drm/T1?t=sig",
    },
}


@pytest.mark.parametrize(
    "definition",
    [
        {**TRACK, "audio": None},
        {**TRACK, "audio": {**TRACK["audio"], "uri": 7}},
        {**TRACK, "audio": {**TRACK["audio"], "expires": "yesterday"}},
        {**TRACK, "audio": {**TRACK["audio"], "headers": {"X": "a\r\nb"}}},
        {**TRACK, "trackTag": None},
    ],
)
async def test_bad_track_definition(music: Any, scripted: Any, definition: dict[str, Any]) -> None:
    scripted.script("/track/", body({"result": "#t", "trackDefinitions": {"t": definition}}))
    with pytest.raises(ProtocolError):
        await music.track_definition(instance(scripted.base_url))


async def test_track_definition_manifest_and_expiry(music: Any, scripted: Any) -> None:
    scripted.script("/track/", body({"result": "#t", "trackDefinitions": {"t": TRACK}}))
    definition = await music.track_definition(instance(scripted.base_url))
    assert definition.manifest_uri == scripted.base_url + "/dash/T1.mpd?t=sig"
    assert definition.license_uri == scripted.base_url + "/drm/T1?t=sig"
    assert definition.expires_at == pytest.approx(1_760_004_000.0)
    assert "sig" not in repr(definition)
    scripted.script("/dash/T1.mpd", ("status", 403))
    with pytest.raises(ManifestExpired):
        await music.manifest(definition)
    scripted.script(
        "/dash/T1.mpd", ("status", 200, {"Content-Type": "application/dash+xml"}, b"<MPD/>")
    )
    assert await music.manifest(definition) == b"<MPD/>"
    assert scripted.hits[-1].headers["X-Extra"] == "1"


async def test_licence_denial_without_json_body(music: Any, scripted: Any) -> None:
    scripted.script("/drm/T1", ("status", 403, {"Content-Type": "text/html"}, b"<html>no</html>"))
    with pytest.raises(LicenceDenied) as info:
        await music.license(scripted.base_url + "/drm/T1", b"challenge")
    assert info.value.reason == "UNKNOWN"
    scripted.script(
        "/drm/T1",
        ("status", 200, {"Content-Type": "application/json"}, b'{"license": "bm90LWJhc2U2NA=="}'),
    )
    assert await music.license(scripted.base_url + "/drm/T1", b"c") == b"not-base64"
    scripted.script(
        "/drm/T1", ("status", 200, {"Content-Type": "application/json"}, b'{"license": "%%%"}')
    )
    with pytest.raises(ProtocolError):
        await music.license(scripted.base_url + "/drm/T1", b"c")


async def test_event_errors_always_surface(music: Any, scripted: Any) -> None:
    for status in (400, 404, 409, 429, 500, 503):
        scripted.script("/events/1", ("status", status))
        with pytest.raises(EventRejected) as info:
            await music.report_event(scripted.base_url + "/events/1", {"eventType": "X"})
        assert info.value.fields["status"] == status
    assert scripted.count("/events/1") == 6  # one send each: never retried
    scripted.script("/events/1", ("reset",))
    with pytest.raises(EventRejected):
        await music.report_event(scripted.base_url + "/events/1", {"eventType": "X"})
