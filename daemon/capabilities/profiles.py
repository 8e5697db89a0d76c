"""Hardware profiles: `hardware/{boards,outputs}/<name>.yaml`, read through the config's
schema loader, so a problem reads `file:line: dotted.path: message` like the config's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from daemon.core.config import ConfigProblems
from daemon.core.configschema import (
    Problem,
    SchemaLoader,
    compose,
    in_range,
    line_of,
    node_at,
    option,
)
from daemon.core.errors import ConfigError
from daemon.playback.sinks.base import OutputCaps, SampleFormat

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
T = TypeVar("T")


# Where the shipped profiles live, first match wins: a source checkout (repo root /
# hardware), then the Debian package's data directory (the package installs the code in a
# private virtual environment, away from the profiles).
HARDWARE_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parents[2] / "hardware",
    Path("/usr/share/speakerd/hardware"),
)


def hardware_dir(candidates: Sequence[Path] = HARDWARE_DIRS) -> Path:
    """The first of `candidates` that holds profiles (a `boards/` folder); the first
    candidate when none does, so the error names the checkout's path."""
    for directory in candidates:
        if (directory / "boards").is_dir():
            return directory
    return candidates[0]


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


# --- the files' schema ------------------------------------------------------------------


def _non_empty(value: str) -> str | None:
    return None if value else "must be a non-empty string"


def _profile_name(value: str) -> str | None:
    return None if _NAME_RE.match(value) else "must be a profile name (a-z, 0-9, -)"


@dataclass(frozen=True, kw_only=True)
class _Channels:
    min: int = option(check=in_range(1, 32))
    max: int = option(check=in_range(1, 32))


@dataclass(frozen=True, kw_only=True)
class _Mixer:
    control: str = option(check=_non_empty)
    min_db: float | None = option(None)
    max_db: float | None = option(None)


@dataclass(frozen=True, kw_only=True)
class _Alsa:
    card: str | None = option(None, check=_non_empty)
    device: str | None = option(None, check=_non_empty)
    overlay: str | None = option(None, check=_non_empty)


@dataclass(frozen=True, kw_only=True)
class _OutputFile:
    kind: Literal["output"] = option()
    name: str = option(check=_non_empty)
    title: str = option(check=_non_empty)
    formats: tuple[SampleFormat, ...] = option()
    rates: tuple[int, ...] = option(each=in_range(8000, 768_000))
    channels: _Channels = option()
    bit_depth: Literal[16, 24, 32] = option()
    mixer: _Mixer | None = option(None)
    alsa: _Alsa = option()
    notes: str | None = option(None)


@dataclass(frozen=True, kw_only=True)
class _BoardFile:
    kind: Literal["board"] = option()
    name: str = option(check=_non_empty)
    title: str = option(check=_non_empty)
    soc: str | None = option(None, check=_non_empty)
    cpu: str | None = option(None, check=_non_empty)
    ram_mb: tuple[int, ...] = option(each=in_range(64, 1 << 20))
    outputs: tuple[str, ...] = option(each=_profile_name)
    notes: str | None = option(None)


# --- loading ----------------------------------------------------------------------------


def _load(schema: type[T], path: Path) -> T:
    """One profile file through the schema loader; every problem at once, or the value."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such hardware profile", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError("cannot read hardware profile", file=str(path),
                          reason=reason) from None
    node, syntax = compose(text, str(path))
    if syntax is not None:
        raise ConfigError(f"invalid YAML: {syntax.message}", file=str(path), line=syntax.line)
    loader = SchemaLoader(str(path))
    value = loader.load(schema, node)
    problems = list(loader.problems)
    if value is not None:
        problems += _cross_checks(value, node, path)
    if problems or value is None:
        raise ConfigProblems(problems)
    return value


def _cross_checks(value: object, node: object, path: Path) -> list[Problem]:
    """Rules that span fields or the file's name."""
    import yaml

    root = node if isinstance(node, yaml.Node) else None
    problems: list[Problem] = []

    def problem(dotted: str, message: str) -> None:
        problems.append(Problem(str(path), line_of(node_at(root, dotted)), dotted, message))

    if getattr(value, "name", None) != path.stem:
        problem("name", "must equal the file name")
    if isinstance(value, _OutputFile):
        if not value.formats:
            problem("formats", "must be a non-empty list")
        if not value.rates:
            problem("rates", "must not be empty")
        if value.channels.min > value.channels.max:
            problem("channels.min", "must not exceed channels.max")
    return problems


def _profile_path(kind: str, name: str, directory: Path | None) -> Path:
    if not _NAME_RE.match(name):
        key = "audio.board" if kind == "boards" else "audio.dac"
        raise ConfigError("invalid profile name", key=key, name=name[:64])
    return (directory or hardware_dir()) / kind / f"{name}.yaml"


def load_output(name: str, directory: Path | None = None) -> OutputProfile:
    """`<directory or hardware/>/outputs/<name>.yaml`; a `ConfigError` names file and key."""
    path = _profile_path("outputs", name, directory)
    f = _load(_OutputFile, path)
    caps = OutputCaps(frozenset(f.rates), f.formats, max_channels=f.channels.max,
                      min_channels=f.channels.min)
    mixer = (MixerInfo(f.mixer.control, f.mixer.min_db, f.mixer.max_db)
             if f.mixer is not None else None)
    return OutputProfile(f.name, f.title, caps, f.bit_depth, mixer, f.alsa.device, f.alsa.card,
                         path)


def load_board(name: str, directory: Path | None = None) -> BoardProfile:
    """`<directory or hardware/>/boards/<name>.yaml`; a `ConfigError` names file and key."""
    path = _profile_path("boards", name, directory)
    f = _load(_BoardFile, path)
    return BoardProfile(f.name, f.title, f.soc, f.outputs, path)


def list_profiles(directory: Path | None = None) -> dict[str, list[str]]:
    """The profile names on disk, per kind (boards, outputs)."""
    base = directory or hardware_dir()
    return {kind: sorted(p.stem for p in (base / kind).glob("*.yaml"))
            for kind in ("boards", "outputs")}
