"""Shared constants and helpers of the DRM integration tests (a uniquely named module)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import numpy as np
from aiohttp import ClientSession, web

from daemon.core.errors import TransportError
from daemon.drm import WIDEVINE, build_pssh, denial_from_response
from daemon.mp4.box import find_first, parse_box, parse_boxes, serialise
from daemon.sandbox.licence import LicenceServerError, WidevineLicenceServer, issue_clearkey

KID_A = bytes.fromhex("0123456789abcdef0123456789abcdef")
KEY_A = bytes.fromhex("00112233445566778899aabbccddeeff")
KID_B = bytes.fromhex("fedcba9876543210fedcba9876543210")
KEY_B = bytes.fromhex("ffeeddccbbaa99887766554433221100")

RATE = 48_000
Post = Callable[[bytes], Awaitable[bytes]]


def cancel_points(step: int = 1) -> Iterator[int]:
    """Loop turns to let pass before cancelling: every `step` up to 300, then growing
    by 5% so a loaded machine still reaches completion in a bounded number of tries."""
    yield from range(0, 300, step)
    turns = 300.0
    while True:
        yield int(turns)
        turns *= 1.05


def tone(seconds: float = 1.0) -> np.ndarray[Any, Any]:
    """Stereo s16 planar test tone: 440 Hz left, 660 Hz right (catches channel swaps)."""
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]) * 12000).astype(
        np.int16
    )


def encrypted_flac_fmp4(pcm: np.ndarray[Any, Any], kid: bytes, key: bytes) -> bytes:
    """Fragmented MP4, FLAC, cenc-aes-ctr via PyAV's mov muxer; Widevine pssh added to moov."""
    import av

    buf = io.BytesIO()
    options = {
        "movflags": "+frag_keyframe+empty_moov+default_base_moof",
        "frag_duration": "250000",
        "encryption_scheme": "cenc-aes-ctr",
        "encryption_key": key.hex(),
        "encryption_kid": kid.hex(),
    }
    with av.open(buf, "w", format="mp4", options=options) as out:
        stream = out.add_stream("flac", rate=RATE, layout="stereo")
        step = RATE // 10
        for start in range(0, pcm.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start : start + step]), format="s16p", layout="stereo"
            )
            frame.sample_rate = RATE
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return add_pssh_to_moov(buf.getvalue(), build_pssh(WIDEVINE, [kid]))


def add_pssh_to_moov(mp4: bytes, pssh: bytes) -> bytes:
    """`mp4` with the whole box `pssh` appended to its moov."""
    boxes = parse_boxes(mp4)
    moov = find_first(boxes, "moov")
    if moov is None or moov.children is None:
        raise ValueError("no moov")
    moov.children.append(parse_box(pssh))
    return serialise(boxes)


def decrypt_pcm(mp4: bytes, key: bytes) -> np.ndarray[Any, Any]:
    """PyAV's own CENC decryption (the independent reference) -> planar s16 PCM."""
    import av

    with av.open(io.BytesIO(mp4), "r", options={"decryption_key": key.hex()}) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    packed = np.concatenate(frames, axis=1)
    return packed.reshape(-1, 2).T


def licence_app(
    server: WidevineLicenceServer | None, keys: Mapping[bytes, bytes]
) -> web.Application:
    """A small stand-in for the sandbox licence endpoint (AM-C24 status codes and bodies)."""

    async def widevine(request: web.Request) -> web.Response:
        assert server is not None
        body = await request.read()
        try:
            licence = await asyncio.to_thread(server.issue, body, keys)
        except LicenceServerError as exc:
            return web.json_response(exc.body(), status=exc.status)
        return web.Response(body=licence, content_type="application/octet-stream")

    async def clearkey(request: web.Request) -> web.Response:
        try:
            answer = issue_clearkey(await request.read(), keys)
        except LicenceServerError as exc:
            return web.json_response(exc.body(), status=exc.status)
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_post("/widevine", widevine)
    app.router.add_post("/clearkey", clearkey)
    return app


def poster(http: ClientSession, url: str) -> Post:
    """The callable the services client would provide: challenge in, licence out."""

    async def post(challenge: bytes) -> bytes:
        async with http.post(url, data=challenge) as resp:
            body = await resp.read()
            if resp.status == 200:
                return body
            denied = denial_from_response(resp.status, body)
            if denied is not None:
                raise denied
            raise TransportError("licence request failed", url=url, status=resp.status)

    return post
