"""Fuzz targets for the sans-IO media layers: each accepts arbitrary bytes and may raise only
the layer's own errors. Anything else (IndexError, struct.error, MemoryError, RecursionError,
a hang caught by the fuzzer's timeout) is a finding."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from daemon.core.errors import DecryptError, ManifestError, MediaError
from daemon.dash import parse_mpd, plan_segments
from daemon.mp4 import cenc
from daemon.mp4.box import parse_boxes, serialise
from daemon.mp4.pssh import WIDEVINE, build_pssh
from daemon.mp4.sidx import parse_sidx

KEY = bytes(range(16))
KID = bytes(range(16, 32))


@cache
def content() -> tuple[bytes, list[bytes], bytes, list[bytes]]:
    """(cenc init, cenc segments, cbcs init, cbcs segments) made by the project's encryptor."""
    from tests.unit.mp4.media import make_fmp4, split

    src = split(make_fmp4("flac", rate=44100, seconds=1.0, frag_us=250_000))
    out: list[object] = []
    for scheme, kw in (("cenc", {}), ("cbcs", {"pattern": (1, 9)})):
        init = cenc.encrypt_init(src.init, scheme=scheme, kid=KID, clear_lead=True,
                                 pssh_boxes=[build_pssh(WIDEVINE, [KID], b"x")],
                                 **cast(dict[str, Any], kw))
        segs = [cenc.encrypt_segment(init, s, KEY, iv=bytes([n]) * 16 if scheme == "cbcs"
                                     else bytes([n]) * 8, clear=n == 0,
                                     subsamples=(lambda i, n: [(3, n - 3)]))
                for n, s in enumerate(src.segments)]
        out += [init, segs]
    return out[0], out[1], out[2], out[3]  # type: ignore[return-value]


def box_target(data: bytes) -> None:
    try:
        boxes = parse_boxes(data)
    except MediaError:
        return
    if serialise(boxes) != data:
        raise AssertionError("parse -> serialise is not byte-identical")
    try:
        parse_sidx(data)
    except MediaError:
        pass


def decrypt_target(data: bytes) -> None:
    if not data:
        return
    cenc_init, cenc_segs, cbcs_init, cbcs_segs = content()
    mode, body = data[0] % 4, data[1:]
    init, segs = (cenc_init, cenc_segs) if mode % 2 == 0 else (cbcs_init, cbcs_segs)
    try:
        if mode < 2:
            cenc.decrypt_segment(init, body, {KID: KEY})
        else:
            cenc.decrypt_init(body)
            cenc.decrypt_segment(body, segs[1], {KID: KEY})
    except (MediaError, DecryptError):
        pass


def mpd_target(data: bytes) -> None:
    try:
        m = parse_mpd(data, "https://cdn.example/a/m.mpd")
        for p in m.periods:
            for r in p.representations:
                plan_segments(m, p, r)
    except ManifestError:
        pass


TARGETS = {"box": box_target, "decrypt": decrypt_target, "mpd": mpd_target}


def seeds(name: str) -> list[bytes]:
    """A small seed corpus per target."""
    cenc_init, cenc_segs, cbcs_init, cbcs_segs = content()
    if name == "box":
        return [cenc_init, cenc_segs[1], cbcs_init, cbcs_segs[2][:3000]]
    if name == "decrypt":
        return [b"\0" + cenc_segs[1], b"\1" + cbcs_segs[1], b"\2" + cenc_init, b"\3" + cbcs_init]
    from pathlib import Path

    here = Path(__file__).parent / "mpd_seeds"
    return [p.read_bytes() for p in sorted(here.glob("*.mpd"))]
