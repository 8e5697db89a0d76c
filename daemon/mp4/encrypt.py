"""The CENC encryptor: clear fMP4 -> `cenc` or `cbcs` (see daemon.mp4.cenc for the API).

Used by the sandbox to make protected content and by tests for round trips. Growing a `moof`
(new tfhd field, senc/saiz/saio) shifts the media data after it, so trun data offsets,
explicit base data offsets, saio offsets and any leading `sidx` are rewritten to match.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence

from daemon.core.errors import DecryptError, MediaError
from daemon.mp4.box import AUDIO_SAMPLE_ENTRIES, Box, iter_headers, parse_box
from daemon.mp4.crypto import SUPPORTED_SCHEMES, aes, cbcs_sample, cenc_sample
from daemon.mp4.fields import Tenc, build_schm, build_tenc, parse_tkhd_track_id
from daemon.mp4.fragment_fields import (
    SENC_SUBSAMPLES,
    TFHD_DEFAULT_BASE_IS_MOOF,
    TRUN_DATA_OFFSET,
    Saio,
    Saiz,
    SampleAux,
    Senc,
    build_aux,
    build_saio,
    build_saiz,
    build_senc,
    build_tfhd,
    build_trun,
)
from daemon.mp4.sidx import parse_sidx_payload
from daemon.mp4.tracks import TrafLayout, fragment_layout, read_init

SubsampleFn = Callable[[int, int], Sequence[tuple[int, int]]]


def encrypt_init(
    init: bytes,
    *,
    scheme: str,
    kid: bytes | Mapping[int, bytes],
    iv_size: int | None = None,
    constant_iv: bytes | None = None,
    pattern: tuple[int, int] | None = None,
    clear_lead: bool = False,
    pssh_boxes: Iterable[bytes] = (),
    track_ids: Iterable[int] | None = None,
) -> bytes:
    """A protected copy of a clear init segment (see daemon.mp4.cenc)."""
    if scheme not in SUPPORTED_SCHEMES:
        raise DecryptError(f"protection scheme {scheme!r} is not supported")
    if constant_iv is not None:
        if len(constant_iv) not in (8, 16) or (scheme == "cenc"):
            raise DecryptError("a constant IV (8 or 16 bytes) is only for cbcs")
        iv_size = 0
    elif iv_size is None:
        iv_size = 8 if scheme == "cenc" else 16
    if iv_size not in (0, 8, 16) or (iv_size == 0 and constant_iv is None):
        raise DecryptError(f"per-sample IV size {iv_size} is not 8 or 16")
    if scheme == "cbcs" and pattern is None:
        pattern = (0, 0)
    if pattern is not None and not all(0 <= p <= 15 for p in pattern):
        raise DecryptError(f"pattern {pattern} must be two numbers 0..15")
    pssh_list = [parse_box(p, "pssh") for p in pssh_boxes]
    if any(p.type != "pssh" for p in pssh_list):
        raise MediaError("pssh_boxes must be whole pssh boxes", box="pssh")
    boxes, tracks = read_init(init)
    wanted = set(tracks) if track_ids is None else set(track_ids)
    moov = next(b for b in boxes if b.type == "moov")
    assert moov.children is not None
    for trak in moov.find_all("trak"):
        tid = _trak_id(trak)
        if tid not in wanted:
            continue
        track_kid = kid.get(tid) if isinstance(kid, Mapping) else kid
        if track_kid is None or len(track_kid) != 16:
            raise DecryptError(f"no 16-byte KID for track {tid}")
        tenc = Tenc(
            version=1 if pattern is not None else 0,
            crypt_byte_block=pattern[0] if pattern else 0,
            skip_byte_block=pattern[1] if pattern else 0,
            is_protected=1, per_sample_iv_size=iv_size, kid=bytes(track_kid),
            constant_iv=constant_iv or b"",
        )
        stsd = trak.find("mdia", "minf", "stbl", "stsd")
        assert stsd is not None
        assert stsd.children is not None
        if any(e.find("sinf") for e in stsd.children):
            raise MediaError("init is already protected", box="moov/trak/stsd")
        protected = [_protect(e, scheme, tenc) for e in stsd.children]
        stsd.children = protected + (list(stsd.children) if clear_lead else [])
        stsd.payload = stsd.payload[:4] + struct.pack(">I", len(stsd.children))
    moov.children.extend(pssh_list)
    return b"".join(b.to_bytes() for b in boxes)


def _trak_id(trak: Box) -> int:
    tkhd = trak.find("tkhd")
    assert tkhd is not None  # read_init has checked every trak
    return parse_tkhd_track_id(tkhd.payload)


def _protect(entry: Box, scheme: str, tenc: Tenc) -> Box:
    if entry.children is None:
        raise MediaError(f"cannot protect sample entry {entry.type!r}", box=entry.type)
    sinf = Box("sinf", b"", [
        Box("frma", entry.type.encode("latin-1")),
        Box("schm", build_schm(scheme)),
        Box("schi", b"", [Box("tenc", build_tenc(tenc))]),
    ])
    new_type = "enca" if entry.type in AUDIO_SAMPLE_ENTRIES else "encv"
    return Box(new_type, entry.payload, [*entry.children, sinf], entry.usertype, entry.trailer)


def encrypt_segment(
    init: bytes,
    segment: bytes,
    key: bytes | Mapping[bytes, bytes],
    *,
    scheme: str | None = None,
    iv: bytes | None = None,
    clear: bool = False,
    subsamples: SubsampleFn | None = None,
) -> bytes:
    """Encrypt (or mark as clear lead) every fragment of a clear media segment."""
    _, tracks = read_init(init)
    src = bytearray(segment)
    buf = memoryview(src)
    pieces: list[bytes] = []
    shift = 0  # how far everything after the current point has moved
    headers = list(iter_headers(src))
    moof_deltas: list[tuple[int, int]] = []  # (old moof offset, growth)
    for h in headers:
        if h.type != "moof":
            continue
        moof = parse_box(bytes(buf[h.offset : h.end]), "moof")
        layouts = fragment_layout(moof, h.offset, tracks, len(src))
        aux_boxes: dict[int, list[Box]] = {}
        for n, lay in enumerate(layouts):
            aux_boxes[n] = _encrypt_traf(
                lay, buf, key, scheme=scheme, iv=iv, clear=clear, subsamples=subsamples
            )
        new_moof = _rebuild_moof(
            moof, layouts, aux_boxes, old_off=h.offset, old_size=h.size, shift=shift
        )
        moof_deltas.append((h.offset, len(new_moof) - h.size))
        shift += len(new_moof) - h.size
        pieces.append(new_moof)
    # assemble the output in order, rewriting sidx sizes when present
    out: list[bytes] = []
    it = iter(pieces)
    for h in headers:
        if h.type == "moof":
            out.append(next(it))
        elif h.type == "sidx":
            out.append(_fix_sidx(bytes(buf[h.offset : h.end]), h.end, moof_deltas))
        else:
            out.append(bytes(buf[h.offset : h.end]))
    buf.release()
    return b"".join(out)


def _encrypt_traf(
    lay: TrafLayout, buf: memoryview, key: bytes | Mapping[bytes, bytes], *, scheme: str | None,
    iv: bytes | None, clear: bool, subsamples: SubsampleFn | None,
) -> list[Box]:
    entries = lay.track.entries
    where = f"moof/traf[track {lay.track.track_id}]"
    if clear:
        idx = next((e.index for e in entries if e.scheme is None), None)
        if idx is None:
            raise DecryptError("init has no clear sample entry for a clear-lead fragment "
                               "(use encrypt_init(..., clear_lead=True))", box=where)
        lay.tfhd.sample_description_index = idx
        return []
    entry = entries[lay.sdi - 1]
    if entry.scheme is None:
        entry = next((e for e in entries if e.scheme is not None), entry)
        if entry.scheme is None:
            raise DecryptError("init has no protected sample entry", box=where)
        lay.tfhd.sample_description_index = entry.index
    if entry.scheme not in SUPPORTED_SCHEMES:
        raise DecryptError(f"protection scheme {entry.scheme!r} is not supported", box=where)
    if scheme is not None and scheme != entry.scheme:
        raise DecryptError(f"init is {entry.scheme!r}, asked for {scheme!r}", box=where)
    tenc = entry.tenc
    assert tenc is not None
    if isinstance(key, Mapping):
        k = key.get(tenc.kid)
        if k is None:
            raise DecryptError(f"no key for KID {tenc.kid.hex()}", box=where)
    else:
        k = key
    if len(k) != 16:
        raise DecryptError("key must be 16 bytes", box=where)
    algo = aes(k)
    ivs = tenc.per_sample_iv_size
    if ivs:
        start = iv if iv is not None else os.urandom(ivs)
        if len(start) != ivs:
            raise DecryptError(f"iv must be {ivs} bytes as tenc says", box=where)
        base = int.from_bytes(start, "big")
        step = 1 << 64 if ivs == 16 else 1
        mod = 1 << (8 * ivs)
    aux: list[SampleAux] = []
    for n, (offset, size) in enumerate(lay.samples):
        sample_iv = ((base + n * step) % mod).to_bytes(ivs, "big") if ivs else b""
        subs = None
        if subsamples is not None:
            subs = [(int(a), int(b)) for a, b in subsamples(n, size)]
            if any(a < 0 or a > 0xFFFF or b < 0 for a, b in subs):
                raise DecryptError("subsample sizes out of range", box=where, offset=offset)
        aux.append(SampleAux(sample_iv, subs))
        the_iv = sample_iv or tenc.constant_iv
        if entry.scheme == "cenc":
            cenc_sample(buf, algo, the_iv, offset, size, subsamples=subs, where=where)
        else:
            cbcs_sample(buf, algo, the_iv, offset, size, subsamples=subs,
                        crypt=tenc.crypt_byte_block, skip=tenc.skip_byte_block, encrypt=True,
                        where=where)
    flags = SENC_SUBSAMPLES if subsamples is not None else 0
    sizes = [len(build_aux(a)) for a in aux]
    same = len(set(sizes)) <= 1
    saiz = Saiz(default_size=sizes[0] if same and sizes else 0,
                sizes=[] if same else sizes, sample_count=len(aux))
    return [
        Box("senc", build_senc(Senc(0, flags, aux))),
        Box("saiz", build_saiz(saiz)),
        Box("saio", build_saio(Saio(offsets=[0]))),
    ]


def _rebuild_moof(
    moof: Box, layouts: list[TrafLayout], aux: dict[int, list[Box]], *, old_off: int,
    old_size: int, shift: int,
) -> bytes:
    """New moof bytes with tfhd/aux boxes in place and every data offset corrected.

    `shift` is how far this moof moves (growth of earlier moofs); the data after it moves by
    shift + its own growth. Offsets relative to the moof grow by the moof's growth only.
    """
    assert moof.children is not None
    trafs = [c for c in moof.children if c.type == "traf"]
    for n, (traf, lay) in enumerate(zip(trafs, layouts, strict=True)):
        assert traf.children is not None
        kept = [c for c in traf.children if c.type not in ("senc", "saiz", "saio")]
        for c in kept:
            if c.type == "tfhd":
                c.payload = build_tfhd(lay.tfhd)
        traf.children = kept + aux[n]
    grow = len(moof.to_bytes()) - old_size
    new_off = old_off + shift
    new_bases: list[int] = []
    for n, (traf, lay) in enumerate(zip(trafs, layouts, strict=True)):
        assert traf.children is not None
        moof_based = lay.tfhd.base_data_offset is None and (
            bool(lay.tfhd.flags & TFHD_DEFAULT_BASE_IS_MOOF) or n == 0
        )
        if lay.tfhd.base_data_offset is not None:
            lay.tfhd.base_data_offset += shift + grow
        new_bases.append(new_off if moof_based else lay.base + shift + grow)
        truns = iter(lay.truns)
        for c in traf.children:
            if c.type == "tfhd":
                c.payload = build_tfhd(lay.tfhd)
            elif c.type == "trun":
                trun = next(truns)
                if moof_based and trun.flags & TRUN_DATA_OFFSET and trun.data_offset is not None:
                    trun.data_offset += grow
                    c.payload = build_trun(trun)
    for traf, base_abs in zip(trafs, new_bases, strict=True):
        senc_rel = _child_offset(moof, traf, "senc")
        if senc_rel is None:
            continue
        senc_abs = new_off + senc_rel + 16  # box header, version/flags, sample_count
        for c in traf.children or []:
            if c.type == "saio":
                c.payload = build_saio(Saio(offsets=[senc_abs - base_abs]))
    body = moof.to_bytes()
    if len(body) - old_size != grow:
        raise MediaError("moof size changed while fixing offsets", box="moof", offset=old_off)
    return body


def _child_offset(moof: Box, traf: Box, name: str) -> int | None:
    """Offset of traf's child `name` from the start of the serialised moof."""
    pos = 8
    assert moof.children is not None
    for c in moof.children:
        if c is traf:
            inner = pos + 8
            for k in traf.children or []:
                if k.type == name:
                    return inner
                inner += k.size
            return None
        pos += c.size
    return None


def _fix_sidx(sidx: bytes, sidx_end: int, deltas: list[tuple[int, int]]) -> bytes:
    """Grow each sidx reference by the growth of the moofs that lie inside it."""
    box = parse_box(sidx, "sidx")
    info = parse_sidx_payload(box.payload, "sidx", 8)
    pos = sidx_end + info.first_offset
    payload = bytearray(box.payload)
    entry0 = len(payload) - 12 * len(info.references)
    for i, ref in enumerate(info.references):
        grow = sum(d for off, d in deltas if pos <= off < pos + ref.size)
        pos += ref.size
        if grow:
            word = (ref.reference_type << 31) | (ref.size + grow)
            payload[entry0 + 12 * i : entry0 + 12 * i + 4] = struct.pack(">I", word)
    box.payload = bytes(payload)
    return box.to_bytes()

