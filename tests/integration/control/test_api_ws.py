"""REST verbs with fakes behind them, the event WebSocket, revocation and the impostor."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp
import pytest

from daemon.control.client import (
    Pairing,
    RemoteClient,
    RemoteError,
    load_pairing,
    pair,
    save_pairing,
)
from daemon.control.identity import load_or_create_identity
from daemon.core.redact import Secret
from daemon.playback.commands import Play, SetVolume
from tests.integration.control.conftest import Rig, RigFactory
from tests.integration.control.fakes import FileStore, insecure


async def ws_connect(rig: Rig, token: str | None) -> aiohttp.ClientWebSocketResponse:
    ws = await rig.session.ws_connect(f"{rig.base}/events", ssl=insecure())
    if token is not None:
        await ws.send_json({"type": "auth", "data": {"token": token}})
    return ws


async def next_of_type(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, object]:
    async def loop() -> dict[str, object]:
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data["type"] == type_:
                return data  # type: ignore[no-any-return]
    return await asyncio.wait_for(loop(), 5)


async def test_player_commands_reach_the_player(rig: Rig) -> None:
    _, token = await rig.pair()
    status, _ = await rig.call("POST", "/player/play", token,
                               json={"kind": "album", "service_id": "B0001"})
    assert status == 200
    status, _ = await rig.call("POST", "/player/volume", token, json={"level": 30})
    assert status == 200
    assert rig.player.commands == [Play("album", "B0001"), SetVolume(30)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "body", "code"), [
    ("/player/volume", {"level": 101}, "invalid_argument"),
    ("/player/volume", {"level": "5"}, "invalid_argument"),
    ("/player/volume", {}, "invalid_argument"),
    ("/player/play", {"kind": "song", "service_id": "x"}, "invalid_argument"),
    ("/player/seek", {"position_ms": -1, "extra": 1}, "invalid_argument"),
    ("/player/pause", {"unexpected": True}, "bad_request"),
    ("/settings", {"name": ""}, "invalid_setting"),
    ("/settings", {"name": "a.b"}, "invalid_setting"),
    ("/settings", {"colour": "red"}, "invalid_setting"),
])
async def test_bad_input_gets_stable_codes(rig: Rig, path: str, body: dict[str, object],
                                           code: str) -> None:
    _, token = await rig.pair()
    method = "PATCH" if path == "/settings" else "POST"
    status, err = await rig.call(method, path, token, json=body)
    assert status == 400
    assert err["error"]["code"] == code
    assert rig.player.commands == []


async def test_player_refusal_is_409_with_reason(rig: Rig) -> None:
    _, token = await rig.pair()
    status, err = await rig.call("POST", "/player/next", token)
    assert (status, err["error"]["code"]) == (409, "nothing_loaded")


async def test_browse_search_signin_settings(rig: Rig) -> None:
    _, token = await rig.pair()
    status, body = await rig.call("GET", "/browse", token, params={"uri": "root"})
    assert (status, body["uri"]) == (200, "root")
    status, body = await rig.call("GET", "/search", token, params={"q": "chord", "kinds": "album"})
    assert (status, body["kinds"]) == (200, ["album"])
    assert (await rig.call("GET", "/search", token))[0] == 400
    status, err = await rig.call("GET", "/search", token, params={"q": "expired"})
    assert (status, err["error"]["code"]) == (409, "auth")
    status, body = await rig.call("POST", "/signin/amazon", token)
    assert (status, body["user_code"]) == (200, "ABC123")
    status, body = await rig.call("GET", "/signin", token)
    assert body["amazon"]["state"] == "pending"
    status, _ = await rig.call("POST", "/signin/audible/code", token,
                               json={"response_url": "http://insecure"})
    assert status == 400
    status, body = await rig.call("PATCH", "/settings", token, json={"name": "Den"})
    assert (status, body["name"]) == (200, "Den")
    assert (await rig.call("GET", "/info"))[1]["name"] == "Den"


async def test_metrics_are_prometheus_text(rig: Rig) -> None:
    _, token = await rig.pair()
    await rig.call("GET", "/status", token)
    async with rig.session.get(f"{rig.base}/metrics", ssl=insecure(),
                               headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    assert 'speakerd_http_request_duration_seconds_count{route="/api/v1/status",status="2xx"} 1' \
        in text
    assert "speakerd_paired_phones 1" in text
    assert "speakerd_underruns_total 0" in text


async def test_rename_and_revoke_phones(rig: Rig) -> None:
    a_id, a_token = await rig.pair("a")
    _, b_token = await rig.pair("b")
    status, body = await rig.call("PATCH", f"/pairings/{a_id}", b_token, json={"name": "A2"})
    assert (status, body["name"]) == (200, "A2")
    assert (await rig.call("PATCH", "/pairings/nope", b_token, json={"name": "x"}))[0] == 404
    assert (await rig.call("DELETE", f"/pairings/{a_id}", b_token))[0] == 200
    assert (await rig.call("GET", "/status", a_token))[0] == 401
    assert (await rig.call("GET", "/status", b_token))[0] == 200


async def test_websocket_auth_snapshot_and_events(rig: Rig) -> None:
    _, token = await rig.pair()
    ws = await ws_connect(rig, token)
    snapshot = await next_of_type(ws, "snapshot")
    assert snapshot["data"]["player"]["state"] == "idle"  # type: ignore[index]
    await rig.call("POST", "/player/volume", token, json={"level": 12})
    event = await next_of_type(ws, "volume")
    assert event["data"] == {"level": 12}
    await rig.call("PATCH", "/settings", token, json={"name": "Porch"})
    event = await next_of_type(ws, "device")
    assert event["data"] == {"change": "renamed", "name": "Porch"}
    await ws.close()


@pytest.mark.parametrize("first", [{"type": "auth", "data": {"token": "x" * 43}}, {"type": "hi"},
                                   "not json"])
async def test_websocket_without_valid_first_message_is_closed(rig: Rig, first: object) -> None:
    ws = await ws_connect(rig, None)
    if isinstance(first, str):
        await ws.send_str(first)
    else:
        await ws.send_json(first)
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 4401


async def test_websocket_token_in_url_is_ignored(rig: Rig) -> None:
    _, token = await rig.pair()
    ws = await rig.session.ws_connect(f"{rig.base}/events?token={token}", ssl=insecure())
    await ws.send_json({"type": "hello"})
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4401


async def test_websocket_oversized_message_closes_1009(rig: Rig) -> None:
    _, token = await rig.pair()
    ws = await ws_connect(rig, token)
    await next_of_type(ws, "snapshot")
    await ws.send_str("x" * (64 * 1024 + 1))
    msg = await asyncio.wait_for(ws.receive(), 5)
    while msg.type == aiohttp.WSMsgType.TEXT:
        msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1009


async def test_revocation_closes_the_websocket_within_one_second(rig: Rig) -> None:
    a_id, a_token = await rig.pair("a")
    _, b_token = await rig.pair("b")
    ws_a = await ws_connect(rig, a_token)
    ws_b = await ws_connect(rig, b_token)
    await next_of_type(ws_a, "snapshot")
    await next_of_type(ws_b, "snapshot")
    status, _ = await rig.call("DELETE", f"/pairings/{a_id}", b_token)
    assert status == 200

    async def until_closed() -> aiohttp.WSMessage:
        while True:
            msg = await ws_a.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return msg

    closing = await asyncio.wait_for(until_closed(), timeout=1.0)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 4403
    event = await next_of_type(ws_b, "pairing")  # B keeps its socket and hears about it
    assert event["data"]["change"] == "revoked"  # type: ignore[index]
    assert not ws_b.closed


async def test_reference_client_pairs_and_refuses_an_impostor(make_rig: RigFactory,
                                                              tmp_path: Path) -> None:
    rig = await make_rig()
    pairing = await pair("127.0.0.1", rig.server.https_port, Secret(rig.code), "cli")
    assert pairing.fingerprint == rig.server.fingerprint
    save_pairing(tmp_path / "cfg", pairing)
    assert (tmp_path / "cfg" / "remote.json").stat().st_mode & 0o777 == 0o600
    stored = load_pairing(tmp_path / "cfg")
    async with RemoteClient(stored) as client:
        assert (await client.request("GET", "/status"))["state"] == "idle"

    # an impostor on the same host name with its own certificate records every byte
    received = bytearray()
    other = tmp_path / "impostor"
    other.mkdir(mode=0o700)
    identity, _ = load_or_create_identity(FileStore(other), 1_700_000_000)
    ctx = identity.ssl_context(other)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(4096):
                received.extend(chunk)
        except (ConnectionError, ssl.SSLError):
            pass
        writer.close()

    impostor = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    port = impostor.sockets[0].getsockname()[1]
    fake = Pairing(host="127.0.0.1", port=port, fingerprint=pairing.fingerprint,
                   token=pairing.token, phone_id=pairing.phone_id, device_id=pairing.device_id)
    try:
        async with RemoteClient(fake) as client:
            with pytest.raises(RemoteError, match="pin"):
                await client.request("GET", "/status")
    finally:
        impostor.close()
        await impostor.wait_closed()
    assert pairing.token.reveal().encode() not in received
    assert b"Authorization" not in received

    # an impostor speakerd (own identity, own window) cannot complete pairing with our code
    impostor_rig = await make_rig()
    with pytest.raises(RemoteError, match="pairing_failed"):
        await pair("127.0.0.1", impostor_rig.server.https_port, Secret(rig.code), "cli")
    assert len(impostor_rig.server.phones) == 0


async def test_websocket_heartbeats(make_rig: RigFactory) -> None:
    rig = await make_rig(ws_heartbeat_s=0.2)
    _, token = await rig.pair()
    ws = await ws_connect(rig, token)
    await next_of_type(ws, "snapshot")
    beat = await next_of_type(ws, "heartbeat")
    assert isinstance(beat["data"]["time"], float)  # type: ignore[index]
    await ws.close()


async def test_pairing_routes_are_rate_limited_per_ip(make_rig: RigFactory) -> None:
    rig = await make_rig(pair_rate_per_minute=3)
    statuses = [(await rig.call("POST", "/pair/finish", json={"session": "x"}))[0]
                for _ in range(5)]
    assert statuses[:3] == [409, 409, 409]
    assert statuses[3:] == [429, 429]
    assert (await rig.call("GET", "/info"))[0] == 200  # other routes unaffected
