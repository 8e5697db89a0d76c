"""Choose the CDM from configuration: built-ins by name, anything else by entry point.

Third-party CDMs register a factory `factory(settings: DrmSettings) -> Cdm` in the entry
point group `speakerd.cdm`; installing their package is all it takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import metadata
from typing import Final

from daemon.core.clock import Clock
from daemon.core.errors import ConfigError, DrmError
from daemon.drm.cdm import Cdm
from daemon.drm.settings import BUILTIN_CDMS, DrmSettings

log = logging.getLogger("daemon.drm")

ENTRY_POINT_GROUP: Final = "speakerd.cdm"
CdmFactory = Callable[[DrmSettings], Cdm]


def plugin_names() -> list[str]:
    """Names of the CDM plug-ins installed in this environment."""
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def create_cdm(settings: DrmSettings, *, clock: Clock | None = None) -> Cdm:
    """The CDM `settings.cdm` names, not yet started (call `await cdm.start()`).

    Cheap: no device file is read and pywidevine is not imported until `start()`.
    Raises ConfigError for a missing setting or an unknown name.
    """
    name = settings.cdm
    if name == "none":
        from daemon.drm.none import NoCdm

        return NoCdm()
    if name == "clearkey":
        from daemon.drm.clearkey import ClearKeyCdm

        return ClearKeyCdm()
    if name == "widevine":
        if settings.widevine_device is None:
            raise ConfigError(
                "drm.cdm is widevine but no device file is set", key="drm.widevine.device"
            )
        from daemon.drm.widevine import WidevineCdm

        return WidevineCdm(
            settings.widevine_device,
            privacy_mode=settings.privacy_mode,
            service_certificate_root=settings.service_certificate_root,
        )
    if name == "remote":
        for key, value in (
            ("drm.remote.host", settings.remote_host),
            ("drm.remote.secret", settings.remote_secret),
            ("drm.remote.device", settings.remote_device),
        ):
            if not value:
                raise ConfigError("drm.cdm is remote but a setting is missing", key=key)
        from daemon.drm.remote import RemoteCdm

        assert settings.remote_host is not None
        assert settings.remote_secret is not None
        assert settings.remote_device is not None
        try:
            return RemoteCdm(
                settings.remote_host,
                settings.remote_secret,
                settings.remote_device,
                privacy_mode=settings.privacy_mode,
                request_timeout=settings.request_timeout,
                connect_timeout=settings.connect_timeout,
                retries=settings.retries,
                retry_backoff=settings.retry_backoff,
                clock=clock,
            )
        except DrmError as exc:
            raise ConfigError(exc.detail, key="drm.remote") from None
    return _from_plugin(name, settings)


def _from_plugin(name: str, settings: DrmSettings) -> Cdm:
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join([*BUILTIN_CDMS, *plugin_names()])
        raise ConfigError(f"unknown CDM {name!r}; known: {known}", key="drm.cdm")
    entry = found[0]
    try:
        factory = entry.load()
        cdm = factory(settings)
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
