"""Media core throughput: CENC decryption against the AES ceiling, and MPD parse time.

    .venv/bin/python -m bench media

Decrypt rows time the player's path (copy into a buffer, `Decryptor.decrypt_into`) over
every segment of 8 s of content encrypted by the
project's encryptor (MB/s of segment bytes). The ceiling rows are plain `cryptography`
AES-128-CTR / AES-128-CBC over 16 MiB in 64 KiB updates of one context, same machine. The
MPD rows parse a manifest with a 10 000-entry SegmentTimeline and expand its segment plan.
Medians of several repetitions; results also go to bench/results/bench_media.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.dash import parse_mpd, plan_segments
from daemon.mp4 import cenc
from daemon.mp4.crypto import SLACK
from tests.unit.mp4.media import make_fmp4, split

KEY = bytes(range(16))
KID = bytes(range(16, 32))
REPEATS = 7


def _median(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _ceiling() -> list[dict[str, object]]:
    """Raw AES speed: one context, 64 KiB updates (cache-sized, like segment samples)."""
    data = os.urandom(16 * 1024 * 1024)
    view = memoryview(data)
    chunk = 64 * 1024
    rows = []
    for name, mode in (("AES-128-CTR (cryptography)", modes.CTR(b"\0" * 16)),
                       ("AES-128-CBC decrypt (cryptography)", modes.CBC(b"\0" * 16))):
        def run(m: modes.CTR | modes.CBC = mode) -> None:
            ctx = Cipher(algorithms.AES(KEY), m).decryptor()
            for i in range(0, len(data), chunk):
                ctx.update(view[i : i + chunk])
            ctx.finalize()

        secs = _median(run, 5)
        rows.append({"case": name, "bytes": len(data), "seconds": secs,
                     "mb_per_s": len(data) / secs / 1e6})
    return rows


def _decrypt_rows() -> list[dict[str, object]]:
    rows = []
    sources = {
        "FLAC 24/96": split(make_fmp4("flac", rate=96000, seconds=8.0, frag_us=2_000_000)),
        "Opus 48k": split(make_fmp4("libopus", rate=48000, seconds=8.0, frag_us=2_000_000)),
    }
    cases: list[tuple[str, str, dict[str, object], object]] = [
        ("cenc", "8-byte IVs, whole samples", {}, None),
        ("cenc", "subsamples", {}, lambda i, n: [(4, n - 4)]),
        ("cbcs", "pattern 0:0, constant IV", {"constant_iv": b"\1" * 16}, None),
        ("cbcs", "pattern 1:9, subsamples", {"pattern": (1, 9)}, lambda i, n: [(4, n - 4)]),
    ]
    for label, src in sources.items():
        for scheme, desc, kw, subs in cases:
            init = cenc.encrypt_init(src.init, scheme=scheme, kid=KID, **kw)  # type: ignore[arg-type]
            ivs = cenc.protected_tracks(init)[1].entries[0].tenc
            assert ivs is not None
            segs = [cenc.encrypt_segment(init, s, KEY, subsamples=subs,  # type: ignore[arg-type]
                                         iv=bytes([n]) * ivs.per_sample_iv_size or None)
                    for n, s in enumerate(src.segments)]
            total = sum(len(s) for s in segs)
            dec = cenc.Decryptor(init, {KID: KEY})

            def run(d: cenc.Decryptor = dec, ss: list[bytes] = segs) -> None:
                for s in ss:  # what the player does: one copy into a buffer, then in place
                    buf = bytearray(len(s) + SLACK)
                    buf[: len(s)] = s
                    d.decrypt_into(buf, len(s))

            secs = _median(run)
            rows.append({"case": f"{label} {scheme} ({desc})", "bytes": total,
                         "seconds": secs, "mb_per_s": total / secs / 1e6})
    return rows


def _mpd_rows() -> list[dict[str, object]]:
    n = 10_000
    s_elems = "".join(f'<S t="{k * 96000}" d="96000"/>' for k in range(n))
    doc = (f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
           f'mediaPresentationDuration="PT{2 * n}S"><Period><AdaptationSet mimeType="audio/mp4">'
           f'<SegmentTemplate timescale="48000" media="$RepresentationID$/$Time$.m4s" '
           f'initialization="$RepresentationID$/init.mp4"><SegmentTimeline>{s_elems}'
           f'</SegmentTimeline></SegmentTemplate><Representation id="a" bandwidth="1" '
           f'codecs="opus"/></AdaptationSet></Period></MPD>')
    url = "https://cdn.example/m.mpd"
    parse_s = _median(lambda: parse_mpd(doc, url))
    m = parse_mpd(doc, url)
    p = m.periods[0]
    plan_s = _median(lambda: plan_segments(m, p, p.representations[0]))
    assert len(plan_segments(m, p, p.representations[0]).segments) == n
    return [
        {"case": f"parse_mpd, {n}-entry SegmentTimeline ({len(doc)} bytes)", "ms": parse_s * 1e3},
        {"case": f"plan_segments, {n} segments", "ms": plan_s * 1e3},
    ]


def main() -> None:
    ceiling = _ceiling()
    decrypt = _decrypt_rows()
    mpd = _mpd_rows()
    print(f"{'case':<62} {'MB/s':>10}")
    for row in ceiling + decrypt:
        print(f"{row['case']:<62} {row['mb_per_s']:>10.1f}")
    print(f"\n{'case':<62} {'ms':>10}")
    for row in mpd:
        print(f"{row['case']:<62} {row['ms']:>10.2f}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    result = {
        "benchmark": "bench_media",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "loadavg": os.getloadavg(),
        "ceiling": ceiling, "decrypt": decrypt, "mpd": mpd,
    }
    (out / "bench_media.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out / 'bench_media.json'}")


if __name__ == "__main__":
    main()
