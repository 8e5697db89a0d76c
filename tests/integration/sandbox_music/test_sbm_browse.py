"""Browse documents (spec §4), images (AM-C13), search, availability, and bad input."""

from __future__ import annotations

import struct
from typing import Any
from urllib.parse import urldefrag, urljoin

import aiohttp

from daemon.sandbox.server import Sandbox
from tests.integration.sandbox_music.conftest import MakeSandbox
from tests.integration.sandbox_music.sbm_helpers import (
    auth,
    follow,
    get_doc,
    lookup,
    sign_in,
)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def _walk_container(http: aiohttp.ClientSession, url: str, doc: dict[str, Any],
                          desc: dict[str, Any], h: dict[str, str]) -> list[str]:
    """Follow every item of a node to its container and collect the track tags."""
    tags: list[str] = []
    for item_ref in desc["items"]:
        _, item = lookup(doc, item_ref)
        _, summary = lookup(doc, item["navigationNodeSummary"])
        c_url, c_doc, c_desc = await follow(http, url, summary["description"], h)
        _, first = lookup(c_doc, c_desc["items"][0])
        _, playable = lookup(c_doc, first["playable"])
        chunk_url, chunk_doc, chunk = await follow(
            http, c_url, playable["naturalTrackPointer"]["chunk"], h)
        for inst_ref in chunk["trackInstances"]:
            _, inst = lookup(chunk_doc, inst_ref)
            tags.append(urldefrag(urljoin(chunk_url, inst["trackDefinition"]))[0])
    return tags


