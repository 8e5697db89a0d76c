"""The Music licence endpoint (AM-C24) and its backends (AM-C25); ClearKey keys checked by
decrypting the served segments with PyAV's own `decryption_key` CENC decryption."""

from __future__ import annotations

import base64
import io
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.conftest import MakeSandbox
from tests.integration.sandbox_music.sbm_helpers import (
    DEVICE_B,
    admin,
    first_track,
    playback,
    sign_in,
    track_definition,
)

MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _definition(http: aiohttp.ClientSession, sb: Sandbox
                      ) -> tuple[str, dict[str, Any]]:
    token = (await sign_in(http, sb))["access_token"]
    chunk_url, _, instance = await first_track(http, sb, token, 0)
    return token, await track_definition(http, chunk_url, instance, playback(token))


def _decode(data: bytes, key_hex: str | None) -> bytes:
    import av

    options = {"decryption_key": key_hex} if key_hex else {}
    with av.open(io.BytesIO(data), "r", options=options) as container:
        frames = [f.to_ndarray().tobytes() for f in container.decode(audio=0)]
    return b"".join(frames)


async def test_clearkey_keys_decrypt_the_segments(http: aiohttp.ClientSession,
                                                  make_sandbox: MakeSandbox) -> None:
    pytest.importorskip("av")
    sb = await make_sandbox(licence_backend="clearkey")
    token, definition = await _definition(http, sb)
    async with http.post(definition["audio"]["licenseUri"], data=b"any challenge",
                         headers=playback(token)) as r:
        assert r.status == 200, await r.text()
        jwks = await r.json(content_type=None)
    assert jwks["type"] == "temporary"
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "oct"
    kid, key = _b64url(jwk["kid"]), _b64url(jwk["k"])
    async with http.get(definition["audio"]["uri"], headers=playback(token, caps="HI_FI")) as r:
        mpd = ElementTree.fromstring(await r.text())
    protection = next(p for p in mpd.iter(f"{MPD_NS}ContentProtection")
                      if p.get("value") == "cenc")
    default_kid = protection.get("{urn:mpeg:cenc:2013}default_KID", "").replace("-", "")
    assert bytes.fromhex(default_kid) == kid
    base = mpd.find(f"{MPD_NS}BaseURL")
    rep = next(r for r in mpd.iter(f"{MPD_NS}Representation") if r.get("id") == "FLAC_16_44")
    rep_base = rep.find(f"{MPD_NS}BaseURL")
    assert base is not None
    assert rep_base is not None
    async with http.get((base.text or "") + (rep_base.text or "")) as r:
        assert r.status == 200
        encrypted = await r.read()
    track = sb.music.catalog.track(definition["trackTag"])
    store = sb.music.content._store
    clear = store.clear_reference(track.id, "FLAC_16_44")
    reference = _decode(clear, None)
    decrypted = _decode(encrypted, key.hex())
    assert len(reference) > 0
    assert decrypted == reference
    # The keys matter: the encrypted part does not decode to the source with another key.
    wrong = bytes(b ^ 0xFF for b in key).hex()
    try:
        garbled = _decode(encrypted, wrong)
    except Exception:  # a decoder error is also proof enough
        garbled = b""
    assert garbled != reference


async def test_device_id_mismatch_and_forced_denials(http: aiohttp.ClientSession,
                                                     make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(licence_backend="clearkey")
    token, definition = await _definition(http, sb)
    url = definition["audio"]["licenseUri"]
    async with http.post(url, data=b"x", headers=playback(token, DEVICE_B)) as r:
        assert r.status == 403
        body = await r.json()
    assert body == {"__type": "com.amazon.digitalmusiclocator#DrmLicenseDeniedException",
                    "DrmType": "WIDEVINE", "denialReason": "DEVICE_ID_MISMATCH",
                    "message": body["message"]}
    await admin(http, sb, "music/settings", {"denial_reason": "NOT_ENTITLED"})
    async with http.post(url, data=b"x", headers=playback(token)) as r:
        assert r.status == 403
        assert (await r.json())["denialReason"] == "NOT_ENTITLED"
    await admin(http, sb, "music/settings", {"denial_reason": None})
    async with http.post(url, data=b"", headers=playback(token)) as r:
        assert r.status == 400
    async with http.post(url.replace("?t=", "?t=zz"), data=b"x", headers=playback(token)) as r:
        assert r.status == 403


async def test_json_wrapped_variant(http: aiohttp.ClientSession,
                                    make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(licence_backend="opaque", licence_json=True)
    token, definition = await _definition(http, sb)
    url = definition["audio"]["licenseUri"]
    challenge = base64.b64encode(b"challenge-bytes").decode()
    async with http.post(url, json={"licenseChallenge": challenge},
                         headers=playback(token)) as r:
        assert r.status == 200
        wrapped = await r.json()
    async with http.post(url, data=b"challenge-bytes", headers={
            **playback(token), "Content-Type": "application/octet-stream"}) as r:
        assert r.status == 200
        raw = await r.read()
    assert base64.b64decode(wrapped["license"]) == raw  # opaque is deterministic
    async with http.post(url, json={"licenseChallenge": "%%%"}, headers=playback(token)) as r:
        assert r.status == 400
    async with http.post(url, json={"licenseChallenge": 5}, headers=playback(token)) as r:
        assert r.status == 400


async def test_widevine_service_certificate_and_licence(http: aiohttp.ClientSession,
                                                        make_sandbox: MakeSandbox,
                                                        tmp_path: Any) -> None:
    pytest.importorskip("pywidevine")
    from pywidevine.cdm import Cdm
    from pywidevine.device import Device
    from pywidevine.license_protocol_pb2 import SignedMessage
    from pywidevine.pssh import PSSH

    sb = await make_sandbox(licence_backend="widevine-test")
    token, definition = await _definition(http, sb)
    url = definition["audio"]["licenseUri"]
    async with http.post(url, data=b"\x08\x04", headers=playback(token)) as r:
        assert r.status == 200
        certificate = SignedMessage.FromString(await r.read())
    assert certificate.type == SignedMessage.MessageType.Value("SERVICE_CERTIFICATE")
    wvd = tmp_path / "device.wvd"
    sb.music.licence.widevine.mint_device(wvd, "ANDROID")
    cdm = Cdm.from_device(Device.load(wvd))
    session = cdm.open()
    track = sb.music.catalog.track(definition["trackTag"])
    pssh = PSSH.new(system_id=PSSH.SystemId.Widevine, key_ids=[__import__("uuid").UUID(
        bytes=track.kid)])
    challenge = cdm.get_license_challenge(session, pssh)
    async with http.post(url, data=challenge, headers=playback(token)) as r:
        assert r.status == 200, await r.text()
        cdm.parse_license(session, await r.read())
    keys = {k.kid.bytes: k.key for k in cdm.get_keys(session, "CONTENT")}
    cdm.close(session)
    assert keys == {track.kid: track.key}


async def test_widevine_backend_without_pywidevine_is_501(
        http: aiohttp.ClientSession, make_sandbox: MakeSandbox,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sb = await make_sandbox(licence_backend="widevine-test")
    token, definition = await _definition(http, sb)
    for name in [m for m in sys.modules if m == "pywidevine" or m.startswith("pywidevine.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pywidevine", None)
    async with http.post(definition["audio"]["licenseUri"], data=b"\x08\x04",
                         headers=playback(token)) as r:
        assert r.status == 501
        assert "pip install" in (await r.json())["message"]
