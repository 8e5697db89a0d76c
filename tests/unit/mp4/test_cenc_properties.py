"""Property tests: encrypt -> decrypt is the identity for random keys, IVs, subsample layouts
and patterns, at the sample level and through whole segments."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.mp4 import cenc
from daemon.mp4.crypto import cbcs_sample, cenc_sample
from tests.unit.mp4.media import Fmp4, make_fmp4, packets, split

keys = st.binary(min_size=16, max_size=16)


@st.composite
def layouts(draw: st.DrawFn, size: int) -> list[tuple[int, int]] | None:
    if draw(st.booleans()):
        return None
    out: list[tuple[int, int]] = []
    left = size
    while left > 0 and len(out) < 8:
        clear = draw(st.integers(0, min(left, 0xFFFF)))
        prot = draw(st.integers(0, left - clear))
        out.append((clear, prot))
        left -= clear + prot
    if left:
        out.append((0, left)) if not out or left > 0xFFFF else out.append((left, 0))
    return out


@settings(max_examples=300)
@given(st.data())
def test_sample_level_round_trip(data: st.DataObject) -> None:
    size = data.draw(st.integers(0, 700))
    plain = data.draw(st.binary(min_size=size, max_size=size))
    key = data.draw(keys)
    subs = data.draw(layouts(size))
    scheme = data.draw(st.sampled_from(["cenc", "cbcs"]))
    iv = data.draw(st.binary(min_size=8, max_size=8) | st.binary(min_size=16, max_size=16))
    pad = data.draw(st.integers(0, 5))
    buf = bytearray(b"\xaa" * pad + plain + b"\xbb" * 3)
    view = memoryview(buf)
    group = 1  # bytes up to the first whole crypt group are always ciphered
    if scheme == "cenc":
        cenc_sample(view, key, iv, pad, size, subsamples=subs, where="t")
        encrypted = bytes(buf)
        cenc_sample(view, key, iv, pad, size, subsamples=subs, where="t")
    else:
        crypt, skip = data.draw(st.sampled_from([(0, 0), (1, 9), (1, 0), (2, 3), (5, 5)]))
        group = crypt if skip else 1
        cbcs_sample(view, key, iv, pad, size, subsamples=subs, crypt=crypt, skip=skip,
                    encrypt=True, where="t")
        encrypted = bytes(buf)
        cbcs_sample(view, key, iv, pad, size, subsamples=subs, crypt=crypt, skip=skip,
                    encrypt=False, where="t")
    assert bytes(buf) == b"\xaa" * pad + plain + b"\xbb" * 3
    if size >= 16 * group and subs is None:
        assert encrypted[pad : pad + 16] != plain[:16]  # something really was ciphered


@cache
def source() -> Fmp4:
    return split(make_fmp4("flac", rate=22050, seconds=0.6, frag_us=200_000))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_segment_level_round_trip(data: st.DataObject) -> None:
    src = source()
    key, kid = data.draw(keys), data.draw(keys)
    scheme = data.draw(st.sampled_from(["cenc", "cbcs"]))
    kw: dict[str, object] = {}
    if scheme == "cbcs":
        kw["pattern"] = data.draw(st.sampled_from([(0, 0), (1, 9), (3, 7)]))
        if data.draw(st.booleans()):
            kw["constant_iv"] = data.draw(keys)
    else:
        kw["iv_size"] = data.draw(st.sampled_from([8, 16]))
    init = cenc.encrypt_init(src.init, scheme=scheme, kid=kid, clear_lead=True,
                             **kw)  # type: ignore[arg-type]
    tenc = cenc.protected_tracks(init)[1].entries[0].tenc
    assert tenc is not None
    cut = data.draw(st.integers(0, 40))
    subs = (lambda i, n: [(min(cut, n), n - min(cut, n))]) if data.draw(st.booleans()) else None
    segs = []
    for n, seg in enumerate(src.segments):
        ivs = tenc.per_sample_iv_size
        iv = data.draw(st.binary(min_size=ivs, max_size=ivs)) if ivs else None
        segs.append(cenc.encrypt_segment(init, seg, key, iv=iv, subsamples=subs,
                                         clear=n == 0 and data.draw(st.booleans())))
    dec = cenc.Decryptor(init, {kid: key})
    out = [dec.segment(s) for s in segs]
    # media bytes come back exactly; only the aux boxes differ (renamed to free)
    assert packets(dec.init() + b"".join(out)) == packets(src.whole)
