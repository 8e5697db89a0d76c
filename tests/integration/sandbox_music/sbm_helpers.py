"""Helpers for the sandbox Music tests: sign in, follow documents, standard headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag, urljoin

import aiohttp

from daemon.sandbox.server import Sandbox

DEVICE_A = "0123456789abcdef0123456789abcdef"
DEVICE_B = "fedcba9876543210fedcba9876543210"
SCOPE = "amazon_music:access"


async def codepair(http: aiohttp.ClientSession, sb: Sandbox) -> dict[str, Any]:
    async with http.post(f"{sb.base_url}/auth/o2/create/codepair", data={
            "response_type": "device_code", "client_id": sb.lwa_client_id,
            "scope": SCOPE}) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body


async def poll(http: aiohttp.ClientSession, sb: Sandbox, pair: dict[str, Any]
               ) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{sb.base_url}/auth/o2/token", data={
            "grant_type": "device_code", "device_code": pair["device_code"],
            "user_code": pair["user_code"]}) as r:
        return r.status, await r.json()


async def admin(http: aiohttp.ClientSession, sb: Sandbox, path: str,
                body: Any = None) -> Any:
    async with http.post(f"{sb.base_url}/_sandbox/{path}", json=body or {}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def sign_in(http: aiohttp.ClientSession, sb: Sandbox) -> dict[str, Any]:
    """Code pair, approval through the admin hook, one poll: the token response."""
    pair = await codepair(http, sb)
    await admin(http, sb, "lwa/approve", {"user_code": pair["user_code"]})
    status, body = await poll(http, sb, pair)
    assert status == 200, body
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def playback(token: str, device: str = DEVICE_A, caps: str | None = "STD_RES,HI_FI,HI_RES"
             ) -> dict[str, str]:
    headers = {**auth(token), "X-Amzn-Device-Id": device, "X-Amzn-Audio-DRMType": "WIDEVINE"}
    if caps is not None:
        headers["X-Amzn-Audio-Device-Capability"] = caps
    return headers


async def get_doc(http: aiohttp.ClientSession, url: str, headers: dict[str, str]
                  ) -> dict[str, Any]:
    async with http.get(url, headers=headers) as r:
        assert r.status == 200, (url, r.status, await r.text())
        doc: dict[str, Any] = await r.json()
        return doc


def lookup(doc: dict[str, Any], ref: str) -> tuple[str, dict[str, Any]]:
    """A local reference '#name' -> (dictionary name, object); bare '#' is the result."""
    name = ref.lstrip("#") or doc["result"].lstrip("#")
    for key, table in doc.items():
        if isinstance(table, dict) and name in table:
            return key, table[name]
    raise KeyError(ref)


async def follow(http: aiohttp.ClientSession, doc_url: str, ref: str,
                 headers: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Resolve a remote reference against `doc_url`: (new doc url, doc, target object)."""
    url, fragment = urldefrag(urljoin(doc_url, ref))
    doc = await get_doc(http, url, headers)
    _, obj = lookup(doc, "#" + fragment if fragment else "#")
    return url, doc, obj


async def first_track(http: aiohttp.ClientSession, sb: Sandbox, token: str,
                      index: int = 0) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Walk root -> albums -> first album -> its chunk; return (chunk url, chunk, instance)."""
    h = auth(token)
    root_url = sb.base_url + "/"
    root = await get_doc(http, root_url, h)
    _, catalog = lookup(root, root["result"])
    _, item = lookup(root, catalog["items"][0])
    _, summary = lookup(root, item["navigationNodeSummary"])
    albums_url, albums, albums_desc = await follow(http, root_url, summary["description"], h)
    _, item = lookup(albums, albums_desc["items"][0])
    _, summary = lookup(albums, item["navigationNodeSummary"])
    album_url, album, album_desc = await follow(http, albums_url, summary["description"], h)
    _, item = lookup(album, album_desc["items"][index])
    _, playable = lookup(album, item["playable"])
    pointer = playable["naturalTrackPointer"]
    chunk_url, chunk_doc, chunk = await follow(http, album_url, pointer["chunk"], h)
    _, instance = lookup(chunk_doc, chunk["trackInstances"][pointer["indexWithinChunk"]])
    return chunk_url, chunk_doc, instance


async def track_definition(http: aiohttp.ClientSession, chunk_url: str,
                           instance: dict[str, Any], headers: dict[str, str]
                           ) -> dict[str, Any]:
    _, _, definition = await follow(http, chunk_url, instance["trackDefinition"], headers)
    return definition


def event(kind: str, position: int = 0, played: int = 0, reason: str | None = None
          ) -> dict[str, Any]:
    return {"eventType": kind, "trackPosition": position,
            "wallClockTime": "2026-01-01T12:00:00.000Z", "playedDuration": played,
            "audioQuality": "SD", "drmType": "WIDEVINE", "reason": reason}
