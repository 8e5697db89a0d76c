"""CENC decryption and encryption against independent references (FFmpeg via PyAV)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from daemon.core.errors import DecryptError, MediaError
from daemon.mp4 import cenc
from daemon.mp4.box import Box, iter_headers, parse_box, parse_boxes, serialise, walk
from daemon.mp4.fields import parse_tenc
from daemon.mp4.fragment_fields import parse_saio, parse_senc, parse_tfhd
from daemon.mp4.pssh import WIDEVINE, build_pssh, parse_pssh
from daemon.mp4.sidx import parse_sidx
from daemon.mp4.tracks import read_init
from tests.unit.mp4.media import Fmp4, make_fmp4, packets, pcm, split

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
KID = bytes.fromhex("0f0e0d0c0b0a09080706050403020100")
OTHER_KID = b"\x42" * 16


@pytest.fixture(scope="module")
def clear_flac() -> bytes:
    return make_fmp4("flac", rate=48000, seconds=2.0)


@pytest.fixture(scope="module")
def ffmpeg_cenc() -> bytes:
    """The same tone encrypted by FFmpeg's own mov muxer (cenc-aes-ctr)."""
    return make_fmp4("flac", rate=48000, seconds=2.0, key=KEY, kid=KID)


def decrypt_all(f: Fmp4, keys: dict[bytes, bytes]) -> bytes:
    d = cenc.Decryptor(f.init, keys)
    return d.init() + b"".join(d.segment(s) for s in f.segments)


