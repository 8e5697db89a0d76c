"""`speakerd probe MPD_URL_OR_FILE`: show the parsed manifest, segment plan and selection.

For people and scripts checking what the speaker would play and why: the manifest summary,
each Representation's segment plan (SegmentBase indexes are fetched when the source is a
URL), and the selection with one structured verdict per Representation. `--json` prints one
JSON document instead. Exit codes: 0 ok, 65 bad manifest, 66 missing file, 69 fetch failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from daemon.core.errors import ManifestError, MediaError
from daemon.core.tiers import Capability
from daemon.dash import parse_mpd, plan_segments, resolve_index
from daemon.dash.model import Manifest
from daemon.dash.segments import SegmentPlan
from daemon.dash.select import DECODERS, OutputFormats, Selection, select
from daemon.dash.xmlsafe import DEFAULT_MAX_BYTES

EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE = 65, 66, 69
FETCH_TIMEOUT = 15.0
SHOWN_SEGMENTS = 3


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("probe", help="parse an MPD and explain what would be played",
                              description=__doc__)
    p.add_argument("source", metavar="MPD_URL_OR_FILE")
    p.add_argument("--capabilities", default=",".join(c.value for c in Capability),
                   help="comma-separated: STD_RES,HI_FI,HI_RES,THREE_DIMENSIONAL,REAL_AUDIO_360")
    p.add_argument("--decoders", default=None,
                   help="comma-separated decoder names (default: those PyAV provides)")
    p.add_argument("--max-rate", type=int, default=192000, help="output max sample rate (Hz)")
    p.add_argument("--max-bits", type=int, default=24, help="output max bit depth")
    p.add_argument("--max-channels", type=int, default=2, help="output max channels")
    p.add_argument("--bandwidth", type=int, default=None, help="bandwidth estimate (bit/s)")
    p.add_argument("--base-url", default=None, help="base URL for a manifest read from a file")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    try:
        text, base = _load(args.source, args.base_url)
        manifest = parse_mpd(text, base)
    except FileNotFoundError:
        print(f"speakerd probe: no such file: {args.source}", file=sys.stderr)
        return EX_NOINPUT
    except OSError as exc:
        print(f"speakerd probe: cannot fetch {args.source}: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except ManifestError as exc:
        print(f"speakerd probe: {exc}", file=sys.stderr)
        return EX_DATAERR
    decoders = (_split(args.decoders) if args.decoders is not None else sorted(_pyav_decoders()))
    output = OutputFormats(args.max_rate, args.max_bits, args.max_channels)
    plans: list[list[dict[str, Any]]] = []
    selections: list[Selection] = []
    for period in manifest.periods:
        rows = []
        for rep in period.representations:
            try:
                plan = plan_segments(manifest, period, rep)
                if plan.needs_index and base.startswith(("http://", "https://")):
                    plan = _fetch_index(plan)
                rows.append(_plan_json(plan))
            except (ManifestError, MediaError, OSError) as exc:
                rows.append({"representation": rep.id, "error": str(exc)})
        plans.append(rows)
        selections.append(select(period, capabilities=_split(args.capabilities),
                                 decoders=decoders, output=output,
                                 bandwidth_bps=args.bandwidth))
    doc = _document(manifest, plans, selections, decoders)
    if args.json:
        json.dump(doc, stream, indent=2)
        stream.write("\n")
    else:
        _print_text(doc, stream)
    return 0


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _pyav_decoders() -> set[str]:
    try:
        import av
    except ImportError:
        return set()
    found = set()
    for name in {n for names in DECODERS.values() for n in names}:
        try:
            av.Codec(name, "r")
        except Exception:  # noqa: S112 - PyAV raises several types for "unknown"
            continue
        found.add(name)
    return found


def _load(source: str, base_url: str | None) -> tuple[bytes, str]:
    if source.startswith(("http://", "https://")):
        req = urllib.request.Request(source, headers={"User-Agent": "speakerd-probe"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:  # noqa: S310
            body: bytes = resp.read(DEFAULT_MAX_BYTES + 1)
            return body, base_url or resp.geturl()
    path = Path(source)
    with path.open("rb") as fh:
        body = fh.read(DEFAULT_MAX_BYTES + 1)
    return body, base_url or path.resolve().as_uri()


def _fetch_index(plan: SegmentPlan) -> SegmentPlan:
    assert plan.index is not None
    assert plan.index.byte_range is not None
    first, last = plan.index.byte_range
    if last - first > 1024 * 1024:
        raise ManifestError("indexRange larger than 1 MiB", element=plan.representation_id)
    req = urllib.request.Request(  # noqa: S310 - the manifest named it; http(s) or file
        plan.index.url, headers={"Range": f"bytes={first}-{last}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:  # noqa: S310
            data: bytes = resp.read(last - first + 1)
    except urllib.error.URLError as exc:
        raise OSError(str(exc)) from exc
    return resolve_index(plan, data)


def _seg_json(s: Any) -> dict[str, Any]:
    return {"url": s.url, "alternatives": list(s.urls[1:]), "start": round(s.start, 6),
            "duration": round(s.duration, 6), "range": list(s.byte_range) if s.byte_range
            else None, "number": s.number}


def _plan_json(plan: SegmentPlan) -> dict[str, Any]:
    return {
        "representation": plan.representation_id,
        "init": _seg_json(plan.init) if plan.init else None,
        "index": _seg_json(plan.index) if plan.index else None,
        "count": len(plan.segments),
        "total_duration": round(sum(s.duration for s in plan.segments), 6),
        "first": [_seg_json(s) for s in plan.segments[:SHOWN_SEGMENTS]],
        "last": _seg_json(plan.segments[-1]) if plan.segments else None,
    }


def _document(manifest: Manifest, plans: list[list[dict[str, Any]]],
              selections: list[Selection], decoders: list[str]) -> dict[str, Any]:
    periods = []
    for period, rows, sel in zip(manifest.periods, plans, selections, strict=True):
        reps = [{
            "id": r.id, "codecs": r.codecs, "mime_type": r.mime_type, "bandwidth": r.bandwidth,
            "sample_rate": r.audio_sampling_rate, "bit_depth": r.bit_depth,
            "channels": r.channels, "protection": r.protection_scheme,
            "default_kid": r.default_kid.hex() if r.default_kid else None,
            "drm": sorted({c.kind for c in r.content_protection} - {"mp4protection"}),
            "license_url": r.license_url(),
            "addressing": r.segment_info.kind, "base_urls": [b.url for b in r.base_urls],
        } for r in period.representations]
        periods.append({
            "id": period.id, "start": float(period.start),
            "duration": float(period.duration) if period.duration is not None else None,
            "representations": reps, "segment_plans": rows, "selection": sel.explain(),
        })
    dur = manifest.duration
    return {"url": manifest.url, "type": manifest.type, "dynamic": manifest.dynamic,
            "duration": float(dur) if dur is not None else None, "decoders": decoders,
            "warnings": list(manifest.warnings), "periods": periods}


def _print_text(doc: dict[str, Any], out: TextIO) -> None:
    w = out.write
    w(f"Manifest {doc['url']}\n  type {doc['type']}, duration {doc['duration']} s, "
      f"decoders {', '.join(doc['decoders']) or 'none'}\n")
    for warning in doc["warnings"]:
        w(f"  warning: {warning}\n")
    for i, p in enumerate(doc["periods"]):
        w(f"\nPeriod {i} (id {p['id']}) start {p['start']} s, duration {p['duration']} s\n")
        for r in p["representations"]:
            w(f"  {r['id']:<16} {r['codecs']:<12} {r['bandwidth']:>9} bps "
              f"{r['sample_rate'] or '?'} Hz {r['bit_depth'] or '?'} bit "
              f"{r['channels'] or '?'} ch  {r['protection'] or 'clear'} {','.join(r['drm'])}\n")
        w("  segment plans:\n")
        for row in p["segment_plans"]:
            if "error" in row:
                w(f"    {row['representation']}: ERROR {row['error']}\n")
                continue
            init = row["init"]["url"] if row["init"] else "-"
            w(f"    {row['representation']}: {row['count']} segments, "
              f"{row['total_duration']} s, init {init}\n")
            for s in row["first"]:
                rng = f" bytes {s['range'][0]}-{s['range'][1]}" if s["range"] else ""
                w(f"      {s['start']:>10.3f}s +{s['duration']:.3f}s {s['url']}{rng}\n")
        sel = p["selection"]
        w(f"  selection: {sel['chosen'] or 'NOTHING'} ({sel['tier']}) - {sel['reason']}: "
          f"{sel['detail']}\n  ladder: {', '.join(sel['ladder']) or '-'}\n")
        for v in sel["verdicts"]:
            mark = "ok " if v["playable"] else "no "
            w(f"    {mark}{v['representation_id']:<16} {v['code']:<14} {v['detail']}\n")

