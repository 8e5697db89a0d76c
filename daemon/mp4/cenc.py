"""Common Encryption (ISO/IEC 23001-7) for fragmented MP4: decrypt, and the mirror encryptor.

Decryption (what the player uses, per segment, in a worker thread)::

    decrypt_init(init: bytes) -> bytes
        Clear init: protected sample entries renamed to their `frma` format, `sinf` and all
        `pssh` boxes removed, ancestor sizes fixed.
    decrypt_segment(init: bytes, segment: bytes, keys: Mapping[bytes, bytes]) -> bytes
        Clear media segment (same length): samples decrypted in place, `senc`/`saiz`/`saio`
        and PIFF `uuid` boxes renamed to `free`. `init` is the original (protected) init;
        `keys` maps 16-byte KID -> 16-byte key. Schemes `cenc` (AES-CTR, 8/16-byte IVs,
        subsamples) and `cbcs` (AES-CBC, pattern, constant or per-sample IVs). Fragments whose
        sample description is clear (clear lead) pass through untouched.
    Decryptor(init, keys)       parses the init once; .init() -> clear init,
                                .segment(segment) -> clear segment (a copy);
                                .decrypt_into(buf, length) decrypts a bytearray in place
                                and returns that same object. Use it when streaming.

Encryption (sandbox content and round-trip tests)::

    encrypt_init(init, *, scheme, kid, iv_size=None, constant_iv=None, pattern=None,
                 clear_lead=False, pssh_boxes=(), track_ids=None) -> bytes
        Turns a clear init into a protected one: each clear sample entry becomes `enca`/`encv`
        with sinf(frma, schm, schi/tenc). With clear_lead=True the clear entry is kept as
        sample description 2 (the protected one is 1). `kid` is one 16-byte KID or a mapping
        track_ID -> KID. `iv_size` 8 or 16 (default 8 for cenc, 16 for cbcs); `constant_iv`
        (cbcs only, 8/16 bytes) makes per-sample IV size 0. `pattern` is (crypt, skip) in
        16-byte blocks (tenc version 1); cbcs defaults to (0, 0) = every whole block, the
        audio case. Use (1, 9) only together with subsamples: FFmpeg ignores the pattern on
        samples without a subsample map. `pssh_boxes` (whole boxes, see
        daemon.mp4.pssh.build_pssh) are appended to `moov`. `track_ids` limits which tracks
        are protected (default: all).
    encrypt_segment(init, segment, key, *, scheme=None, iv=None, clear=False,
                    subsamples=None) -> bytes
        `init` is the *protected* init from encrypt_init. `key` is the 16-byte key (or a mapping
        KID -> key). `iv` is the first per-sample IV (8 or 16 bytes, as tenc says; random when
        None; sample n uses iv + n, in the high 64 bits for 16-byte IVs); use a fresh IV per
        segment. clear=True makes a clear-lead fragment that points at the clear description.
        `subsamples(sample_index, size) -> [(clear, protected), ...]` writes a subsample map.
        `scheme`, when given, must match the init's.
    build_pssh(system_id, kids=(), data=b"", version=None) -> bytes   (re-exported)

Helpers: default_kids(init) -> [KID, ...]; protected_tracks(init) -> {track_ID: TrackInfo}
(scheme, tenc, trex per sample description); daemon.mp4.audio.audio_formats(init) for the
real sample rate / channels / bits.

Every malformed input raises MediaError; everything about keys, schemes and sample
encryption info raises DecryptError. Key bytes never appear in a message.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.core.errors import DecryptError
from daemon.mp4.box import Box, iter_headers, parse_box, parse_boxes, serialise
from daemon.mp4.crypto import SLACK, SUPPORTED_SCHEMES, aes, cbcs_sample, cenc_sample
from daemon.mp4.encrypt import encrypt_init, encrypt_segment
from daemon.mp4.fields import Cursor
from daemon.mp4.fragment_fields import (
    SampleAux,
    parse_aux,
    parse_saio,
    parse_saiz,
    parse_sbgp,
    parse_senc,
)
from daemon.mp4.pssh import build_pssh
from daemon.mp4.tracks import SampleEntryInfo, TrackInfo, TrafLayout, fragment_layout, read_init

__all__ = [
    "PIFF_SENC",
    "Decryptor",
    "build_pssh",
    "decrypt_init",
    "decrypt_segment",
    "default_kids",
    "encrypt_init",
    "encrypt_segment",
    "protected_tracks",
]

PIFF_SENC = bytes.fromhex("a2394f525a9b4f14a2446c427c648df4")
_AUX_BOXES = ("senc", "saiz", "saio")


def decrypt_init(init: bytes) -> bytes:
    """A clear copy of a protected init segment (see module docstring)."""
    boxes = [b for b in parse_boxes(init) if b.type != "pssh"]
    for box in boxes:
        if box.type == "moov":
            _clear_moov(box)
    return serialise(boxes)


def _clear_moov(moov: Box) -> None:
    assert moov.children is not None
    moov.children = [c for c in moov.children if c.type != "pssh"]
    for trak in moov.find_all("trak"):
        stsd = trak.find("mdia", "minf", "stbl", "stsd")
        if stsd is None or stsd.children is None:
            continue
        for i, entry in enumerate(stsd.children):
            sinf = entry.find("sinf")
            frma = sinf.find("frma") if sinf else None
            if frma is None or entry.children is None:
                continue
            stsd.children[i] = Box(
                frma.payload.decode("latin-1"), entry.payload,
                [c for c in entry.children if c.type != "sinf"], entry.usertype, entry.trailer,
            )


def decrypt_segment(init: bytes, segment: bytes, keys: Mapping[bytes, bytes]) -> bytes:
    """Decrypt one media segment given its (protected) init and keys by KID."""
    return Decryptor(init, keys).segment(segment)


class Decryptor:
    """Parses the init once, then decrypts any number of that stream's segments."""

    def __init__(self, init: bytes, keys: Mapping[bytes, bytes]) -> None:
        self._init = bytes(init)
        _, self.tracks = read_init(self._init)
        self._keys: dict[bytes, bytes] = {}
        for kid, key in keys.items():
            if len(kid) != 16 or len(key) != 16:
                raise DecryptError("keys must map 16-byte KIDs to 16-byte keys")
            self._keys[bytes(kid)] = bytes(key)

    def __repr__(self) -> str:  # never show keys
        return f"Decryptor(tracks={sorted(self.tracks)}, kids={len(self._keys)})"

    def init(self) -> bytes:
        return decrypt_init(self._init)

    def segment(self, segment: bytes | bytearray | memoryview) -> bytes:
        """A clear copy of `segment` (one copy; `decrypt_into` makes none)."""
        buf = bytearray(len(segment) + SLACK)
        buf[: len(segment)] = segment
        self.decrypt_into(buf, len(segment))
        return bytes(memoryview(buf)[: len(segment)])

    def decrypt_into(self, buf: bytearray, length: int | None = None) -> bytearray:
        """Decrypt the segment in `buf[:length]` in place and return `buf` itself.

        `length` defaults to the whole buffer; bytes after it are room the cipher may use
        (`daemon.mp4.crypto.SLACK` of them let CBC work without any temporary)."""
        size = len(buf) if length is None else length
        if not 0 <= size <= len(buf):
            raise DecryptError(f"segment length {size} outside a {len(buf)}-byte buffer")
        view = memoryview(buf)
        try:
            for h in list(iter_headers(view, 0, size)):
                if h.type != "moof":
                    continue
                moof = parse_box(view[h.offset : h.end], "moof")
                for lay in fragment_layout(moof, h.offset, self.tracks, size):
                    self._traf(lay, h.offset, view, size)
                for box in _moof_aux_boxes(moof):
                    at = h.offset + box.offset
                    view[at + 4 : at + 8] = b"free"
        finally:
            view.release()
        return buf

    def _traf(self, lay: TrafLayout, moof_off: int, buf: memoryview, size: int) -> None:
        entry = lay.track.entries[lay.sdi - 1]
        where = f"moof/traf[track {lay.track.track_id}]"
        if entry.scheme is None:
            return  # clear lead: the fragment points at a clear sample description
        if entry.scheme not in SUPPORTED_SCHEMES:
            raise DecryptError(f"protection scheme {entry.scheme!r} is not supported",
                               box=f"{where}/sinf/schm")
        tenc = entry.tenc
        if tenc is None:
            raise DecryptError("protected sample entry without tenc", box=f"{where}/sinf")
        for sbgp_box in lay.traf.find_all("sbgp"):
            if parse_sbgp(sbgp_box.payload, f"{where}/sbgp").grouping_type == "seig":
                raise DecryptError("key rotation (seig sample groups) is not supported",
                                   box=f"{where}/sbgp", offset=moof_off + sbgp_box.offset)
        kid, iv_size = tenc.kid, tenc.per_sample_iv_size
        aux, override = _aux_info(lay, entry, buf, moof_off, where, size=size)
        if override is not None:
            iv_size, kid = override[1], override[2]
        if not tenc.is_protected and override is None:
            return
        if aux is None:
            if iv_size:
                raise DecryptError("protected fragment has no senc or saiz/saio", box=where,
                                   offset=moof_off + lay.traf.offset)
            aux = [SampleAux(b"") for _ in lay.samples]
        if len(aux) != len(lay.samples):
            raise DecryptError(
                f"{len(aux)} sample encryption entries for {len(lay.samples)} samples",
                box=f"{where}/senc", offset=moof_off + lay.traf.offset,
            )
        raw_key = self._keys.get(kid)
        if raw_key is None:
            raise DecryptError(f"no key for KID {kid.hex()}", box=where)
        key = aes(raw_key)
        for (offset, n), a in zip(lay.samples, aux, strict=True):
            iv = a.iv or tenc.constant_iv
            if not iv:
                raise DecryptError("sample has neither an IV nor a constant IV", box=where,
                                   offset=offset)
            if entry.scheme == "cenc":
                cenc_sample(buf, key, iv, offset, n, subsamples=a.subsamples,
                            where=f"{where}/senc")
            else:
                cbcs_sample(buf, key, iv, offset, n, subsamples=a.subsamples,
                            crypt=tenc.crypt_byte_block, skip=tenc.skip_byte_block,
                            encrypt=False, where=f"{where}/senc")


