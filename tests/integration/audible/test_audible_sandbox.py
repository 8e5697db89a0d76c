"""The Audible sandbox driven by a plain aiohttp client (no daemon client classes)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_sandbox_helpers import login_code, pkce, register, register_body, sign
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LIB = "/1.0/library"


def base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def test_register_returns_tokens_key_device_and_customer(sandbox: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        reg = await register(http, base(sandbox))
    bearer = reg["tokens"]["bearer"]
    assert bearer["access_token"].startswith("Atna|")
    assert bearer["refresh_token"].startswith("Atnr|")
    assert bearer["expires_in"] == "3600"
    mac = reg["tokens"]["mac_dms"]
    assert mac["device_private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    segments = [s.split(":", 1)[0] for s in mac["adp_token"].strip("{}").split("}{")]
    assert segments == ["enc", "key", "iv", "name", "serial"]
    assert reg["extensions"]["device_info"]["device_serial_number"] == reg["serial"]
    assert reg["extensions"]["customer_info"]["user_id"].startswith("amzn1.account.")


async def test_register_rejects_bad_verifier_and_reused_code(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        verifier, challenge = pkce()
        code = await login_code(http, url, "SERIAL1", challenge)
        wrong, _ = pkce()
        async with http.post(
            f"{url}/auth/register", json=register_body("SERIAL1", code, wrong)
        ) as r:
            assert r.status == 401
            assert 'error="CredentialError"' in r.headers["WWW-Authenticate"]
        # The code was consumed by the failed attempt: single use.
        async with http.post(
            f"{url}/auth/register", json=register_body("SERIAL1", code, verifier)
        ) as r:
            assert r.status == 401


async def test_register_malformed_bodies_get_invalid_value(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        for raw in (b"{not json", b"[1,2]", json.dumps({"auth_data": 5}).encode(), b"\xff\xfe"):
            async with http.post(f"{url}/auth/register", data=raw) as r:
                assert r.status == 400
                body = await r.json()
                assert body["response"]["error"]["code"] == "InvalidValue"
        async with http.post(f"{url}/auth/register", data=b"x" * (1024 * 1024 + 10)) as r:
            assert r.status == 413
            assert "message" in await r.json()


async def test_signed_library_request_accepted(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        target = f"{LIB}?num_results=2&response_groups=product_attrs,contributors"
        async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
            assert r.headers["Total-Count"] == "3"  # 3 active top-level titles in `us`
            assert len(r.headers["State-Token"]) == 13
        assert len(body["items"]) == 2
        first = body["items"][0]
        assert first["authors"]
        assert first["content_delivery_type"]
        assert "series" in first
        assert first["series"] is None


@pytest.mark.parametrize("stamp", ["2024-05-06T16:41:04.123456Z", "+00:00Z", "+02:00"])
async def test_lenient_timestamp_formats(sandbox: TestServer, stamp: str) -> None:
    url = base(sandbox)
    now = datetime.now(UTC)
    if stamp == "+00:00Z":
        text = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00Z"
    elif stamp == "+02:00":
        text = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"
    else:
        text = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        async with http.get(url + LIB, headers=sign(reg, "GET", LIB, stamp=text)) as r:
            assert r.status == 200, (text, await r.text())


async def test_bad_signature_is_403(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        # Signed for another path: the string differs, so the signature fails.
        headers = sign(reg, "GET", f"{LIB}?page=2")
        async with http.get(url + LIB, headers=headers) as r:
            assert r.status == 403
            assert await r.json() == {"message": "Request could not be authenticated"}
        headers = sign(reg, "GET", LIB)
        headers["x-adp-signature"] = (
            "bm90IGEgc2lnbmF0dXJl:" + headers["x-adp-signature"].split(":", 1)[1]
        )
        async with http.get(url + LIB, headers=headers) as r:
            assert r.status == 403
        async with http.get(url + LIB) as r:  # no auth at all
            assert r.status == 403


@pytest.mark.parametrize("minutes", [-16, 16])
async def test_stale_timestamp_is_403(sandbox: TestServer, minutes: int) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        when = datetime.now(UTC) + timedelta(minutes=minutes)
        async with http.get(url + LIB, headers=sign(reg, "GET", LIB, when=when)) as r:
            assert r.status == 403
            assert (await r.json())["message"] == "Request could not be authenticated"
        # Within tolerance is fine.
        when = datetime.now(UTC) + timedelta(minutes=minutes * 14 // 16)
        async with http.get(url + LIB, headers=sign(reg, "GET", LIB, when=when)) as r:
            assert r.status == 200


async def test_clock_offset_hook_moves_tolerance_window(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        async with http.post(f"{url}/_sandbox/audible/clock", json={"offset_seconds": 3600}):
            pass
        async with http.get(url + LIB, headers=sign(reg, "GET", LIB)) as r:
            assert r.status == 403
        later = datetime.now(UTC) + timedelta(hours=1)
        async with http.get(url + LIB, headers=sign(reg, "GET", LIB, when=later)) as r:
            assert r.status == 200


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        (
            "num_results=some_random_string123",
            "1 validation error detected: Value 'some_random_string123' at 'numResults' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: ^\\d+$",
        ),
        ("num_results=1001", "at 'numResults' failed to satisfy constraint"),
        ("num_results=x&page=y", "2 validation errors detected"),
        ("sort_by=Nope", "at 'sortBy'"),
        ("response_groups=bogus", "Invalid response group"),
    ],
)
async def test_library_validation_error_shape(sandbox: TestServer, query: str, needle: str) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        target = f"{LIB}?{query}"
        async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
            assert r.status == 400
            body = await r.json()
        assert set(body) == {"message"}
        assert needle in body["message"]


async def test_library_paging_and_parent_asin(sandbox: TestServer) -> None:
    url = base(sandbox)
    seen: list[str] = []
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        for page in (1, 2, 3):
            target = f"{LIB}?num_results=1&page={page}&sort_by=Title"
            async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
                body = await r.json()
                assert r.headers["Total-Count"] == "3"
            seen += [i["asin"] for i in body["items"]]
        assert len(seen) == len(set(seen)) == 3
        target = f"{LIB}?parent_asin=B0SPKRD003&response_groups=relationships"
        async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
            children = (await r.json())["items"]
        assert [c["asin"] for c in children] == ["B0SPKRD03A", "B0SPKRD03B"]
        assert children[0]["relationships"][0]["relationship_to_product"] == "parent"
        # Another marketplace's library: 200 with 0 items (Host names api.audible.co.uk).
        headers = {**sign(reg, "GET", LIB), "Host": "api.audible.co.uk"}
        async with http.get(url + LIB, headers=headers) as r:
            assert r.status == 200
            assert [i["asin"] for i in (await r.json())["items"]] == ["B0SPKRD004"]


async def test_licence_voucher_decrypts_to_content_key(sandbox: TestServer) -> None:
    import io

    import av

    url = base(sandbox)
    asin = "B0SPKRD001"
    target = f"/1.0/content/{asin}/licenserequest"
    payload = json.dumps(
        {
            "consumption_type": "Download",
            "quality": "High",
            "supported_media_features": {"drm_types": ["Mpeg", "Adrm"]},
            "response_groups": "chapter_info,content_reference",
        }
    ).encode()
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        headers = {**sign(reg, "POST", target, payload), "Content-Type": "application/json"}
        async with http.post(url + target, data=payload, headers=headers) as r:
            assert r.status == 200, await r.text()
            lic = (await r.json())["content_license"]
        assert lic["status_code"] == "Granted"
        assert lic["drm_type"] == "Adrm"
        assert len(lic["content_metadata"]["chapter_info"]["chapters"]) == 3
        device = reg["extensions"]["device_info"]
        user = reg["extensions"]["customer_info"]["user_id"]
        digest = hashlib.sha256(
            (device["device_type"] + device["device_serial_number"] + user + asin).encode()
        ).digest()
        dec = Cipher(algorithms.AES(digest[:16]), modes.CBC(digest[16:])).decryptor()
        plain = dec.update(base64.b64decode(lic["license_response"])) + dec.finalize()
        voucher = json.loads(plain.rstrip(b"\x00"))
        offline = lic["content_metadata"]["content_url"]["offline_url"]
        async with http.get(offline) as r:  # aiohttp sends a User-Agent
            assert r.status == 200
            aaxc = await r.read()
        async with http.get(offline, headers={"Range": "bytes=0-99"}) as r:
            assert r.status == 206
            assert await r.read() == aaxc[:100]
        async with http.get(offline, skip_auto_headers=["User-Agent"]) as r:
            assert r.status == 403
    # FFmpeg's own AAXC decryption with the voucher's key/IV decodes the audio.
    with av.open(
        io.BytesIO(aaxc), "r", options={"audible_key": voucher["key"], "audible_iv": voucher["iv"]}
    ) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    assert samples >= 3 * 22050 * 0.9


async def test_licence_refuses_access_token_and_bad_bodies(sandbox: TestServer) -> None:
    url = base(sandbox)
    target = "/1.0/content/B0SPKRD001/licenserequest"
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        token = reg["tokens"]["bearer"]["access_token"]
        async with http.post(
            url + target,
            json={"consumption_type": "Download"},
            headers={"x-amz-access-token": token},
        ) as r:
            assert r.status == 403
        for raw in (b"{", b"[]", b'{"consumption_type": 5}', b'{"quality": "High"}'):
            async with http.post(
                url + target, data=raw, headers=sign(reg, "POST", target, raw)
            ) as r:
                assert r.status == 400
                assert isinstance((await r.json())["message"], str)
        unknown = "/1.0/content/B0NOSUCH00/licenserequest"
        raw = b'{"consumption_type": "Download"}'
        async with http.post(url + unknown, data=raw, headers=sign(reg, "POST", unknown, raw)) as r:
            assert r.status == 404


async def test_streaming_licence_returns_hls_playlist(sandbox: TestServer) -> None:
    url = base(sandbox)
    target = "/1.0/content/B0SPKRD002/licenserequest"
    raw = json.dumps(
        {"consumption_type": "Streaming", "supported_media_features": {"drm_types": ["Hls"]}}
    ).encode()
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        async with http.post(url + target, data=raw, headers=sign(reg, "POST", target, raw)) as r:
            lic = (await r.json())["content_license"]
        assert lic["drm_type"] == "Hls"
        async with http.get(lic["license_response"]) as r:
            playlist = await r.text()
        assert playlist.startswith("#EXTM3U")
        segment = next(line for line in playlist.splitlines() if line.startswith("http"))
        async with http.get(segment) as r:
            assert r.status == 200
            assert (await r.read())[:2] == b"\xff\xf1"  # ADTS sync word


async def test_throttling_hook_denies_with_customer_throttled(sandbox: TestServer) -> None:
    url = base(sandbox)
    target = "/1.0/content/B0SPKRD002/licenserequest"
    raw = b'{"consumption_type": "Download", "drm_type": "Mpeg"}'
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        async with http.post(f"{url}/_sandbox/audible/throttle", json={"after": 1}):
            pass
        statuses = []
        for _ in range(2):
            async with http.post(
                url + target, data=raw, headers=sign(reg, "POST", target, raw)
            ) as r:
                statuses.append((await r.json())["content_license"])
    assert statuses[0]["status_code"] == "Granted"
    assert statuses[0]["drm_type"] == "Mpeg"
    assert statuses[1]["status_code"] == "Denied"
    assert statuses[1]["license_denial_reasons"][0]["rejectionReason"] == "CustomerThrottled"


async def test_positions_round_trip(sandbox: TestServer) -> None:
    url = base(sandbox)
    asin = "B0SPKRD001"
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        read = f"/1.0/annotations/lastpositions?asins={asin},B0SPKRD002"
        async with http.get(url + read, headers=sign(reg, "GET", read)) as r:
            annots = (await r.json())["asin_last_position_heard_annots"]
        assert all(a["last_position_heard"]["status"] == "DoesNotExist" for a in annots)
        put = f"/1.0/lastpositions/{asin}"
        for acr, expected in (("CR!WRONG", 400), (f"CR!{asin}ADRM".ljust(31, "X"), 204)):
            raw = json.dumps({"acr": acr, "asin": asin, "position_ms": 372000}).encode()
            async with http.put(url + put, data=raw, headers=sign(reg, "PUT", put, raw)) as r:
                assert r.status == expected, await r.text()
        async with http.get(url + read, headers=sign(reg, "GET", read)) as r:
            annots = (await r.json())["asin_last_position_heard_annots"]
        assert annots[0]["last_position_heard"]["position_ms"] == 372000
        assert annots[0]["last_position_heard"]["status"] == "Exists"
        many = "/1.0/annotations/lastpositions?asins=" + ",".join(
            f"B0SPKRD{n:03d}" for n in range(26)
        )
        async with http.get(url + many, headers=sign(reg, "GET", many)) as r:
            assert r.status == 400
            assert "validation error" in (await r.json())["message"]


async def test_token_refresh_and_revocation(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        form = {
            "app_name": "Audible",
            "app_version": "3.56.2",
            "source_token": reg["tokens"]["bearer"]["refresh_token"],
            "requested_token_type": "access_token",
            "source_token_type": "refresh_token",
        }
        async with http.post(f"{url}/auth/token", data=form) as r:
            body = await r.json()
        assert body["access_token"].startswith("Atna|")
        assert body["expires_in"] == 3600
        async with http.get(
            f"{url}/user/profile", headers={"x-amz-access-token": body["access_token"]}
        ) as r:
            assert r.status == 200
        async with http.post(f"{url}/_sandbox/audible/registrations/revoke", json={}) as r:
            assert (await r.json())["revoked"] == 1
        async with http.post(f"{url}/auth/token", data=form) as r:
            assert r.status == 400
            assert (await r.json())["error"] == "invalid_grant"
        async with http.get(url + LIB, headers=sign(reg, "GET", LIB)) as r:
            assert r.status == 403


async def test_legacy_form_login_with_captcha_and_otp(sandbox: TestServer) -> None:
    url = base(sandbox)
    from audible_sandbox_helpers import signin_params

    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/_sandbox/audible/toggles", json={"captcha": True, "otp": True}
        ) as r:
            assert (await r.json())["captcha"] is True
        q = urlencode(signin_params("SER", pkce()[1]))
        async with http.get(f"{url}/ap/signin?{q}") as r:
            page = await r.text()
        session = page.split('name="session" value="', 1)[1].split('"', 1)[0]
        creds = {
            "session": session,
            "email": "listener@example.com",
            "password": "sandbox-password",
        }
        async with http.post(f"{url}/ap/signin", data=creds) as r:
            page = await r.text()
        assert 'alt="Visual CAPTCHA image' in page
        async with http.post(f"{url}/ap/signin", data={**creds, "guess": "wrong"}) as r:
            assert "CAPTCHA" in await r.text()
        async with http.post(f"{url}/ap/signin", data={**creds, "guess": "SpeakerD "}) as r:
            page = await r.text()
        assert 'id="auth-mfa-form"' in page
        async with http.post(
            f"{url}/ap/signin", data={"session": session, "otpCode": "000000"}
        ) as r:
            assert "auth-error-message-box" in await r.text()
        async with http.post(
            f"{url}/ap/signin",
            data={"session": session, "otpCode": "123456"},
            allow_redirects=False,
        ) as r:
            assert r.status == 302
            assert "openid.oa2.authorization_code=" in r.headers["Location"]


async def test_wrong_password_shows_error_box(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        from audible_sandbox_helpers import signin_params

        async with http.get(f"{url}/ap/signin?{urlencode(signin_params('S', 'c'))}") as r:
            page = await r.text()
        session = page.split('name="session" value="', 1)[1].split('"', 1)[0]
        async with http.post(
            f"{url}/ap/signin", data={"session": session, "email": "x@y", "password": "nope"}
        ) as r:
            assert 'id="auth-error-message-box"' in await r.text()


async def test_unknown_asins_and_garbage_never_crash(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        for target in (
            "/1.0/library/B0NOSUCH00",
            "/1.0/library/not-an-asin!",
            "/1.0/catalog/products/B0NOSUCH00",
            "/1.0/content/B0NOSUCH00/metadata",
            "/1.0/annotations/lastpositions",
            "/1.0/library?page=0",
        ):
            async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
                assert 400 <= r.status < 500, target
                assert "message" in await r.json()
        put = "/1.0/lastpositions/B0SPKRD001"
        for raw in (
            b"nope",
            b'{"acr": 1, "asin": "B0SPKRD001", "position_ms": "x"}',
            b'{"asin": "B0SPKRD001"}',
        ):
            async with http.put(url + put, data=raw, headers=sign(reg, "PUT", put, raw)) as r:
                assert r.status == 400
                assert "message" in await r.json()
        async with http.put(url + put, data=b"x" * (1024 * 1024 + 1)) as r:
            assert r.status == 413


async def test_catalog_and_metadata_work_unauthenticated(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{url}/1.0/catalog/products/B0SPKRD003?response_groups=relationships,product_attrs"
        ) as r:
            product = (await r.json())["product"]
        assert product["content_delivery_type"] == "MultiPartBook"
        assert [x["asin"] for x in product["relationships"]] == ["B0SPKRD03A", "B0SPKRD03B"]
        async with http.get(
            f"{url}/1.0/content/B0SPKRD001/metadata?response_groups="
            "chapter_info,content_reference&drm_type=Adrm"
        ) as r:
            meta = (await r.json())["content_metadata"]
        chapters = meta["chapter_info"]["chapters"]
        assert [c["start_offset_ms"] for c in chapters] == [0, 1000, 2000]
        assert meta["content_reference"]["acr"].startswith("CR!")


async def test_revoked_status_and_state_token(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        target = f"{LIB}?status=Revoked"
        async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
            assert [i["asin"] for i in (await r.json())["items"]] == ["B0SPKRD005"]
            token = r.headers["State-Token"]
        target = f"{LIB}?state_token={token}"
        async with http.get(url + target, headers=sign(reg, "GET", target)) as r:
            assert (await r.json())["items"] == []
            assert r.headers["Total-Count"] == "0"
            assert r.headers["State-Token"] == token


async def test_exchange_cookies(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        form = {
            "app_name": "Audible",
            "app_version": "3.56.2",
            "source_token": reg["tokens"]["bearer"]["refresh_token"],
            "requested_token_type": "auth_cookies",
            "source_token_type": "refresh_token",
            "domain": ".amazon.de",
        }
        async with http.post(f"{url}/ap/exchangetoken/cookies", data=form) as r:
            cookies = (await r.json())["response"]["tokens"]["cookies"]
        assert cookies[".amazon.de"][0]["Name"] == "session-id"
        async with http.post(
            f"{url}/ap/exchangetoken/cookies", data={**form, "source_token": "Atnr|nope"}
        ) as r:
            assert r.status == 400


async def test_admin_hooks_absent_when_disabled() -> None:
    from aiohttp import web

    from daemon.core.clock import SystemClock
    from daemon.sandbox.audible import AudibleSandboxSettings, setup_audible

    app = web.Application()
    setup_audible(
        app, AudibleSandboxSettings(rsa_key_bits=1024), SystemClock(), admin_enabled=False
    )
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base(server)}/_sandbox/audible/toggles", json={"otp": True}) as r,
        ):
            assert r.status in (404, 405)
    finally:
        await server.close()


async def test_admin_hooks_validate_input(sandbox: TestServer) -> None:
    url = base(sandbox)
    cases = [
        ("toggles", b"{"),
        ("toggles", b'{"otp": "yes"}'),
        ("toggles", b'{"nope": true}'),
        ("clock", b'{"offset_seconds": "x"}'),
        ("throttle", b'{"after": -1}'),
        ("faults", b'{"status": 418}'),
        ("login/approve", b'{"signin_url": 5}'),
        ("login/approve", b'{"signin_url": "http://x/ap/signin?a=b"}'),
        ("registrations/revoke", b'{"serial": 5}'),
    ]
    async with aiohttp.ClientSession() as http:
        for path, raw in cases:
            async with http.post(f"{url}/_sandbox/audible/{path}", data=raw) as r:
                assert r.status == 400, (path, raw)
                assert "message" in await r.json()


async def test_garbage_requests_never_get_a_500(sandbox: TestServer) -> None:
    import random

    rng = random.Random(1234)
    url = base(sandbox)
    routes = [
        ("GET", "/ap/signin"),
        ("POST", "/ap/signin"),
        ("GET", "/ap/maplanding"),
        ("POST", "/auth/register"),
        ("POST", "/auth/token"),
        ("POST", "/auth/deregister"),
        ("GET", "/user/profile"),
        ("GET", LIB),
        ("GET", "/1.0/library/B0SPKRD001"),
        ("GET", "/1.0/catalog/products/B0SPKRD001"),
        ("GET", "/1.0/content/B0SPKRD001/metadata"),
        ("POST", "/1.0/content/B0SPKRD001/licenserequest"),
        ("GET", "/1.0/annotations/lastpositions"),
        ("PUT", "/1.0/lastpositions/B0SPKRD001"),
        ("GET", "/_cdn/audible/B0SPKRD001/aaxc"),
        ("POST", "/ap/exchangetoken/cookies"),
    ]
    junk = [
        "",
        "null",
        "[]",
        "{}",
        '{"a":',
        "\x00\xff",
        '{"consumption_type": []}',
        '{"registration_data": {"device_serial": 1}}',
        "a=b&c",
        "%%%",
    ]
    params = [
        "",
        "?num_results=-1",
        "?page=abc",
        "?asins=",
        "?response_groups=,,,",
        "?drm_type=Bogus",
        "?Expires=x&Signature=y",
        "?purchased_after=yesterday",
        "?" + "x" * 2000,
    ]
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        for _ in range(120):
            method, path = rng.choice(routes)
            target = path + rng.choice(params)
            raw = rng.choice(junk).encode("utf-8", "surrogateescape")
            headers = sign(reg, method, target, raw) if rng.random() < 0.5 else {}
            if rng.random() < 0.2:
                headers = {**headers, "x-adp-signature": rng.choice(["", ":", "a:b", "::::"])}
            async with http.request(method, url + target, data=raw, headers=headers) as r:
                assert r.status < 500, (method, target, raw, await r.text())


async def test_access_token_header_forms_and_reject_bearer(sandbox: TestServer) -> None:
    url = base(sandbox)
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        token = reg["tokens"]["bearer"]["access_token"]
        for headers in ({"x-amz-access-token": token}, {"Authorization": f"Bearer {token}"}):
            async with http.get(url + LIB, headers=headers) as r:
                assert r.status == 200
        async with http.post(f"{url}/_sandbox/audible/toggles", json={"reject_bearer": True}):
            pass
        async with http.get(
            f"{url}/user/profile", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            assert r.status == 401
        async with http.get(url + LIB, headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 403
        async with http.get(f"{url}/user/profile", headers={"x-amz-access-token": token}) as r:
            assert r.status == 200
        async with http.post(f"{url}/_sandbox/audible/access-tokens/expire", json={}):
            pass
        async with http.get(f"{url}/user/profile", headers={"x-amz-access-token": token}) as r:
            assert r.status == 401


async def test_cdn_url_expires_and_is_tamper_proof(sandbox: TestServer) -> None:
    url = base(sandbox)
    target = "/1.0/content/B0SPKRD002/licenserequest"
    raw = b'{"consumption_type": "Download", "drm_type": "Mpeg"}'
    async with aiohttp.ClientSession() as http:
        reg = await register(http, url)
        async with http.post(url + target, data=raw, headers=sign(reg, "POST", target, raw)) as r:
            offline = (await r.json())["content_license"]["content_metadata"]["content_url"][
                "offline_url"
            ]
        async with http.get(offline) as r:
            assert r.status == 200
            assert r.content_type == "audio/mpeg"
            assert len(await r.read()) > 1000
        async with http.get(offline.replace("mp3?", "aaxc?")) as r:
            assert r.status == 403  # signature covers the path
        async with http.post(f"{url}/_sandbox/audible/clock", json={"offset_seconds": 7200}):
            pass
        async with http.get(offline) as r:
            assert r.status == 403
            assert "expired" in await r.text()


async def test_signin_oversized_form_is_413(sandbox: TestServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base(sandbox)}/ap/signin", data=b"a=" + b"x" * (1024 * 1024)) as r,
    ):
        assert r.status == 413
        assert "message" in await r.json()
