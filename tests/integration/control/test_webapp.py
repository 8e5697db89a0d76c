"""The web app's door: static files at `/`, the security headers, and the token cookie
(HttpOnly, Secure, SameSite=Strict) accepted beside the bearer header, revocable at once."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from pathlib import Path

import aiohttp
from spake2.parameters.ed25519 import ParamsEd25519

from daemon.control.cookie import COOKIE
from daemon.control.pake import PhoneSession, b64d, b64e
from daemon.control.webapp import WEB_DIR
from daemon.control.wsevents import CLOSE_REVOKED
from tests.integration.control.conftest import Rig
from tests.integration.control.fakes import insecure

REPO = Path(__file__).resolve().parents[3]


async def _pair_with_cookie(rig: Rig, name: str = "browser") -> tuple[str, str, dict[str, str]]:
    """Pair as the web app does; returns (phone id, cookie value, Set-Cookie attributes)."""
    if not rig.server.pairing.is_open:
        rig.server.open_pairing()
    phone = await asyncio.to_thread(PhoneSession, rig.code)
    async with rig.session.post(f"{rig.base}/pair/start", json={"pake": b64e(phone.message)},
                                ssl=insecure()) as r:
        first = await r.json()
    confirm, hello = phone.finish(first["session"], b64d(first["pake"]), {"name": name})
    async with rig.session.post(f"{rig.base}/pair/finish", ssl=insecure(), json={
            "session": first["session"], "confirm": b64e(confirm), "hello": hello,
            "cookie": True}) as r:
        assert r.status == 200
        body = await r.json()
        raw = r.headers.getall("Set-Cookie")
    opened = phone.open_welcome(body["welcome"])
    assert "token" not in opened  # the page's scripts never see the token
    assert len(raw) == 1
    value, *attrs = [part.strip() for part in raw[0].split(";")]
    key, _, token = value.partition("=")
    assert key == COOKIE
    flags = {a.split("=")[0].lower(): ([*a.split("=", 1), ""])[1] for a in attrs}
    return str(opened["phone_id"]), token, flags


async def test_the_page_is_served_with_a_strict_policy(rig: Rig) -> None:
    root = f"https://127.0.0.1:{rig.server.https_port}"
    async with rig.session.get(root + "/", ssl=insecure(),
                               headers={"Accept-Encoding": "gzip"}, auto_decompress=False) as r:
        assert r.status == 200
        assert r.headers["Content-Encoding"] == "gzip"
        html = gzip.decompress(await r.read()).decode()
        csp = r.headers["Content-Security-Policy"]
    assert "<script type=\"module\" src=\"/app.js\"></script>" in html
    assert re.search(r"<script>|<script [^>]*>[^<]", html) is None  # no inline script
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    for name in ("app.js", "app.css", "sw.js", "manifest.webmanifest", "icon.svg"):
        async with rig.session.get(f"{root}/{name}", ssl=insecure()) as r:
            assert r.status == 200, name
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    manifest = json.loads((WEB_DIR / "manifest.webmanifest").read_text())
    assert manifest["start_url"] == "/"
    assert manifest["icons"]
    for name in ("__init__.py", "index.html", "..%2Fcontrol%2Fapi.py", "nope.js"):
        async with rig.session.get(f"{root}/{name}", ssl=insecure()) as r:
            assert r.status == 404, name
    # the API's answers carry the same headers
    status, _ = await rig.call("GET", "/info")
    async with rig.session.get(f"{rig.base}/info", ssl=insecure()) as r:
        assert r.headers["X-Frame-Options"] == "DENY"
    assert status == 200


async def test_a_foreign_host_cannot_load_the_page(rig: Rig) -> None:
    root = f"https://127.0.0.1:{rig.server.https_port}"
    async with rig.session.get(root + "/", ssl=insecure(),
                               headers={"Host": "evil.example"}) as r:
        assert r.status == 421


async def test_the_cookie_authenticates_and_dies_with_the_phone(rig: Rig) -> None:
    phone_id, token, flags = await _pair_with_cookie(rig)
    assert {"httponly", "secure"} <= set(flags)
    assert flags["samesite"] == "Strict"
    assert flags["path"] == "/"
    assert "domain" not in flags
    cookie = {"Cookie": f"{COOKIE}={token}"}
    origin = {"Origin": f"https://127.0.0.1:{rig.server.https_port}"}
    status, body = await rig.call("GET", "/status", headers=cookie)
    assert status == 200
    assert "state" in body
    # a state change by cookie must say where it comes from (CSRF defence in depth)
    status, _ = await rig.call("POST", "/player/volume", headers=cookie, json={"level": 10})
    assert status == 401
    status, _ = await rig.call("POST", "/player/volume", headers={**cookie, **origin},
                               json={"level": 10})
    assert status == 200
    status, _ = await rig.call("POST", "/player/volume",
                               headers={**cookie, "Origin": "https://evil.example"},
                               json={"level": 10})
    assert status == 403
    # the event socket takes the cookie from the upgrade; revoking closes it at once
    ws = await rig.session.ws_connect(f"{rig.base}/events", ssl=insecure(),
                                      headers={**cookie, **origin})
    first = json.loads((await ws.receive(timeout=5)).data)
    assert first["type"] == "snapshot"
    assert await rig.server.revoke(phone_id)
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_REVOKED)
    status, _ = await rig.call("GET", "/status", headers=cookie)
    assert status == 401


async def test_a_wrong_cookie_is_refused(rig: Rig) -> None:
    status, _ = await rig.call("GET", "/status", headers={"Cookie": f"{COOKIE}=forged"})
    assert status == 401


def test_the_browser_pake_uses_python_spake2s_group_elements() -> None:
    """web/src/pake.js hard-codes M and N; they must be the Python package's."""
    source = (REPO / "web" / "src" / "pake.js").read_text()
    found = dict(re.findall(r"const ([MN]) = Point\.fromHex\('([0-9a-f]{64})'\)", source))
    assert found["M"] == ParamsEd25519.M.to_bytes().hex()
    assert found["N"] == ParamsEd25519.N.to_bytes().hex()
    assert "speakerd-phone" in source
    assert "speakerd-device" in source
    assert "speakerd-pair/v1" in source