async def test_default_catalog_by_following_links(http: aiohttp.ClientSession,
                                                   make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(catalog="default", generate_content=False, shuffle_uris=True)
    h = auth((await sign_in(http, sb))["access_token"])
    root_url = sb.base_url + "/"
    root = await get_doc(http, root_url, h)
    _, catalog = lookup(root, root["result"])
    nodes = {}
    for item_ref in catalog["items"]:
        _, item = lookup(root, item_ref)
        _, summary = lookup(root, item["navigationNodeSummary"])
        nodes[item["itemLabel"]] = await follow(http, root_url, summary["description"], h)
    url, doc, desc = nodes["Albums"]
    assert "/catalog/albums/" in url
    assert not url.startswith(sb.base_url + "/catalog/")  # URI shapes vary (AM-C14)
    assert len(desc["items"]) >= 3
    album_tracks = await _walk_container(http, url, doc, desc, h)
    assert len(set(album_tracks)) >= 30
    url, doc, desc = nodes["Playlists"]
    assert len(desc["items"]) >= 1
    assert await _walk_container(http, url, doc, desc, h)
    _, _, desc = nodes["Stations"]
    assert len(desc["items"]) >= 1


async def test_images_follow_the_shrink_spec(http: aiohttp.ClientSession,
                                             sandbox: Sandbox) -> None:
    token = (await sign_in(http, sandbox))["access_token"]
    url = f"{sandbox.base_url}/catalog/albums/"

    async def image_uri(headers: dict[str, str]) -> str:
        doc = await get_doc(http, url, {**auth(token), **headers})
        _, item = lookup(doc, "#item_0")
        uri: str = item["image"]["uri"]
        return uri

    cases = [
        ({"X-Amz-Music-Images-Shrink": "navigation-node=800x800, item=120x90, *=400x400",
          "X-Amz-Music-Images-Accept": "png"}, (90, 90), "png"),
        ({"X-Amz-Music-Images-Shrink": "track=50x50, *=64x64",
          "X-Amz-Music-Images-Accept": "png"}, (64, 64), "png"),  # the * placeholder
        ({"X-Amz-Music-Images-Shrink": "item=bogus, *=3x4"}, (3, 3), "jpg"),
        ({"amzn-image-style": "SL75", "X-Amz-Music-Images-Accept": "png"}, (75, 75), "png"),
        ({"amzn-image-style": "SL77", "X-Amz-Music-Images-Accept": "png"}, (1000, 1000), "png"),
        ({}, (1000, 1000), "jpg"),
    ]
    for headers, size, ext in cases:
        uri = await image_uri(headers)
        assert uri.endswith(f"._SX{size[0]}_SY{size[1]}_.{ext}"), (headers, uri)
        async with http.get(uri) as r:
            assert r.status == 200
            data = await r.read()
        if ext == "png":
            assert r.content_type == "image/png"
            assert _png_size(data) == size
        else:
            assert r.content_type == "image/jpeg"
            assert data[:2] == b"\xff\xd8"
    async with http.get(f"{sandbox.base_url}/images/NOPE._SX10_SY10_.png") as r:
        assert r.status == 404
        assert (await r.json())["message"]


async def test_search_and_availability(http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    h = auth((await sign_in(http, sandbox))["access_token"])
    track = sandbox.music.catalog.tracks[1]
    doc = await get_doc(http, f"{sandbox.base_url}/flat_search/?keywords={track.title}", h)
    _, desc = lookup(doc, doc["result"])
    labels = [lookup(doc, ref)[1]["itemLabel"] for ref in desc["items"]]
    assert track.title in labels
    doc = await get_doc(http, f"{sandbox.base_url}/search/?keywords={track.artist.name}", h)
    assert doc["navigationNodeDescriptions"]["catalog_tracks_search_desc"]["items"]
    async with http.get(f"{sandbox.base_url}/search/", headers=h) as r:
        assert r.status == 400
    doc = await get_doc(http, f"{sandbox.base_url}/availability/?country=DE", h)
    assert doc["availabilityResponses"]["availability"] == {"available": True, "country": "DE"}
    doc = await get_doc(http, f"{sandbox.base_url}/availability/?country=ZZ", h)
    assert doc["availabilityResponses"]["availability"]["available"] is False
    async with http.get(f"{sandbox.base_url}/availability/?country=germany", headers=h) as r:
        assert r.status == 400
    async with http.head(f"{sandbox.base_url}/availability/?country=US", headers=h) as r:
        assert r.status == 200
        assert await r.read() == b""


async def test_bad_input_gets_clear_answers(http: aiohttp.ClientSession,
                                            sandbox: Sandbox) -> None:
    h = auth((await sign_in(http, sandbox))["access_token"])
    base = sandbox.base_url
    checks = [
        ("GET", "/catalog/albums/B0UNKNOWN/", None, 404),
        ("GET", "/catalog/tracks/B0UNKNOWN/", None, 400),  # playback headers come first
        ("GET", "/catalog/stations/B0UNKNOWN/chunks/0/", None, 404),
        ("GET", "/no/such/path", None, 404),
        ("DELETE", "/catalog/albums/", None, 405),
        ("POST", "/_sandbox/music/settings", b"{not json", 400),
        ("POST", "/_sandbox/music/settings", b"[1,2]", 400),
        ("POST", "/_sandbox/music/settings", b'{"tier": 5}', 400),
        ("POST", "/_sandbox/music/settings", b'{"max_streams": true}', 400),
        ("POST", "/_sandbox/lwa/approve", b'{"user_code": 7}', 400),
        ("POST", "/_sandbox/lwa/approve", b'{"user_code": "NOPE"}', 404),
        ("POST", "/_sandbox/music/compete", b"x" * (1024 * 1024 + 1), 413),
    ]
    for method, path, body, status in checks:
        async with http.request(method, base + path, data=body, headers={
                **h, "Content-Type": "application/json"}) as r:
            assert r.status == status, (method, path, r.status)
            assert r.content_type == "application/json"
            assert (await r.json())["message"], path
    async with http.get(base + "/", headers=h) as r:
        assert r.status == 200  # still alive


async def test_shuffle_variant_and_site_header(http: aiohttp.ClientSession,
                                               make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(catalog="default", generate_content=False)
    h = auth((await sign_in(http, sb))["access_token"])
    album = sb.music.catalog.albums[0]
    url = f"{sb.base_url}/catalog/albums/{album.id}/chunk/"

    async def order(query: str) -> list[str]:
        doc = await get_doc(http, url + query, {**h, "X-Amz-Music-Site": "music.amazon.de"})
        _, chunk = lookup(doc, doc["result"])
        return [lookup(doc, ref)[1]["trackDefinition"].split("/")[-2]
                for ref in chunk["trackInstances"]]

    natural = await order("")
    shuffled = await order("?shuffle=true")
    assert natural == list(album.track_ids)
    assert sorted(shuffled) == sorted(natural)
    assert shuffled != natural
    assert shuffled == await order("?shuffle=true")  # seeded: stable
    async with http.get(url, headers={**h, "X-Amz-Music-Site": "  "}) as r:
        assert r.status == 400
        assert (await r.json())["header"] == "X-Amz-Music-Site"
    async with http.get(f"{sb.base_url}/_sandbox/music/events") as r:
        assert (await r.json())["sites"]["music.amazon.de"] == 3


async def test_the_star_style_gives_placeholders_the_client_fills(
        http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
    """AM-C13b: `amzn-image-style: *` -> `._*_.` URIs; any filled `SL<n>` is served."""
    from daemon.contracts.amazon_music import fill_image_placeholder

    token = (await sign_in(http, sandbox))["access_token"]
    doc = await get_doc(http, f"{sandbox.base_url}/catalog/albums/",
                        {**auth(token), "amzn-image-style": "*",
                         "X-Amz-Music-Images-Accept": "png"})
    _, item = lookup(doc, "#item_0")
    uri: str = item["image"]["uri"]
    assert uri.endswith("._*_.png"), uri
    for side, expected in ((300, 300), (5000, 1000), (1, 30)):
        filled = fill_image_placeholder(uri, side)
        assert "*" not in filled
        async with http.get(filled) as r:
            assert r.status == 200, filled
            assert _png_size(await r.read()) == (expected, expected)
    async with http.get(uri) as r:  # the raw placeholder is not an image
        assert r.status == 404
