"""Hardware profiles + decoders present + configuration -> the capability tokens to request.

Contract: `load_board`/`load_output` read and validate `hardware/{boards,outputs}/<name>.yaml`
(a `ConfigError` names the file and the dotted key). `derive_capabilities` grants a token
only when the output can play it, a PyAV decoder exists for it, and the config allows it,
and records why for every token (`Derivation.lines()`, `print_derivation`). PyAV is probed
lazily (`available_decoders`). `probe_alsa_caps` reads a real card's formats with
`aplay --dump-hw-params` where a card exists.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from daemon.contracts.amazon_music import capability_header
from daemon.core.errors import ConfigError
from daemon.core.tiers import CAPABILITY_ORDER, Capability
from daemon.playback.sinks.base import OutputCaps, SampleFormat

#: Rates (Hz) tried when a driver reports a continuous range.
STANDARD_RATES: Final = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000,
                         176400, 192000, 352800, 384000)

#: FFmpeg decoder names that can decode each media type the service sends.
DECODERS: Final[Mapping[str, tuple[str, ...]]] = {
    "opus": ("opus", "libopus"),
    "aac": ("aac", "aac_fixed", "libfdk_aac"),
    "flac": ("flac",),
    "eac3": ("eac3",),
    "mpegh": ("mpegh3da", "libmpeghdec", "mpegh"),
}

log = logging.getLogger("daemon.capabilities")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def hardware_dir() -> Path:
    """The profiles shipped with the source tree (repo root / hardware)."""
    return Path(__file__).resolve().parents[2] / "hardware"


# --- profiles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MixerInfo:
    control: str
    min_db: float | None = None
    max_db: float | None = None


@dataclass(frozen=True, slots=True)
class OutputProfile:
    name: str
    title: str
    caps: OutputCaps
    bit_depth: int  # the converter's resolution
    mixer: MixerInfo | None
    alsa_device: str | None
    alsa_card: str | None
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class BoardProfile:
    name: str
    title: str
    soc: str | None
    outputs: tuple[str, ...]
    path: Path | None = None


class _Reader:
    """Typed access to one YAML mapping, with errors naming file and dotted key."""

    def __init__(self, data: Any, path: Path, prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(data, dict):
            raise self.error("must be a mapping", prefix.rstrip(".") or "<top>")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def error(self, message: str, key: str) -> ConfigError:
        return ConfigError(message, file=str(self.path), key=key)

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def raw(self, name: str, required: bool = True) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise self.error("missing key", self.key(name))
            return None
        return self.data[name]

    def str_(self, name: str, required: bool = True) -> str | None:
        value = self.raw(name, required)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self.error("must be a non-empty string", self.key(name))
        return value

    def int_list(self, name: str, lo: int, hi: int) -> list[int]:
        value = self.raw(name)
        if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.error("must be a list of integers", self.key(name))
        for i, v in enumerate(value):
            if not lo <= v <= hi:
                raise self.error(f"out of range {lo}-{hi}", f"{self.key(name)}[{i}]")
        return list(value)

    def sub(self, name: str, required: bool = True) -> _Reader | None:
        value = self.raw(name, required)
        if value is None:
            return None
        return _Reader(value, self.path, f"{self.key(name)}.")

    def opt_float(self, name: str) -> float | None:
        value = self.raw(name, required=False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error("must be a number", self.key(name))
        return float(value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error("unknown key", self.key(str(unknown[0])))


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such hardware profile", file=str(path)) from None
    except OSError as exc:
        raise ConfigError("cannot read hardware profile", file=str(path),
                          reason=exc.strerror) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError("invalid YAML", file=str(path),
                          line=(mark.line + 1) if mark is not None else None) from None


def _profile_path(kind: str, name: str, directory: Path | None) -> Path:
    if not _NAME_RE.match(name):
        key = "audio.board" if kind == "boards" else "audio.dac"
        raise ConfigError("invalid profile name", key=key, name=name[:64])
    return (directory or hardware_dir()) / kind / f"{name}.yaml"


def _check_header(r: _Reader, kind: str, path: Path) -> str:
    if r.raw("kind") != kind:
        raise r.error(f"must be '{kind}'", "kind")
    name = r.str_("name")
    assert name is not None
    if name != path.stem:
        raise r.error("must equal the file name", "name")
    return name


def parse_output(data: Any, path: Path) -> OutputProfile:
    r = _Reader(data, path)
    name = _check_header(r, "output", path)
    title = r.str_("title")
    raw_formats = r.raw("formats")
    if not isinstance(raw_formats, list) or not raw_formats:
        raise r.error("must be a non-empty list", "formats")
    formats: list[SampleFormat] = []
    for i, f in enumerate(raw_formats):
        try:
            formats.append(SampleFormat(f))
        except ValueError:
            raise r.error(f"unknown sample format (one of {', '.join(SampleFormat)})",
                          f"formats[{i}]") from None
    rates = r.int_list("rates", 8000, 768_000)
    if not rates:
        raise r.error("must not be empty", "rates")
    ch = r.sub("channels")
    assert ch is not None
    lo, hi = ch.raw("min"), ch.raw("max")
    for key, v in (("min", lo), ("max", hi)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 32:
            raise ch.error("must be an integer 1-32", ch.key(key))
    if lo > hi:
        raise ch.error("must not exceed channels.max", ch.key("min"))
    ch.finish()
    depth = r.raw("bit_depth")
    if depth not in (16, 24, 32):
        raise r.error("must be 16, 24 or 32", "bit_depth")
    mixer = None
    m = r.sub("mixer", required=False)
    if m is not None:
        control = m.str_("control")
        assert control is not None
        mixer = MixerInfo(control, m.opt_float("min_db"), m.opt_float("max_db"))
        m.finish()
    a = r.sub("alsa")
    assert a is not None
    device = a.str_("device", required=False)
    card = a.str_("card", required=False)
    a.str_("overlay", required=False)
    a.finish()
    notes = r.raw("notes", required=False)
    if notes is not None and not isinstance(notes, str):
        raise r.error("must be a string", "notes")
    r.finish()
    caps = OutputCaps(frozenset(rates), tuple(formats), max_channels=hi, min_channels=lo)
    assert title is not None
    return OutputProfile(name, title, caps, depth, mixer, device, card, path)


def parse_board(data: Any, path: Path) -> BoardProfile:
    r = _Reader(data, path)
    name = _check_header(r, "board", path)
    title = r.str_("title")
    soc = r.str_("soc", required=False)
    r.str_("cpu", required=False)
    r.int_list("ram_mb", 64, 1 << 20)
    outputs = r.raw("outputs")
    if not isinstance(outputs, list) or not all(isinstance(o, str) and _NAME_RE.match(o)
                                                for o in outputs):
        raise r.error("must be a list of output profile names", "outputs")
    notes = r.raw("notes", required=False)
    if notes is not None and not isinstance(notes, str):
        raise r.error("must be a string", "notes")
    r.finish()
    assert title is not None
    return BoardProfile(name, title, soc, tuple(outputs), path)


def load_output(name: str, directory: Path | None = None) -> OutputProfile:
    path = _profile_path("outputs", name, directory)
    return parse_output(_read_yaml(path), path)


def load_board(name: str, directory: Path | None = None) -> BoardProfile:
    path = _profile_path("boards", name, directory)
    return parse_board(_read_yaml(path), path)


def list_profiles(directory: Path | None = None) -> dict[str, list[str]]:
    base = directory or hardware_dir()
    return {kind: sorted(p.stem for p in (base / kind).glob("*.yaml"))
            for kind in ("boards", "outputs")}


# --- decoders ---------------------------------------------------------------------------


def pyav_decoder_names() -> frozenset[str]:
    """FFmpeg decoder names PyAV has among those `DECODERS` lists (for `dash.select`)."""
    try:
        import av
    except ImportError:
        return frozenset()
    have = set(av.codecs_available)
    found = set()
    for names in DECODERS.values():
        for n in names:
            if n not in have:
                continue
            try:
                av.Codec(n, "r")
            except Exception:  # listed but not a decoder (encoder-only name)
                log.debug(f"capabilities.not_a_decoder codec={n}")
                continue
            found.add(n)
    return frozenset(found)


def available_decoders(names: frozenset[str] | None = None) -> frozenset[str]:
    """Media types decodable here ("opus", "aac", "flac", "eac3", "mpegh"); probes lazily."""
    have = pyav_decoder_names() if names is None else names
    return frozenset(media for media, options in DECODERS.items() if have.intersection(options))


# --- derivation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    token: Capability
    granted: bool
    reason: str


@dataclass(frozen=True)
class Derivation:
    steps: tuple[Step, ...]
    output: str
    decoders: frozenset[str] = field(default_factory=frozenset)

    @property
    def tokens(self) -> frozenset[Capability]:
        return frozenset(s.token for s in self.steps if s.granted)

    def header(self) -> str:
        """The X-Amzn-Audio-Device-Capability value (STD_RES when nothing else is granted)."""
        return capability_header(self.tokens or {Capability.STD_RES})

    def lines(self) -> list[str]:
        out = [f"output: {self.output}",
               f"decoders: {', '.join(sorted(self.decoders)) or 'none'}"]
        out += [f"  {'+' if s.granted else '-'} {s.token.value}: {s.reason}" for s in self.steps]
        out.append(f"header: {self.header()}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "decoders": sorted(self.decoders),
            "tokens": [t.value for t in CAPABILITY_ORDER if t in self.tokens],
            "header": self.header(),
            "steps": [{"token": s.token.value, "granted": s.granted, "reason": s.reason}
                      for s in self.steps],
        }


def _output_can(caps: OutputCaps, bits: int, min_rate: int) -> bool:
    rates = caps.rates or frozenset(STANDARD_RATES)
    return caps.max_bits >= bits and any(r >= min_rate for r in rates)


def derive_capabilities(output: OutputProfile, *, decoders: Iterable[str],
                        allow: Iterable[str], board: BoardProfile | None = None,
                        caps: OutputCaps | None = None) -> Derivation:
    """Tokens = what the output can play ∩ what PyAV decodes ∩ what the config allows.

    `caps` overrides the profile's formats with a probed card's. A board that cannot take
    the output is a `ConfigError`.
    """
    if board is not None and output.name not in board.outputs:
        raise ConfigError("output does not fit this board", file=str(board.path),
                          key="outputs", output=output.name)
    caps = caps or output.caps
    have = frozenset(decoders)
    allowed = {a.upper() for a in allow}
    rates = caps.rates or frozenset(STANDARD_RATES)
    depth = min(output.bit_depth, caps.max_bits)

    def check(token: Capability) -> tuple[bool, str]:
        if token is Capability.STD_RES:
            lossy = sorted(have & {"opus", "aac"})
            if not lossy:
                return False, "no Opus or AAC decoder in PyAV"
            return True, (f"{'/'.join(lossy)} decoder present; any PCM output plays 48 kHz "
                          "(resampled if needed)")
        if token is Capability.HI_FI:
            if "flac" not in have:
                return False, "no FLAC decoder in PyAV"
            if depth < 16 or 44100 not in rates:
                return False, "output does not take 16-bit at 44.1 kHz"
            return True, "FLAC decoder; output takes 16-bit/44.1 kHz natively"
        if token is Capability.HI_RES:
            if "flac" not in have:
                return False, "no FLAC decoder in PyAV"
            if depth < 24:
                return False, f"output resolves {depth} bits; HI_RES needs 24"
            if not _output_can(caps, 24, 88200):
                return False, "output takes nothing at or above 88.2 kHz; HI_RES needs it"
            top = max(r for r in rates)
            return True, f"FLAC decoder; output takes 24-bit up to {top} Hz"
        if token is Capability.THREE_DIMENSIONAL:
            if "eac3" not in have:
                return False, "no E-AC-3 decoder in PyAV"
            if caps.max_channels < 6:
                return False, (f"output has {caps.max_channels} channels; "
                               "needs a multichannel (>= 6) output")
            return True, (f"E-AC-3 decoder; output takes {caps.max_channels} channels "
                          "(channel bed only: Atmos objects are not rendered)")
        # REAL_AUDIO_360
        if "mpegh" not in have:
            return False, "no MPEG-H 3D Audio decoder in PyAV"
        return False, "no MPEG-H renderer for this output"

    steps: list[Step] = []
    for token in CAPABILITY_ORDER:
        ok, reason = check(token)
        if ok and token.value not in allowed:
            ok, reason = False, "not allowed by the configuration (quality.allow)"
        steps.append(Step(token, ok, reason))
    fmt = ",".join(caps.sample_formats)
    desc = f"{output.name} ({fmt}; {min(rates)}-{max(rates)} Hz; {caps.max_channels} ch)"
    return Derivation(tuple(steps), desc, have)


# --- probing a real card ----------------------------------------------------------------


def parse_hw_params(text: str) -> OutputCaps:
    """`aplay --dump-hw-params` output -> what the device takes (formats we can send)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().isupper():
            fields[key.strip()] = value.strip()
    if "FORMAT" not in fields:
        raise ConfigError("no FORMAT line in the device's hardware parameters")
    known = {f.value for f in SampleFormat}
    formats = tuple(SampleFormat(f) for f in fields["FORMAT"].split() if f in known)

    def bounds(raw: str) -> tuple[int, int]:
        nums = [int(n) for n in re.findall(r"\d+", raw)]
        if not nums:
            raise ConfigError("unreadable hardware parameter", value=raw[:40])
        lo, hi = min(nums), max(nums)
        if raw.startswith("("):
            lo += 1
        return lo, hi

    ch_lo, ch_hi = bounds(fields.get("CHANNELS", "2"))
    rate_raw = fields.get("RATE", "48000")
    if rate_raw.startswith(("[", "(")):
        lo, hi = bounds(rate_raw)
        rates = frozenset(r for r in STANDARD_RATES if lo <= r <= hi)
    else:
        rates = frozenset(int(n) for n in re.findall(r"\d+", rate_raw))
    return OutputCaps(rates, formats, max_channels=min(ch_hi, 32), min_channels=max(ch_lo, 1))


