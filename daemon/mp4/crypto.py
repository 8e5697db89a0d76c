"""Per-sample AES work for the `cenc` and `cbcs` schemes, in place on a bytearray.

One cipher context per sample (cenc: the CTR keystream runs on across the protected ranges
of a sample) or per protected range (cbcs: the IV restarts at each subsample). Protected
bytes are gathered with memoryview slices and ciphered in one call; no per-byte loops.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.core.errors import DecryptError

SUPPORTED_SCHEMES = ("cenc", "cbcs")


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
        buf[offset : offset + size] = ctx.update(buf[offset : offset + size])
        return
    for start, length in _ranges(offset, size, subsamples, where):
        buf[start : start + length] = ctx.update(buf[start : start + length])


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
            end = start + nblocks * 16
            buf[start:end] = ctx.update(buf[start:end])
            continue
        period = crypt + skip
        # a crypt group is ciphered only when complete (as FFmpeg and Shaka Packager do)
        spans = [
            (start + 16 * b, 16 * crypt)
            for b in range(0, nblocks, period)
            if nblocks - b >= crypt
        ]
        if not spans:
            continue
        done = ctx.update(b"".join(buf[s : s + n] for s, n in spans))
        pos = 0
        for s, n in spans:
            buf[s : s + n] = done[pos : pos + n]
            pos += n
