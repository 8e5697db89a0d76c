"""speakerd's configuration: the schema, loading, and the state-directory rule.

Configuration is what the owner chooses; runtime state (volume, device id, tokens) lives in
the state directory, never here. `load_config` reports every problem at once, each as
`file:line: dotted.path: what was expected`, and raises `ConfigError` (exit 78).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daemon.core.configschema import (
    Problem,
    SchemaLoader,
    compose,
    in_range,
    non_negative,
    option,
    port_number,
    positive,
    section,
)
from daemon.core.errors import ConfigError
from daemon.core.redact import Secret
from daemon.core.tiers import CAPABILITY_ORDER, Capability

_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f.]{1,63}$")
_LANG_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")


def device_name_problem(value: str) -> str | None:
    """Why `value` cannot be the device (mDNS instance) name, or None."""
    if _NAME_RE.match(value) and value.strip() == value:
        return None
    return ("must be 1-63 characters without dots, control characters or leading/trailing"
            f" spaces (it is the mDNS instance name), got {value!r}")


def _language(value: str) -> str | None:
    return None if _LANG_RE.match(value) else f"must look like 'en-US', got {value!r}"


def _url(value: str) -> str | None:
    if re.match(r"^https?://[^\s/]+", value):
        return None
    return f"must be an http(s) URL, got {value!r}"


@dataclass(frozen=True)
class DeviceConfig:
    name: str = option("speakerd", "Name shown to phones and announced over mDNS.",
                       check=device_name_problem, live=True)
    model: str = option("speakerd-generic", "Model string shown in device info and mDNS TXT.")


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = option(
        "info", "Log level; -v on the command line lowers it to debug.", live=True)


@dataclass(frozen=True)
class SandboxConfig:
    catalog: Literal["small", "default"] = option(
        "small", "Generated catalog: small (3 tracks, seconds to build) or default (30+ tracks).")
    data_dir: Path | None = option(
        None, "Where generated content is cached; default: <state_dir>/sandbox.")
    auto_approve: bool = option(
        True, "Approve the sign-in code by itself once shown, so the daemon needs no person.")
    seed: int = option(1, "Seed for generated content and deterministic faults.")
    port: int = option(0, "Loopback port of the embedded sandbox; 0 = any free port.",
                       check=port_number)
    admin: bool = option(
        False, "Serve the sandbox's /_sandbox/ test hooks (approve, faults, event log).")


@dataclass(frozen=True)
class AmazonConfig:
    client_id: str = option(
        "", "LWA client id of your security profile; empty with service: sandbox.")
    lwa_url: str = option("https://api.amazon.com", "Login With Amazon endpoint.", check=_url)
    music_url: str = option("https://music-api.amazon.com", "Amazon Music Device API root.",
                            check=_url)
    accept_language: str = option("en-US", "UI language sent as Accept-Language.",
                                  check=_language)
    image_style: Literal["SL500", "SL160", "SL110", "SL75", "SL30", "*"] = option(
        "*", "Image size requested with the amzn-image-style header; * asks for placeholder"
        " URLs that the control API fills at the size each phone asks for.")


@dataclass(frozen=True)
class AudibleConfig:
    locale: Literal["us", "uk", "de", "fr", "ca", "it", "au", "in", "jp", "es", "br"] = option(
        "us", "Audible marketplace.")


@dataclass(frozen=True)
class AudioConfig:
    output: Literal["auto", "alsa", "file", "pipe", "null"] = option(
        "auto", "Audio output: auto = ALSA when a sound card exists, else a WAV file.")
    device: str = option("default", "ALSA device name, e.g. hw:CARD=sndrpihifiberry.")
    file_path: Path | None = option(
        None, "WAV file for output: file; default: <state_dir>/output.wav.")
    pipe_path: Path | None = option(
        None, "FIFO for output: pipe (raw PCM, e.g. for snapcast); empty = stdout.")
    board: str = option("generic-x86", "Board profile from hardware/boards/.")
    dac: str = option("generic-usb", "Audio output profile from hardware/outputs/.")
    mixer: Literal["software", "hardware"] = option(
        "software", "Volume control: software (PCM scaling) or the ALSA hardware mixer.")
    buffer_seconds: float = option(30.0, "Seconds of audio to prefetch ahead.",
                                   check=positive)
    buffer_max_mb: float = option(64.0, "Upper bound on prefetched bytes, in MiB.",
                                  check=positive)


@dataclass(frozen=True)
class QualityConfig:
    allow: tuple[Capability, ...] = option(
        doc="Capability tokens this speaker may ask for (intersected with the hardware).",
        factory=lambda: CAPABILITY_ORDER)


@dataclass(frozen=True)
class PlaybackConfig:
    autoplay: str | None = option(
        None, "Service id (e.g. a playlist) to play once at start; empty = none.")
    resume: bool = option(False, "Restore queue, track and position after a restart.")
    initial_volume: int = option(
        30, "Volume on the very first start (later starts use the saved level).",
        check=in_range(0, 100))


@dataclass(frozen=True)
class DrmConfig:
    cdm: str = option("clearkey",
                      "CDM: clearkey | widevine | remote | none | an installed plug-in name.")
    widevine_device: Path | None = option(
        None, "pywidevine .wvd device file (mode 0600) for cdm: widevine.")
    remote_url: str | None = option(None, "pywidevine serve URL for cdm: remote.")
    remote_secret: Secret | None = option(None, "Secret of the pywidevine serve instance.")
    remote_device: str | None = option(None, "Device name configured on the remote CDM.")


@dataclass(frozen=True)
class ControlConfig:
    enabled: bool = option(True, "Serve the LAN control API.")
    port: int = option(7443, "HTTPS port of the control API (0 = any free port).",
                       check=port_number)
    setup_code: Secret | None = option(
        None, "Static 8-digit pairing code from a label; empty = a new code per window.")


@dataclass(frozen=True)
class DiscoveryConfig:
    enabled: bool = option(True, "Announce the speaker over mDNS.")
    interfaces: Literal["all"] | tuple[str, ...] = option(
        "all", "Interfaces to announce on: all, or a list such as [eth0, wlan0].")
    ip_version: Literal["v4", "v6", "all"] = option("all", "Address families to announce.")


@dataclass(frozen=True)
class HttpConfig:
    connect_timeout: float = option(5.0, "Seconds to establish a connection.", check=positive)
    read_timeout: float = option(15.0, "Seconds to wait for response data.", check=positive)
    max_attempts: int = option(4, "Attempts for a transient failure, the first included.",
                               check=in_range(1, 10))
    max_retry_seconds: float = option(30.0, "Cap on total time spent retrying one request.",
                                      check=non_negative)


@dataclass(frozen=True)
class Config:
    """The whole configuration; every field has a default, so an empty file is valid."""

    service: Literal["sandbox", "amazon"] = option(
        "sandbox", "sandbox = the built-in offline emulator; amazon = the real services.")
    state_dir: Path | None = option(
        None, "State directory; default: $STATE_DIRECTORY, else ~/.local/state/speakerd.")
    device: DeviceConfig = section(DeviceConfig)
    logging: LoggingConfig = section(LoggingConfig)
    sandbox: SandboxConfig = section(SandboxConfig)
    amazon: AmazonConfig = section(AmazonConfig)
    audible: AudibleConfig = section(AudibleConfig)
    audio: AudioConfig = section(AudioConfig)
    quality: QualityConfig = section(QualityConfig)
    playback: PlaybackConfig = section(PlaybackConfig)
    drm: DrmConfig = section(DrmConfig)
    control: ControlConfig = section(ControlConfig)
    discovery: DiscoveryConfig = section(DiscoveryConfig)
    http: HttpConfig = section(HttpConfig)


def _cross_checks(config: Config, filename: str) -> list[Problem]:
    """Rules that involve more than one field."""
    problems = []
    if config.service == "amazon" and not config.amazon.client_id:
        problems.append(Problem(filename, None, "amazon.client_id",
                                "required when service is 'amazon'"))
    if config.drm.cdm == "widevine" and config.drm.widevine_device is None:
        problems.append(Problem(filename, None, "drm.widevine_device",
                                "required when drm.cdm is 'widevine'"))
    if config.drm.cdm == "remote" and not (config.drm.remote_url and config.drm.remote_secret
                                           and config.drm.remote_device):
        problems.append(Problem(filename, None, "drm.remote_url",
                                "remote_url, remote_secret and remote_device are required"
                                " when drm.cdm is 'remote'"))
    return problems


def parse_config(text: str, filename: str = "<config>") -> Config:
    """Parse config text; raise `ConfigError` listing every problem, one per line."""
    node, syntax = compose(text, filename)
    if syntax is not None:
        raise ConfigError(str(syntax), problems=None)
    loader = SchemaLoader(filename)
    config = loader.load(Config, node)
    problems = list(loader.problems)
    if config is not None:
        problems += _cross_checks(config, filename)
    if problems or config is None:
        raise ConfigProblems(problems)
    return config


class ConfigProblems(ConfigError):
    """Several configuration problems, each on its own line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.path))
        first = self.problems[0] if self.problems else None
        where = {"file": first.file, "key": first.path, "line": first.line} if first else {}
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid configuration",
                         **where)

    def _render(self) -> str:
        return self.detail


def load_config(path: Path) -> Config:
    """Read and parse a config file; a missing or unreadable file is a `ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read config file: {reason}") from None
    return parse_config(text, str(path))


def resolve_state_dir(config: Config, environ: dict[str, str] | None = None) -> Path:
    """$STATE_DIRECTORY (systemd) wins, then the config, then $XDG_STATE_HOME/speakerd."""
    env = dict(os.environ) if environ is None else environ
    systemd_dirs = env.get("STATE_DIRECTORY")
    if systemd_dirs:
        return Path(systemd_dirs.split(":")[0])
    if config.state_dir is not None:
        return config.state_dir
    xdg = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", "~")).expanduser()
                                             / ".local" / "state")
    return Path(xdg) / "speakerd"
