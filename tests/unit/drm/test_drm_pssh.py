"""PSSH parsing, building, finding and choosing (daemon/drm/pssh.py)."""

from __future__ import annotations

import base64
import struct
import uuid

import pytest

from daemon.core.errors import DrmError
from daemon.drm.pssh import (
    COMMON,
    PLAYREADY,
    WIDEVINE,
    build_pssh,
    choose_pssh,
    keyids_init_data,
    parse_pssh,
    pssh_from_init_segment,
    pssh_from_mpd,
    widevine_key_ids,
    widevine_pssh,
)

K1, K2 = bytes(range(16)), bytes(range(100, 116))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


@pytest.mark.parametrize("system", [WIDEVINE, COMMON, PLAYREADY])
def test_build_then_parse_keeps_system_and_kids(system: uuid.UUID) -> None:
    box = parse_pssh(build_pssh(system, [K1, K2]))
    assert box.system_id == system
    assert box.key_ids == (K1, K2)


def test_widevine_box_agrees_with_pywidevine() -> None:
    pywidevine = pytest.importorskip("pywidevine")
    ours = build_pssh(WIDEVINE, [K1, K2])
    theirs = pywidevine.PSSH(ours)
    assert theirs.system_id == pywidevine.PSSH.SystemId.Widevine
    assert [k.bytes for k in theirs.key_ids] == [K1, K2]
    reference = pywidevine.PSSH.new(
        system_id=pywidevine.PSSH.SystemId.Widevine,
        key_ids=[uuid.UUID(bytes=K1), uuid.UUID(bytes=K2)],
    ).dump()
    assert parse_pssh(reference).key_ids == (K1, K2)


def test_widevine_data_with_other_fields_is_read() -> None:
    # algorithm=1 (varint), key_id, provider "x" (field 3), content_id (field 4), key_id
    data = b"\x08\x01" + b"\x12\x10" + K1 + b"\x1a\x01x" + b"\x22\x02ab" + b"\x12\x10" + K2
    assert widevine_key_ids(data) == [K1, K2]


def test_widevine_box_names_kids_and_scheme_in_its_data() -> None:
    pywidevine = pytest.importorskip("pywidevine")
    box = widevine_pssh([K1], "cbcs")
    assert box.version == 0
    assert parse_pssh(box.raw) == box
    theirs = pywidevine.PSSH(box.raw)
    assert [k.bytes for k in theirs.key_ids] == [K1]
    assert theirs.init_data == box.data


@pytest.mark.parametrize("data", [b"\x12\x20" + K1, b"\x12", b"\x0f", b"\x80\x80"])
def test_broken_widevine_data_is_refused(data: bytes) -> None:
    with pytest.raises(DrmError, match="protobuf"):
        widevine_key_ids(data)


def test_truncated_and_lying_boxes_are_refused() -> None:
    good = build_pssh(COMMON, [K1])
    for bad in (good[:-1], good[:20], b"\x00\x00\x00\x20moov" + good[8:], good[:28] + b"\xff" * 4):
        with pytest.raises(DrmError):
            parse_pssh(bad)
    huge_count = good[:28] + struct.pack(">I", 10**6) + good[32:]
    with pytest.raises(DrmError, match=r"KID[_ ]count"):
        parse_pssh(huge_count)


def test_init_segment_boxes_are_found_inside_moov() -> None:
    wv, pr = build_pssh(WIDEVINE, [K1]), build_pssh(PLAYREADY, [K1], b"<pr/>")
    init = _box(b"ftyp", b"iso6\x00\x00\x00\x00") + _box(
        b"moov", _box(b"mvhd", b"\x00" * 20) + pr + wv
    )
    found = pssh_from_init_segment(init)
    assert [b.system_id for b in found] == [PLAYREADY, WIDEVINE]
    with pytest.raises(DrmError, match="runs past"):
        pssh_from_init_segment(init[:-4])


def test_choose_prefers_own_system_then_kids_then_defaults() -> None:
    wv = parse_pssh(build_pssh(WIDEVINE, [K1]))
    pr = parse_pssh(build_pssh(PLAYREADY, [], b"<pr/>"))
    assert choose_pssh([pr, wv], WIDEVINE).raw == wv.raw
    common = choose_pssh([pr, wv], COMMON)
    assert parse_pssh(common.raw) == common
    assert common.key_ids == (K1,)
    built = choose_pssh([pr], WIDEVINE, [K2])
    assert parse_pssh(built.raw) == built
    assert built.key_ids == (K2,)
    with pytest.raises(DrmError, match="no PSSH for Widevine") as info:
        choose_pssh([pr], WIDEVINE)
    assert "PlayReady" in str(info.value)


def test_mpd_base64_and_keyids_json() -> None:
    text = base64.b64encode(build_pssh(WIDEVINE, [K2])).decode()
    assert pssh_from_mpd([f"\n  {text}\n"])[0].key_ids == (K2,)
    assert pssh_from_mpd([build_pssh(WIDEVINE, [K2])]) == pssh_from_mpd([text])
    with pytest.raises(DrmError, match="base64"):
        pssh_from_mpd(["@@@"])
    kid = base64.urlsafe_b64encode(K1).rstrip(b"=").decode()
    assert keyids_init_data(f'{{"kids": ["{kid}"]}}'.encode()) == [K1]
    with pytest.raises(DrmError):
        keyids_init_data(b'{"kids": ["AAAA"]}')