def test_ffmpeg_cenc_decrypts_to_the_clear_stream(clear_flac: bytes, ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    assert len(enc.segments) >= 3
    assert packets(ffmpeg_cenc) != packets(clear_flac)  # really encrypted
    out = decrypt_all(enc, {KID: KEY})
    assert packets(out) == packets(clear_flac)
    assert packets(out) == packets(ffmpeg_cenc, KEY)  # FFmpeg's own decryption agrees
    assert np.array_equal(pcm(out), pcm(clear_flac))  # FLAC: bit-identical PCM


def test_functional_api_matches_decryptor(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    seg = enc.segments[1]
    assert cenc.decrypt_segment(enc.init, seg, {KID: KEY}) == cenc.Decryptor(
        enc.init, {KID: KEY}
    ).segment(seg)


def test_decrypted_init_has_no_protection(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    clear_init = cenc.decrypt_init(enc.init)
    types = [p for p, _ in walk(parse_boxes(clear_init))]
    assert not [t for t in types if t.endswith(("sinf", "pssh", "enca"))]
    assert any(t.endswith("stsd/fLaC") for t in types)


def test_decrypted_segment_keeps_layout_and_frees_aux_boxes(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    out = cenc.decrypt_segment(enc.init, enc.segments[0], {KID: KEY})
    assert len(out) == len(enc.segments[0])
    types = [p for p, _ in walk(parse_boxes(out))]
    assert "moof/traf/free" in types
    assert not [t for t in types if t.endswith(("senc", "saiz", "saio"))]


Subs = Callable[[int, int], Sequence[tuple[int, int]]] | None

CASES: list[tuple[str, dict[str, object], Subs]] = [
    ("cenc", {}, None),
    ("cenc", {"iv_size": 16}, None),
    ("cenc", {"iv_size": 8}, lambda i, n: [(3 + i % 5, n - 3 - i % 5)]),
    ("cenc", {}, lambda i, n: [(2, 20), (1, n - 23)]),
    ("cbcs", {}, None),  # whole-sample audio case, pattern 0:0, per-sample IVs
    ("cbcs", {"constant_iv": b"\x11" * 16}, None),  # what packagers write for audio
    ("cbcs", {"pattern": (1, 9)}, lambda i, n: [(7, n - 7)]),
    ("cbcs", {"pattern": (1, 9), "constant_iv": b"\x22" * 16}, lambda i, n: [(0, n)]),
    ("cbcs", {"pattern": (2, 3)}, lambda i, n: [(5, 40), (1, n - 46)]),
]


def _ids(case: tuple[str, dict[str, object], Subs]) -> str:
    scheme, kw, subs = case
    return f"{scheme}-{'-'.join(f'{k}' for k in kw)}-{'subs' if subs else 'whole'}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("clear_lead", [False, True])
def test_our_encryption_round_trips_and_ffmpeg_agrees(
    clear_flac: bytes, case: tuple[str, dict[str, object], Subs], clear_lead: bool
) -> None:
    scheme, kw, subs = case
    src = split(clear_flac)
    pssh = build_pssh(WIDEVINE, [KID], b"wv-data")
    init = cenc.encrypt_init(src.init, scheme=scheme, kid=KID, clear_lead=clear_lead,
                             pssh_boxes=[pssh], **kw)  # type: ignore[arg-type]
    ivs = read_init(init)[1][1].entries[0].tenc
    assert ivs is not None
    segs = []
    for n, seg in enumerate(src.segments):
        iv = bytes([n + 1]) * ivs.per_sample_iv_size if ivs.per_sample_iv_size else None
        segs.append(cenc.encrypt_segment(init, seg, KEY, scheme=scheme, iv=iv,
                                         clear=clear_lead and n == 0, subsamples=subs))
    enc = Fmp4(init, segs)
    ref = packets(clear_flac)
    if clear_lead:
        assert packets(enc.init + segs[0])[:2] == ref[:2]
    assert packets(enc.whole) != ref
    clear_out = decrypt_all(enc, {KID: KEY})
    assert packets(clear_out) == ref
    assert np.array_equal(pcm(clear_out), pcm(clear_flac))  # FLAC: bit-identical PCM
    if not (scheme == "cbcs" and subs is None and kw.get("pattern")):
        assert packets(enc.whole, KEY) == ref  # FFmpeg decrypts our output the same way


def test_encrypt_then_decrypt_init_restores_the_clear_init(clear_flac: bytes) -> None:
    src = split(clear_flac)
    for scheme in ("cenc", "cbcs"):
        enc_init = cenc.encrypt_init(src.init, scheme=scheme, kid=KID,
                                     pssh_boxes=[build_pssh(WIDEVINE, [KID])])
        assert cenc.decrypt_init(enc_init) == src.init


def test_encrypted_init_carries_scheme_tenc_and_pssh(clear_flac: bytes) -> None:
    src = split(clear_flac)
    pssh = build_pssh(WIDEVINE, [KID], b"payload", version=1)
    init = cenc.encrypt_init(src.init, scheme="cbcs", kid=KID, constant_iv=b"\x33" * 16,
                             pattern=(1, 9), clear_lead=True, pssh_boxes=[pssh])
    boxes = parse_boxes(init)
    moov = boxes[[b.type for b in boxes].index("moov")]
    stsd = moov.find("trak", "mdia", "minf", "stbl", "stsd")
    assert stsd is not None
    assert stsd.children is not None
    assert [e.type for e in stsd.children] == ["enca", "fLaC"]
    assert struct.unpack(">I", stsd.payload[4:8])[0] == 2
    tenc_box = stsd.children[0].find("sinf", "schi", "tenc")
    assert tenc_box is not None
    tenc = parse_tenc(tenc_box.payload)
    assert (tenc.version, tenc.crypt_byte_block, tenc.skip_byte_block) == (1, 1, 9)
    assert (tenc.per_sample_iv_size, tenc.constant_iv, tenc.kid) == (0, b"\x33" * 16, KID)
    found = moov.find("pssh")
    assert found is not None
    parsed = parse_pssh(found.to_bytes())
    assert (parsed.system_id, parsed.key_ids, parsed.data) == (WIDEVINE, (KID,), b"payload")


def test_clear_lead_fragment_points_at_the_clear_entry(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID, clear_lead=True)
    lead = cenc.encrypt_segment(init, src.segments[0], KEY, clear=True)
    later = cenc.encrypt_segment(init, src.segments[1], KEY, iv=b"\1" * 8)
    for seg, sdi in ((lead, 2), (later, 1)):
        tfhd = next(b for p, b in walk(parse_boxes(seg)) if p.endswith("tfhd"))
        assert (parse_tfhd(tfhd.payload).sample_description_index or 1) == sdi  # trex: 1
    # the clear-lead fragment's media data is untouched and decrypts to itself
    mdat = next(h for h in iter_headers(lead) if h.type == "mdat")
    orig = next(h for h in iter_headers(src.segments[0]) if h.type == "mdat")
    assert lead[mdat.offset :] == src.segments[0][orig.offset :]
    assert cenc.decrypt_segment(init, lead, {}) == lead


def test_saio_points_at_the_senc_sample_data(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    seg = cenc.encrypt_segment(init, src.segments[0], KEY, iv=b"\7" * 8)
    moof = parse_box(seg[: next(iter_headers(seg)).end])
    traf = moof.find("traf")
    assert traf is not None
    saio, senc = traf.find("saio"), traf.find("senc")
    assert saio is not None
    assert senc is not None
    off = parse_saio(saio.payload).offsets[0]
    first_iv = parse_senc(senc.payload, 8).samples[0].iv
    assert seg[off : off + 8] == first_iv == b"\7" * 8


def test_saiz_saio_path_without_senc(ffmpeg_cenc: bytes, clear_flac: bytes) -> None:
    """Hide senc (rename to free): the decryptor must find IVs through saiz/saio."""
    enc = split(ffmpeg_cenc)
    hidden = []
    for seg in enc.segments:
        buf = bytearray(seg)
        moof_h = next(iter_headers(buf))
        moof = parse_box(bytes(buf[: moof_h.end]))
        for path, box in walk([moof]):
            if path.endswith("senc"):
                buf[box.offset + 4 : box.offset + 8] = b"free"
        hidden.append(bytes(buf))
    out = decrypt_all(Fmp4(enc.init, hidden), {KID: KEY})
    assert packets(out) == packets(clear_flac)


def test_several_kids_across_tracks() -> None:
    k1, k2, i1, i2 = b"1" * 16, b"2" * 16, b"a" * 16, b"b" * 16
    clear = make_fmp4("flac", seconds=1.0, streams=2)
    src = split(clear)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid={1: i1, 2: i2})
    keys = {i1: k1, i2: k2}
    segs = [cenc.encrypt_segment(init, s, keys, iv=bytes([n]) * 8)
            for n, s in enumerate(src.segments)]
    enc = Fmp4(init, segs)
    assert packets(decrypt_all(enc, keys)) == packets(clear)
    assert packets(enc.whole, keys=keys) == packets(clear)
    with pytest.raises(DecryptError, match=i2.hex()):
        decrypt_all(enc, {i1: k1})


def test_sidx_sizes_follow_the_grown_moof(clear_flac: bytes) -> None:
    src = split(clear_flac)
    seg = src.segments[1]
    refs = struct.pack(">III", len(seg) & 0x7FFFFFFF, 1000, 0x90000000)
    sidx_payload = struct.pack(">IIIIIHH", 0, 1, 48000, 0, 0, 0, 1) + refs
    sidx = Box("sidx", sidx_payload).to_bytes()
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    out = cenc.encrypt_segment(init, sidx + seg, KEY, iv=b"\2" * 8)
    _, subs = parse_sidx(out)
    assert subs[0].last_byte + 1 == len(out)
    assert subs[0].first_byte == len(sidx)


# --- refusals ---------------------------------------------------------------------------


def test_missing_key_names_the_kid_and_never_the_key(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    with pytest.raises(DecryptError) as info:
        cenc.decrypt_segment(enc.init, enc.segments[0], {OTHER_KID: KEY})
    assert KID.hex() in str(info.value)
    assert KEY.hex() not in str(info.value)
    assert KEY.hex() not in repr(cenc.Decryptor(enc.init, {KID: KEY}))


def test_unknown_scheme_is_refused(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    init = enc.init.replace(b"schm\x00\x00\x00\x00cenc", b"schm\x00\x00\x00\x00cens")
    assert init != enc.init
    with pytest.raises(DecryptError, match="cens"):
        cenc.decrypt_segment(init, enc.segments[0], {KID: KEY})
    with pytest.raises(DecryptError, match="cbc1"):
        cenc.encrypt_init(split(make_fmp4(seconds=0.5)).init, scheme="cbc1", kid=KID)


def test_subsamples_larger_than_the_sample_are_refused(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    with pytest.raises(DecryptError, match="subsample"):
        cenc.encrypt_segment(init, src.segments[0], KEY, subsamples=lambda i, n: [(0, n + 1)])
    seg = cenc.encrypt_segment(init, src.segments[0], KEY, iv=b"\0" * 8,
                               subsamples=lambda i, n: [(1, n - 1)])
    # patch the first subsample's protected size upwards in place
    moof = parse_box(seg[: next(iter_headers(seg)).end])
    senc = next(b for p, b in walk([moof]) if p.endswith("senc"))
    at = senc.offset + 8 + 4 + 4 + 8 + 2 + 2  # header, flags, count, IV, count, clear
    bad = seg[:at] + struct.pack(">I", 0x7FFFFFFF) + seg[at + 4 :]
    with pytest.raises(DecryptError, match="subsample sizes add up"):
        cenc.decrypt_segment(init, bad, {KID: KEY})


def test_senc_count_mismatch_is_refused(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    seg = cenc.encrypt_segment(init, src.segments[0], KEY, iv=b"\0" * 8)
    moof = parse_box(seg[: next(iter_headers(seg)).end])
    senc = next(b for p, b in walk([moof]) if p.endswith("senc"))
    at = senc.offset + 12
    (count,) = struct.unpack(">I", seg[at : at + 4])
    bad = seg[:at] + struct.pack(">I", count - 1) + seg[at + 4 :]
    with pytest.raises(MediaError):
        cenc.decrypt_segment(init, bad, {KID: KEY})


def test_truncated_segment_is_a_media_error(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    seg = enc.segments[0]
    for cut in (3, 20, 100, len(seg) // 2, len(seg) - 1):
        with pytest.raises(MediaError):
            cenc.decrypt_segment(enc.init, seg[:cut], {KID: KEY})


def test_clear_fragment_without_clear_entry_is_refused(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    with pytest.raises(DecryptError, match="clear_lead=True"):
        cenc.encrypt_segment(init, src.segments[0], KEY, clear=True)


def test_scheme_mismatch_and_bad_keys_are_refused(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    with pytest.raises(DecryptError, match="asked for"):
        cenc.encrypt_segment(init, src.segments[0], KEY, scheme="cbcs")
    with pytest.raises(DecryptError):
        cenc.Decryptor(init, {KID: b"short"})
    with pytest.raises(DecryptError):
        cenc.encrypt_init(src.init, scheme="cenc", kid=KID, constant_iv=b"\0" * 16)


def test_seig_key_rotation_is_refused(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    seg = enc.segments[0]
    moof_h = next(iter_headers(seg))
    moof = parse_box(seg[: moof_h.end])
    traf = moof.find("traf")
    assert traf is not None
    assert traf.children is not None
    sbgp = Box("sbgp", b"\0\0\0\0seig" + struct.pack(">III", 1, 1, 1))
    traf.children.append(sbgp)
    grown = moof.to_bytes()
    # data offsets now lag by the growth but stay inside the segment; seig is refused first
    bad = grown + seg[moof_h.end :]
    with pytest.raises(DecryptError, match="seig"):
        cenc.decrypt_segment(enc.init, bad, {KID: KEY})


def test_init_round_trips_byte_exactly(ffmpeg_cenc: bytes) -> None:
    enc = split(ffmpeg_cenc)
    assert serialise(parse_boxes(enc.init)) == enc.init
    for seg in enc.segments:
        assert serialise(parse_boxes(seg)) == seg


def test_clear_stream_passes_through(clear_flac: bytes) -> None:
    src = split(clear_flac)
    dec = cenc.Decryptor(src.init, {})
    assert dec.init() == src.init
    assert [dec.segment(s) for s in src.segments] == src.segments
    assert cenc.default_kids(src.init) == []


def test_default_kids_lists_every_track_kid(clear_flac: bytes) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cbcs", kid=KID, clear_lead=True)
    assert cenc.default_kids(init) == [KID]


def _as_piff(seg: bytes, override: bytes | None) -> bytes:
    """Move sample encryption into a PIFF uuid box (old Smooth/PlayReady layout)."""
    from daemon.mp4.fragment_fields import build_trun, parse_trun

    moof_h = next(iter_headers(seg))
    moof = parse_box(seg[: moof_h.end])
    traf = moof.find("traf")
    assert traf is not None
    assert traf.children is not None
    senc = traf.find("senc")
    assert senc is not None
    payload = senc.payload
    if override is not None:  # flags |= 1, then AlgorithmID, IV_size, KID before the count
        payload = b"\0\0\0\1" + override + payload[4:]
    kept = [c for c in traf.children if c.type not in ("senc", "saiz", "saio")]
    traf.children = [*kept, Box("uuid", payload, usertype=cenc.PIFF_SENC)]
    delta = len(moof.to_bytes()) - moof_h.size
    for c in traf.children:
        if c.type == "trun":
            trun = parse_trun(c.payload)
            assert trun.data_offset is not None
            trun.data_offset += delta
            c.payload = build_trun(trun)
    return moof.to_bytes() + seg[moof_h.end :]


@pytest.mark.parametrize("override", [None, b"\0\0\1" + b"\x08" + KID])
def test_piff_sample_encryption_box(clear_flac: bytes, override: bytes | None) -> None:
    src = split(clear_flac)
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    segs = [_as_piff(cenc.encrypt_segment(init, s, KEY, iv=bytes([n]) * 8), override)
            for n, s in enumerate(src.segments)]
    out = decrypt_all(Fmp4(init, segs), {KID: KEY})
    assert packets(out) == packets(clear_flac)
    assert b"uuid" not in b"".join(cenc.decrypt_segment(init, s, {KID: KEY})[:400] for s in segs)


def _two_truns(seg: bytes) -> bytes:
    """Split the first traf's trun into two runs, each with its own data offset."""
    from daemon.mp4.fragment_fields import Trun, build_trun, parse_trun

    moof_h = next(iter_headers(seg))
    moof = parse_box(seg[: moof_h.end])
    traf = moof.find("traf")
    assert traf is not None
    assert traf.children is not None
    i = next(n for n, c in enumerate(traf.children) if c.type == "trun")
    trun = parse_trun(traf.children[i].payload)
    k = len(trun.samples) // 2
    a = Trun(trun.version, trun.flags, trun.data_offset, trun.first_sample_flags,
             trun.samples[:k])
    b = Trun(trun.version, trun.flags & ~0x4, 0, None, trun.samples[k:])
    traf.children[i : i + 1] = [Box("trun", build_trun(a)), Box("trun", build_trun(b))]
    assert a.data_offset is not None
    a.data_offset += len(moof.to_bytes()) - moof_h.size
    b.data_offset = a.data_offset + sum(size or 0 for _, size, _, _ in a.samples)
    traf.children[i : i + 2] = [Box("trun", build_trun(a)), Box("trun", build_trun(b))]
    return moof.to_bytes() + seg[moof_h.end :]


def test_several_truns_and_per_trun_saio(clear_flac: bytes) -> None:
    from daemon.mp4.fragment_fields import (
        Saio,
        build_saio,
        build_trun,
        parse_saio,
        parse_saiz,
        parse_trun,
    )

    src = split(clear_flac)
    two = [_two_truns(s) for s in src.segments]
    assert packets(src.init + b"".join(two)) == packets(clear_flac)  # still valid clear fMP4
    init = cenc.encrypt_init(src.init, scheme="cenc", kid=KID)
    enc = [cenc.encrypt_segment(init, s, KEY, iv=bytes([n]) * 8, subsamples=lambda i, n: [(2,
           n - 2)]) for n, s in enumerate(two)]
    assert packets(decrypt_all(Fmp4(init, enc), {KID: KEY})) == packets(clear_flac)
    assert packets(init + b"".join(enc), KEY) == packets(clear_flac)
    # now hide senc and give saio one offset per trun
    per_trun = []
    for seg in enc:
        moof_h = next(iter_headers(seg))
        moof = parse_box(seg[: moof_h.end])
        traf = moof.find("traf")
        assert traf is not None
        assert traf.children is not None
        saiz, saio = traf.find("saiz"), traf.find("saio")
        assert saiz is not None
        assert saio is not None
        sizes = parse_saiz(saiz.payload)
        per = sizes.sizes or [sizes.default_size] * sizes.sample_count
        k = sum(1 for c in traf.children if c.type == "trun")
        assert k == 2
        first_run = len(per) // 2
        off = parse_saio(saio.payload).offsets[0]
        saio.payload = build_saio(Saio(offsets=[off, off + sum(per[:first_run])]))
        grow = len(moof.to_bytes()) - moof_h.size  # senc sits before saio: only media moves
        for c in traf.children:
            if c.type == "trun":
                t = parse_trun(c.payload)
                assert t.data_offset is not None
                t.data_offset += grow
                c.payload = build_trun(t)
        out = bytearray(moof.to_bytes() + seg[moof_h.end :])
        senc = traf.find("senc")
        assert senc is not None
        out[senc.offset + 4 : senc.offset + 8] = b"free"
        per_trun.append(bytes(out))
    assert packets(decrypt_all(Fmp4(init, per_trun), {KID: KEY})) == packets(clear_flac)
