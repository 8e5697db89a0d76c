"""Per-sample AES work for the `cenc` and `cbcs` schemes, in place on one writable buffer.

Nothing here copies a sample: the cipher writes its output over its input
(`update_into` on the same memory). CBC's `update_into` wants 15 bytes of room after the
bytes it ciphers; a buffer with `SLACK` spare bytes after the segment gets that room for
free, a buffer without it falls back to one temporary per protected range. The AES key
object is built once per fragment (`aes`) and shared by its samples; cenc needs one CTR
context per sample (each sample has its own IV), cbcs one CBC context per protected range
(its IV restarts at each subsample). A crypt:skip pattern is gathered and scattered with
numpy strides (one gather, one cipher call, one scatter per range) instead of span lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.core.errors import DecryptError

SUPPORTED_SCHEMES = ("cenc", "cbcs")
SLACK = 16
"""Spare bytes after a segment that let CBC decrypt strictly in place (see module doc)."""


def _ranges(
    offset: int, size: int, subsamples: Sequence[tuple[int, int]] | None, where: str
) -> list[tuple[int, int]]:
    """Absolute (start, length) of the protected ranges of one sample."""
    if subsamples is None:
        return [(offset, size)]
    out = []
    pos = offset
    for clear, protected in subsamples:
        pos += clear
        if protected:
            out.append((pos, protected))
        pos += protected
    if pos - offset != size:
        raise DecryptError(
            f"subsample sizes add up to {pos - offset} bytes but the sample has {size}",
            box=where, offset=offset,
        )
    return out


def aes(key: bytes | algorithms.AES) -> algorithms.AES:
    """An AES key object; build it once per fragment and pass it to the sample functions."""
    return key if isinstance(key, algorithms.AES) else algorithms.AES(key)


def _in_place(ctx: Any, buf: memoryview, start: int, end: int, *, block: bool) -> None:
    """Cipher buf[start:end] over itself; `block` ciphers need 15 bytes of room after it."""
    room = end + 15 if block else end
    if room <= len(buf):
        ctx.update_into(buf[start:end], buf[start:room])
    else:  # no slack after the segment: one temporary for this range
        buf[start:end] = ctx.update(buf[start:end])


def cenc_sample(
    buf: memoryview, key: bytes | algorithms.AES, iv: bytes, offset: int, size: int, *,
    subsamples: Sequence[tuple[int, int]] | None, where: str,
) -> None:
    """AES-CTR over the protected bytes of one sample (same operation both ways)."""
    if len(iv) == 8:
        iv += b"\0" * 8
    elif len(iv) != 16:
        raise DecryptError(f"cenc needs an 8- or 16-byte IV, got {len(iv)}", box=where,
                           offset=offset)
    ctx = Cipher(aes(key), modes.CTR(iv)).encryptor()
    if subsamples is None:  # the common audio case: the whole sample
        _in_place(ctx, buf, offset, offset + size, block=True)
        return
    for start, length in _ranges(offset, size, subsamples, where):
        _in_place(ctx, buf, start, start + length, block=True)


def cbcs_sample(
    buf: memoryview, key: bytes | algorithms.AES, iv: bytes, offset: int, size: int, *,
    subsamples: Sequence[tuple[int, int]] | None, crypt: int, skip: int, encrypt: bool,
    where: str,
) -> None:
    """AES-CBC with pattern over each protected range; the IV restarts per range and a
    trailing partial block stays clear, as does a trailing incomplete crypt group. A pattern
    with no skip (0:0, N:0) ciphers every whole block."""
    ranges = [(offset, size)] if subsamples is None else _ranges(offset, size, subsamples, where)
    if len(iv) != 16:
        if len(iv) != 8:
            raise DecryptError(f"cbcs needs an 8- or 16-byte IV, got {len(iv)}", box=where,
                               offset=offset)
        iv = iv + b"\0" * 8  # an 8-byte constant IV is zero-extended
    algo = aes(key)
    for start, length in ranges:
        nblocks = length // 16
        if nblocks == 0:
            continue
        cipher = Cipher(algo, modes.CBC(iv))
        ctx = cipher.encryptor() if encrypt else cipher.decryptor()
        if skip == 0 or crypt == 0:
            _in_place(ctx, buf, start, start + nblocks * 16, block=True)
            continue
        _pattern(ctx, buf, start, nblocks, crypt=crypt, skip=skip)


def _pattern(ctx: Any, buf: memoryview, start: int, nblocks: int, *, crypt: int, skip: int
             ) -> None:
    """The crypt blocks of each crypt+skip group, chained as one CBC run: gathered by a
    strided view, ciphered in one call, scattered back. A crypt group is ciphered only when
    complete (as FFmpeg and Shaka Packager do)."""
    import numpy as np

    period = crypt + skip
    groups, rest = divmod(nblocks, period)
    tail = rest >= crypt  # the last, shorter group still has a whole crypt part
    if groups == 0 and not tail:
        return
    arr = np.frombuffer(buf, dtype=np.uint8)
    width = 16 * crypt
    full = arr[start : start + groups * period * 16].reshape(groups, period * 16)[:, :width]
    tail_at = start + groups * period * 16
    gathered = full.tobytes() + (bytes(buf[tail_at : tail_at + width]) if tail else b"")
    done = np.frombuffer(ctx.update(gathered), dtype=np.uint8)
    full[:] = done[: groups * width].reshape(groups, width)
    if tail:
        arr[tail_at : tail_at + width] = done[groups * width :]