def _moof_aux_boxes(moof: Box) -> list[Box]:
    """Boxes that describe the encryption and must not reach the decoder (renamed free)."""
    found = []
    for child in moof.children or []:
        if child.type == "pssh":
            found.append(child)
        if child.type == "traf":
            found.extend(b for b in child.children or []
                         if b.type in _AUX_BOXES or (b.type == "uuid" and b.usertype == PIFF_SENC))
    return found


def _aux_info(
    lay: TrafLayout, entry: SampleEntryInfo, buf: memoryview, moof_off: int, where: str, *,
    size: int,
) -> tuple[list[SampleAux] | None, tuple[int, int, bytes] | None]:
    tenc = entry.tenc
    assert tenc is not None
    iv_size = tenc.per_sample_iv_size
    for b in lay.traf.children or []:
        piff = b.type == "uuid" and b.usertype == PIFF_SENC
        if b.type == "senc" or piff:
            senc = parse_senc(b.payload, iv_size, f"{where}/{b.type}",
                              moof_off + b.offset, piff=piff)
            if senc.override is not None and senc.override[1] != iv_size:
                senc = parse_senc(b.payload, senc.override[1], f"{where}/uuid",
                                  moof_off + b.offset, piff=True)
            return senc.samples, senc.override
    saiz_box, saio_box = lay.traf.find("saiz"), lay.traf.find("saio")
    if saiz_box is None or saio_box is None:
        return None, None
    saiz = parse_saiz(saiz_box.payload, f"{where}/saiz", moof_off + saiz_box.offset)
    saio = parse_saio(saio_box.payload, f"{where}/saio", moof_off + saio_box.offset)
    if saiz.sample_count != len(lay.samples):
        raise DecryptError(
            f"saiz covers {saiz.sample_count} samples, trun has {len(lay.samples)}",
            box=f"{where}/saiz", offset=moof_off + saiz_box.offset,
        )
    sizes = saiz.sizes or [saiz.default_size] * saiz.sample_count
    # one offset for all samples, or one per trun (each run's info is contiguous)
    if len(saio.offsets) == 1:
        runs = [(saio.offsets[0], sizes)]
    elif len(saio.offsets) == len(lay.truns):
        runs, first = [], 0
        for off, trun in zip(saio.offsets, lay.truns, strict=True):
            runs.append((off, sizes[first : first + len(trun.samples)]))
            first += len(trun.samples)
    else:
        raise DecryptError(f"saio has {len(saio.offsets)} offsets for {len(lay.truns)} truns",
                           box=f"{where}/saio", offset=moof_off + saio_box.offset)
    out = []
    for off, run_sizes in runs:
        pos = lay.base + off
        if pos < 0 or pos + sum(run_sizes) > size:
            raise DecryptError("saio points outside the segment", box=f"{where}/saio",
                               offset=moof_off + saio_box.offset)
        for aux_size in run_sizes:
            c = Cursor(bytes(buf[pos : pos + aux_size]), f"{where}/saio(aux)", pos)
            a = parse_aux(c, iv_size, aux_size > iv_size)
            c.end()
            out.append(a)
            pos += aux_size
    return out, None


def protected_tracks(init: bytes) -> dict[int, TrackInfo]:
    """Tracks of an init segment (for callers that want KIDs and schemes before licensing)."""
    return read_init(init)[1]


def default_kids(init: bytes) -> list[bytes]:
    """Every default KID named by the init's `tenc` boxes, in track order, without repeats."""
    kids: list[bytes] = []
    for track in read_init(init)[1].values():
        for e in track.entries:
            if e.tenc is not None and e.tenc.kid not in kids:
                kids.append(e.tenc.kid)
    return kids