async def probe_alsa_caps(device: str, *, aplay: str = "aplay",
                          timeout_s: float = 5.0) -> OutputCaps | None:
    """The device's own formats via `aplay --dump-hw-params`; None when it cannot be opened."""
    if shutil.which(aplay) is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        aplay, "--dump-hw-params", "-D", device, "-t", "raw", "-d", "1", "/dev/zero",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout_s):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    text = err.decode("utf-8", "replace")
    if "FORMAT:" not in text:
        return None
    return parse_hw_params(text)


# --- CLI helpers (the lead wires them into `speakerd probe --capabilities`) --------------


def add_capabilities_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", help="board profile (hardware/boards/<name>.yaml)")
    parser.add_argument("--dac", help="output profile (hardware/outputs/<name>.yaml)")
    parser.add_argument("--hardware-dir", type=Path, default=None,
                        help="directory holding boards/ and outputs/")
    parser.add_argument("--allow", default=None,
                        help="comma-separated tokens the configuration allows (default: all)")
    parser.add_argument("--probe-device", default=None,
                        help="ALSA device to probe for its formats instead of the profile's")
    parser.add_argument("--json", action="store_true", help="print JSON")


async def derivation_from_args(args: argparse.Namespace, *, board: str = "generic-x86",
                               dac: str = "generic-usb",
                               allow: Iterable[str] | None = None) -> Derivation:
    """Build a derivation from CLI args, falling back to the config's board/dac/allow."""
    directory = args.hardware_dir
    board_p = load_board(args.board or board, directory)
    output_p = load_output(args.dac or dac, directory)
    allowed: Iterable[str] = (args.allow.split(",") if args.allow
                              else allow if allow is not None
                              else [c.value for c in Capability])
    caps = await probe_alsa_caps(args.probe_device) if args.probe_device else None
    return derive_capabilities(output_p, decoders=available_decoders(), allow=allowed,
                               board=board_p, caps=caps)


def print_derivation(derivation: Derivation, *, as_json: bool = False,
                     file: IO[str] | None = None) -> None:
    out = file or sys.stdout
    if as_json:
        import json

        print(json.dumps(derivation.to_dict(), indent=2), file=out)
    else:
        print("\n".join(derivation.lines()), file=out)
