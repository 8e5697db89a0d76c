"""Choose the CDM from configuration (`drm:`): built-ins by name, anything else by entry
point.

Third-party CDMs register a factory `factory(config: DrmConfig, options: CdmOptions) -> Cdm`
in the entry point group `speakerd.cdm`; installing their package is all it takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from daemon.core.clock import Clock
from daemon.core.config import DrmConfig
from daemon.core.errors import ConfigError, DrmError
from daemon.drm.cdm import Cdm

if TYPE_CHECKING:
    from daemon.services.http import HttpClient

log = logging.getLogger("daemon.drm")

ENTRY_POINT_GROUP: Final = "speakerd.cdm"
BUILTIN_CDMS: Final = ("none", "clearkey", "widevine", "remote")


@dataclass(frozen=True)
class CdmOptions:
    """What building a CDM takes besides `drm:` in the configuration.

    `service_certificate_root`: a DrmCertificate (ROOT) file to verify service certificates
    with instead of Google's root, only for licence servers with their own test PKI (the
    sandbox). Timeouts (seconds) and retries are the remote CDM's. `plugin_options` is
    passed untouched to a plug-in's factory.
    """

    #: Ask the licence server for its service certificate and encrypt the client id.
    privacy_mode: bool = True
    service_certificate_root: Path | None = None
    request_timeout: float = 10.0
    connect_timeout: float = 3.0
    retries: int = 2
    retry_backoff: float = 0.25
    plugin_options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.request_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("drm timeouts must be positive")
        if self.retries < 0:
            raise ValueError("drm.remote retries must be >= 0")


CdmFactory = Callable[[DrmConfig, CdmOptions], Cdm]


def plugin_names() -> list[str]:
    """Names of the CDM plug-ins installed in this environment."""
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def create_cdm(config: DrmConfig, *, options: CdmOptions | None = None,
               clock: Clock | None = None, http: HttpClient | None = None) -> Cdm:
    """The CDM `config.cdm` names, not yet started (call `await cdm.start()`).

    Cheap: no device file is read and pywidevine is not imported until `start()`.
    Raises ConfigError (with the config path) for a missing setting or an unknown name.
    `http` is the daemon's shared client, for CDMs that talk to a server.
    """
    opts = options if options is not None else CdmOptions()
    name = config.cdm
    if not name:
        raise ConfigError("drm.cdm must name a CDM", key="drm.cdm")
    if name == "none":
        from daemon.drm.none import NoCdm

        return NoCdm()
    if name == "clearkey":
        from daemon.drm.clearkey import ClearKeyCdm

        return ClearKeyCdm()
    if name == "widevine":
        if config.widevine_device is None:
            raise ConfigError(
                "drm.cdm is widevine but no device file is set", key="drm.widevine_device"
            )
        from daemon.drm.widevine import WidevineCdm

        return WidevineCdm(
            config.widevine_device,
            privacy_mode=opts.privacy_mode,
            service_certificate_root=opts.service_certificate_root,
        )
    if name == "remote":
        for key, value in (
            ("drm.remote_url", config.remote_url),
            ("drm.remote_secret", config.remote_secret),
            ("drm.remote_device", config.remote_device),
        ):
            if not value:
                raise ConfigError("drm.cdm is remote but a setting is missing", key=key)
        from daemon.drm.remote import RemoteCdm

        assert config.remote_url is not None
        assert config.remote_secret is not None
        assert config.remote_device is not None
        try:
            return RemoteCdm(
                config.remote_url,
                config.remote_secret,
                config.remote_device,
                privacy_mode=opts.privacy_mode,
                request_timeout=opts.request_timeout,
                connect_timeout=opts.connect_timeout,
                retries=opts.retries,
                retry_backoff=opts.retry_backoff,
                clock=clock,
                http=http,
            )
        except DrmError as exc:
            raise ConfigError(exc.detail, key="drm.remote_url") from None
    return _from_plugin(name, config, opts)


def _from_plugin(name: str, config: DrmConfig, options: CdmOptions) -> Cdm:
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join([*BUILTIN_CDMS, *plugin_names()])
        raise ConfigError(f"unknown CDM {name!r}; known: {known}", key="drm.cdm")
    entry = found[0]
    try:
        factory = entry.load()
        cdm = factory(config, options)
    except Exception as exc:
        raise ConfigError(
            f"CDM plug-in {name!r} failed to load: {type(exc).__name__}", key="drm.cdm"
        ) from exc
    if not isinstance(cdm, Cdm):
        raise ConfigError(
            f"CDM plug-in {name!r} returned an object without the Cdm methods", key="drm.cdm"
        )
    log.info("drm.plugin_loaded name=%s value=%s", name, entry.value)
    return cdm
