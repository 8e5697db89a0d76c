"""parse_mpd: MPD text -> Manifest, with inheritance, BaseURL alternatives and protection.

Elements are matched by local name; the cenc namespace is not required for `pssh` and
`default_KID` (any prefix works). Counts of Periods, AdaptationSets and Representations are
capped; every bad value raises ManifestError naming the element path and attribute.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from fractions import Fraction
from xml.etree.ElementTree import Element

from daemon.core.errors import ManifestError
from daemon.dash.model import (
    AdaptationSet,
    BaseUrl,
    ContentProtection,
    Manifest,
    Period,
    Representation,
    SegmentInfo,
    TimelineEntry,
    UrlRange,
    join_url,
)
from daemon.dash.xmlsafe import DEFAULT_MAX_BYTES, load_xml, local, parse_duration

MAX_PERIODS = 64
MAX_ADAPTATION_SETS = 64  # per Period
MAX_REPRESENTATIONS = 128  # per AdaptationSet
MAX_BASE_URLS = 16  # candidate bases per Representation after the cross-product
MAX_TIMELINE_ENTRIES = 100_000
MAX_SEGMENT_URLS = 100_000
MAX_INT = 2**63 - 1
BIT_DEPTH_SCHEMES = ("amz-music:bitdepth", "urn:amazon:music:bitdepth")
CHANNEL_SCHEME_23003 = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986 scheme
_SEGMENT_KINDS = ("SegmentTemplate", "SegmentList", "SegmentBase")


def parse_mpd(text: str | bytes, base_url: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Manifest:
    """Parse an MPD. `base_url` is the document URL after redirects (RFC 3986 §5.1.3)."""
    root = load_xml(text, max_bytes)
    return _Parser(base_url).manifest(root)


def _children(el: Element, name: str) -> list[Element]:
    return [c for c in el if isinstance(c.tag, str) and local(c.tag) == name]


def _child(el: Element, name: str) -> Element | None:
    return next(iter(_children(el, name)), None)


def _attr(el: Element, name: str) -> str | None:
    """Attribute by local name, in any namespace."""
    v = el.get(name)
    if v is not None:
        return v
    return next((val for k, val in el.attrib.items() if local(k) == name), None)


def _int(el: Element, name: str, where: str, *, lo: int = 0, hi: int = MAX_INT) -> int | None:
    raw = _attr(el, name)
    if raw is None:
        return None
    try:
        if len(raw) > 24:
            raise ValueError
        v = int(raw.strip())
    except ValueError:
        raise ManifestError(f"{name}={raw[:30]!r} is not an integer", element=where,
                            attribute=name) from None
    if not lo <= v <= hi:
        raise ManifestError(f"{name}={v} out of range {lo}..{hi}", element=where, attribute=name)
    return v


def _range(raw: str | None, where: str, name: str) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        a, b = raw.strip().split("-", 1)
        first, last = int(a), int(b)
    except ValueError:
        raise ManifestError(f"bad byte range {raw[:40]!r}", element=where, attribute=name) from None
    if not 0 <= first <= last <= MAX_INT:
        raise ManifestError(f"bad byte range {raw[:40]!r}", element=where, attribute=name)
    return first, last


def _kid(raw: str, where: str) -> bytes:
    try:
        return uuid.UUID(raw.strip()).bytes
    except ValueError:
        raise ManifestError(f"default_KID {raw[:40]!r} is not a UUID", element=where,
                            attribute="default_KID") from None


_DOLBY_MASK_SCHEMES = ("tag:dolby.com,2014:dash:audio_channel_configuration:2011",
                       "urn:dolby:dash:audio_channel_configuration:2011")
#: Dolby's 2011 mask (L C R Ls Rs Lc/Rc Lrs/Rrs Cs Ts Lsd/Rsd Lw/Rw Vhl/Vhr Vhc Lts/Rts
#: LFE2 LFE): some bits stand for a pair of channels
_DOLBY_2011_BITS = (1, 1, 1, 1, 1, 2, 2, 1, 1, 2, 2, 2, 1, 2, 1, 1)
_DOLBY_2015 = "tag:dolby.com,2015:dash:audio_channel_configuration:2015"
#: ETSI TS 103 190-2 Annex G.3: channels per speaker-group bit, least significant first
_DOLBY_2015_GROUPS = (2, 1, 2, 2, 2, 2, 1, 2, 2, 1, 1, 1, 1, 2, 1, 1, 2, 2)
_CICP = "urn:mpeg:mpegb:cicp:channelconfiguration"
#: ISO/IEC 23091-3 ChannelConfiguration index -> channel count (index 0 unused)
_CICP_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 8, 2, 3, 4, 7, 8, 24, 8, 12, 10, 12, 14, 12, 14)
_DECIMAL_SCHEMES = (CHANNEL_SCHEME_23003, "urn:dts:dash:audio_channel_configuration:2012")
MAX_CHANNELS = 64


def _channel_count(scheme: str, raw: str) -> int | None:
    """Channels from one AudioChannelConfiguration (scheme lower-cased), or None."""
    if len(raw) > 12:
        return None
    if scheme in _DECIMAL_SCHEMES or scheme == _CICP:
        if not raw.isdigit():
            return None
        value = int(raw)
        if scheme == _CICP:
            return _CICP_CHANNELS[value] or None if value < len(_CICP_CHANNELS) else None
        return value if 0 < value <= MAX_CHANNELS else None
    try:
        mask = int(raw, 16)
    except ValueError:
        return None
    if scheme in _DOLBY_MASK_SCHEMES:  # 16 bits, most significant first; also "8000"
        return sum(n for bit, n in enumerate(_DOLBY_2011_BITS) if mask >> (15 - bit) & 1) \
            or None
    if scheme == _DOLBY_2015:
        return sum(n for bit, n in enumerate(_DOLBY_2015_GROUPS) if mask >> bit & 1) or None
    return None


def _pssh_system(box: bytes) -> uuid.UUID | None:
    """The SystemID of a whole pssh box (size, 'pssh', version/flags, SystemID), or None."""
    if len(box) < 32 or box[4:8] != b"pssh":
        return None
    return uuid.UUID(bytes=box[12:28])


def _merge_protection(rep_cp: tuple[ContentProtection, ...],
                      set_cp: tuple[ContentProtection, ...],
                      where: str) -> tuple[ContentProtection, ...]:
    """The Representation's elements first, then the AdaptationSet's whose scheme it does
    not override; one default_KID at most among them (shaka-player's
    DASH_CONFLICTING_KEY_IDS)."""
    own = {c.scheme_id_uri for c in rep_cp}
    merged = rep_cp + tuple(c for c in set_cp if c.scheme_id_uri not in own)
    kids = {c.default_kid for c in merged if c.default_kid is not None}
    if len(kids) > 1:
        raise ManifestError(f"conflicting default_KID values ({len(kids)} different)",
                            element=where, attribute="default_KID")
    return merged


class _Parser:
    def __init__(self, url: str) -> None:
        self.url = url
        self.warnings: list[str] = []

    def manifest(self, mpd: Element) -> Manifest:
        where = "MPD"
        mtype = (_attr(mpd, "type") or "static").strip()
        if mtype not in ("static", "dynamic"):
            raise ManifestError(f"unknown MPD type {mtype!r}", element=where, attribute="type")
        mpd_dur = self._duration(mpd, "mediaPresentationDuration", where)
        min_buf = self._duration(mpd, "minBufferTime", where)
        bases = self._base_urls(mpd, [BaseUrl(self.url)], where)
        segs = self._seg_levels(mpd)
        period_els = _children(mpd, "Period")
        if not period_els:
            raise ManifestError("MPD has no Period", element=where)
        if len(period_els) > MAX_PERIODS:
            raise ManifestError(f"{len(period_els)} Periods exceed the limit of {MAX_PERIODS}",
                                element=where)
        starts: list[Fraction | None] = []
        durations: list[Fraction | None] = []
        prev_end: Fraction | None = Fraction(0)
        for i, p in enumerate(period_els):
            pw = f"{where}/Period[{i}]"
            start = self._duration(p, "start", pw)
            if start is None:
                start = prev_end if prev_end is not None else None
            if start is None:
                raise ManifestError("Period start cannot be determined", element=pw)
            dur = self._duration(p, "duration", pw)
            starts.append(start)
            durations.append(dur)
            prev_end = start + dur if dur is not None else None
        periods = []
        for i, p in enumerate(period_els):
            start = starts[i]
            assert start is not None
            dur = durations[i]
            if dur is None:
                nxt = starts[i + 1] if i + 1 < len(starts) else None
                if nxt is not None:
                    dur = nxt - start
                elif mpd_dur is not None:
                    dur = mpd_dur - start
            if dur is not None and dur < 0:
                raise ManifestError("Period has a negative duration",
                                    element=f"{where}/Period[{i}]")
            periods.append(self._period(p, i, start, dur, bases=bases, mpd_segs=segs))
        return Manifest(self.url, mtype, _attr(mpd, "profiles") or "", mpd_dur, min_buf,
                        tuple(periods), tuple(self.warnings))

    def _duration(self, el: Element, name: str, where: str) -> Fraction | None:
        raw = _attr(el, name)
        return None if raw is None else parse_duration(raw, where, name)

    def _base_urls(self, el: Element, parents: list[BaseUrl], where: str) -> list[BaseUrl]:
        found = _children(el, "BaseURL")
        if not found:
            return parents
        # child-major (ExoPlayer's order): each alternative at this level, resolved against
        # every parent in turn; an absolute one ignores its parents and appears once
        out: list[BaseUrl] = []
        for b in found:
            text = (b.text or "").strip()
            own = _attr(b, "serviceLocation")
            absolute = _ABSOLUTE.match(text) is not None
            for parent in parents[:1] if absolute else parents:
                url = BaseUrl(join_url(parent.url, text, f"{where}/BaseURL"),
                              own if absolute else own or parent.service_location)
                if url not in out:
                    out.append(url)
                if len(out) > MAX_BASE_URLS:
                    raise ManifestError(f"more than {MAX_BASE_URLS} BaseURL combinations",
                                        element=f"{where}/BaseURL")
        return out

    def _seg_levels(self, el: Element) -> dict[str, Element]:
        return {k: c for k in _SEGMENT_KINDS if (c := _child(el, k)) is not None}

    def _period(self, p: Element, index: int, start: Fraction, dur: Fraction | None, *,
                bases: list[BaseUrl], mpd_segs: dict[str, Element]) -> Period:
        where = f"MPD/Period[{index}]"
        bases = self._base_urls(p, bases, where)
        levels = [mpd_segs, self._seg_levels(p)]
        sets_el = _children(p, "AdaptationSet")
        if len(sets_el) > MAX_ADAPTATION_SETS:
            raise ManifestError(f"{len(sets_el)} AdaptationSets exceed the limit of "
                                f"{MAX_ADAPTATION_SETS}", element=where)
        sets = tuple(self._adaptation_set(a, f"{where}/AdaptationSet[{i}]", bases, levels)
                     for i, a in enumerate(sets_el))
        return Period(_attr(p, "id"), start, dur, sets, where)

    def _adaptation_set(self, a: Element, where: str, bases: list[BaseUrl],
                        levels: list[dict[str, Element]]) -> AdaptationSet:
        bases = self._base_urls(a, bases, where)
        levels = [*levels, self._seg_levels(a)]
        set_cp = self._protections(a, where)
        reps_el = _children(a, "Representation")
        if len(reps_el) > MAX_REPRESENTATIONS:
            raise ManifestError(f"{len(reps_el)} Representations exceed the limit of "
                                f"{MAX_REPRESENTATIONS}", element=where)
        reps = []
        for i, r in enumerate(reps_el):
            rid = _attr(r, "id") or str(i)
            reps.append(self._representation(r, a, f"{where}/Representation[id={rid}]", rid,
                                             bases=bases, levels=levels, set_cp=set_cp))
        return AdaptationSet(_attr(a, "id"), _attr(a, "contentType"), _attr(a, "mimeType"),
                             _attr(a, "lang"), tuple(reps), where)

    def _representation(self, r: Element, a: Element, where: str, rid: str, *,
                        bases: list[BaseUrl], levels: list[dict[str, Element]],
                        set_cp: tuple[ContentProtection, ...]) -> Representation:
        # optional in practice (text tracks, other languages); 0 means unknown, as in
        # ExoPlayer's Format.NO_VALUE: selection treats it as the lowest rung
        bandwidth = _int(r, "bandwidth", where)
        if bandwidth is None:
            bandwidth = 0
            self.warnings.append(f"{where}: no @bandwidth")
        rate = _int(r, "audioSamplingRate", where) if _attr(r, "audioSamplingRate") else None
        if rate is None and _attr(a, "audioSamplingRate"):
            rate = _int(a, "audioSamplingRate", where)
        rep_cp = self._protections(r, where)
        info = self._segment_info([*levels, self._seg_levels(r)], where)
        return Representation(
            id=rid,
            bandwidth=bandwidth,
            codecs=(_attr(r, "codecs") or _attr(a, "codecs") or "").strip(),
            mime_type=(_attr(r, "mimeType") or _attr(a, "mimeType") or "").strip(),
            audio_sampling_rate=rate or None,  # packagers write 0 for FLAC: unknown
            bit_depth=self._bit_depth(r, where) or self._bit_depth(a, where),
            channels=self._channels(r, where) or self._channels(a, where),
            content_protection=_merge_protection(rep_cp, set_cp, where),
            base_urls=tuple(self._base_urls(r, bases, where)),
            segment_info=info,
            path=where,
            lang=_attr(a, "lang"),
        )

    def _bit_depth(self, el: Element, where: str) -> int | None:
        for prop in _children(el, "SupplementalProperty") + _children(el, "EssentialProperty"):
            if (_attr(prop, "schemeIdUri") or "").strip().lower() in BIT_DEPTH_SCHEMES:
                return _int(prop, "value", f"{where}/SupplementalProperty", lo=1, hi=64)
        return None

    def _channels(self, el: Element, where: str) -> int | None:
        """The channel count from the first AudioChannelConfiguration that can be read.

        Every element is tried in order; an unknown scheme or value is a warning, never a
        refusal (the order and the per-scheme rules follow shaka-player's parser)."""
        w = f"{where}/AudioChannelConfiguration"
        for cfg in _children(el, "AudioChannelConfiguration"):
            scheme = (_attr(cfg, "schemeIdUri") or "").strip().lower()
            raw = (_attr(cfg, "value") or "").strip()
            count = _channel_count(scheme, raw)
            if count:
                return count
            self.warnings.append(f"{w}: unreadable channel configuration "
                                 f"{scheme[:60]!r}={raw[:20]!r}")
        return None

    def _protections(self, el: Element, where: str) -> tuple[ContentProtection, ...]:
        out = []
        for i, cp in enumerate(_children(el, "ContentProtection")):
            w = f"{where}/ContentProtection[{i}]"
            scheme = (_attr(cp, "schemeIdUri") or "").strip().lower()
            system = None
            if scheme.startswith("urn:uuid:"):
                try:
                    system = uuid.UUID(scheme[9:])
                except ValueError:
                    raise ManifestError(f"bad system id in {scheme[:60]!r}", element=w) from None
            kid_raw = _attr(cp, "default_KID")
            pssh = None
            pssh_el = _child(cp, "pssh")
            if pssh_el is not None and (pssh_el.text or "").strip():
                try:
                    pssh = base64.b64decode("".join((pssh_el.text or "").split()), validate=True)
                except (binascii.Error, ValueError):
                    raise ManifestError("cenc:pssh is not base64", element=f"{w}/pssh") from None
            if pssh is not None and system is None:
                system = _pssh_system(pssh)  # a pssh on mp4protection names its system
            lic = None
            for name in ("Laurl", "laurl", "licenseUrl"):
                for lel in _children(cp, name):
                    lic = (lel.text or "").strip() or _attr(lel, "licenseUrl")
                    if lic:
                        break
                if lic:
                    break
            out.append(ContentProtection(
                scheme, (_attr(cp, "value") or "").strip() or None,
                _kid(kid_raw, w) if kid_raw else None, system, pssh,
                join_url(self.url, lic, w) if lic else None,
            ))
        return tuple(out)

    def _segment_info(self, levels: list[dict[str, Element]], where: str) -> SegmentInfo:
        kind = None
        for lvl in reversed(levels):
            kind = next((k for k in _SEGMENT_KINDS if k in lvl), None)
            if kind:
                break
        if kind is None:
            return SegmentInfo("single")
        # attributes and children inherit per item; SegmentBase fields are shared by all kinds
        attrs: dict[str, str] = {}
        kids: dict[str, Element] = {}
        for lvl in levels:
            for k in ("SegmentBase", kind):
                el = lvl.get(k)
                if el is None:
                    continue
                attrs.update({local(n): v for n, v in el.attrib.items()})
                for c in el:
                    if isinstance(c.tag, str):
                        kids[local(c.tag)] = el  # remember which element holds the child
        w = f"{where}/{kind}"
        probe = Element(kind, attrs)
        timescale = _int(probe, "timescale", w, lo=1, hi=2**32 - 1) or 1
        pto = _int(probe, "presentationTimeOffset", w) or 0
        duration = _int(probe, "duration", w, lo=1)
        start_number = _int(probe, "startNumber", w)
        init = None
        if "Initialization" in kids:
            iel = _child(kids["Initialization"], "Initialization")
            assert iel is not None
            init = UrlRange(_attr(iel, "sourceURL"), _range(_attr(iel, "range"),
                                                             f"{w}/Initialization", "range"))
        rep_index = None
        if "RepresentationIndex" in kids:
            xel = _child(kids["RepresentationIndex"], "RepresentationIndex")
            assert xel is not None
            rep_index = UrlRange(_attr(xel, "sourceURL"), _range(
                _attr(xel, "range"), f"{w}/RepresentationIndex", "range"))
        timeline = None
        if "SegmentTimeline" in kids:
            tl = _child(kids["SegmentTimeline"], "SegmentTimeline")
            assert tl is not None
            timeline = self._timeline(tl, f"{w}/SegmentTimeline")
        urls: tuple[UrlRange, ...] = ()
        if kind == "SegmentList":
            holder = kids.get("SegmentURL")  # the deepest SegmentList that lists segments
            seg_els = _children(holder, "SegmentURL") if holder is not None else []
            if len(seg_els) > MAX_SEGMENT_URLS:
                raise ManifestError(f"more than {MAX_SEGMENT_URLS} SegmentURLs", element=w)
            urls = tuple(UrlRange(_attr(s, "media"),
                                  _range(_attr(s, "mediaRange"), f"{w}/SegmentURL[{i}]",
                                         "mediaRange"))
                         for i, s in enumerate(seg_els))
        return SegmentInfo(
            kind={"SegmentTemplate": "template", "SegmentList": "list",
                  "SegmentBase": "base"}[kind],
            timescale=timescale,
            presentation_time_offset=pto,
            duration=duration,
            start_number=1 if start_number is None else start_number,
            media=attrs.get("media"),
            initialization_template=attrs.get("initialization"),
            initialization=init,
            index_range=_range(attrs.get("indexRange"), w, "indexRange"),
            timeline=timeline,
            segment_urls=urls,
            index_template=attrs.get("index"),
            representation_index=rep_index,
        )

    def _timeline(self, tl: Element, where: str) -> tuple[TimelineEntry, ...]:
        entries = _children(tl, "S")
        if len(entries) > MAX_TIMELINE_ENTRIES:
            raise ManifestError(f"{len(entries)} S elements exceed the limit", element=where)
        out = []
        for i, s in enumerate(entries):
            w = f"{where}/S[{i}]"
            d = _int(s, "d", w, lo=1)
            if d is None:
                raise ManifestError("S without @d", element=w, attribute="d")
            r = _int(s, "r", w, lo=-1, hi=2**31 - 1)
            out.append(TimelineEntry(_int(s, "t", w), d, 0 if r is None else r))
        return tuple(out)
