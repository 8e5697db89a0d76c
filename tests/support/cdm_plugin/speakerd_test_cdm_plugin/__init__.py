"""A plug-in CDM for tests: ClearKey under another name, configured from plugin_options."""

from __future__ import annotations

from typing import Any

from daemon.drm.clearkey import ClearKeyCdm


class PluginCdm(ClearKeyCdm):
    """What a maker's hardware CDM would be; here it reuses ClearKey's wire format."""

    name = "test-plugin"

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


def create(config: Any, options: Any) -> PluginCdm:
    """Entry-point factory: `factory(config: DrmConfig, options: CdmOptions) -> Cdm`."""
    return PluginCdm(str(options.plugin_options.get("label", "unset")))


def create_broken(config: Any, options: Any) -> object:
    """A factory that returns something that is not a CDM (for the registry's check)."""
    return object()
