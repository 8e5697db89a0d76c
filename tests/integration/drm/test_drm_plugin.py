"""A CDM plug-in found through the `speakerd.cdm` entry point, by name, without code changes."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import numpy as np
import pytest

from daemon.core.config import DrmConfig
from daemon.core.errors import ConfigError
from daemon.drm import CdmOptions, LicenceFlow, create_cdm, plugin_names
from tests.integration.drm.drm_testkit import (
    KEY_A,
    KID_A,
    decrypt_pcm,
    encrypted_flac_fmp4,
    licence_app,
    poster,
    tone,
)

PLUGIN_ROOT = Path(__file__).resolve().parents[2] / "support" / "cdm_plugin"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test package importable with distribution metadata declaring its entry
    points, as `pip install` would, but only for this test (no change to the venv)."""
    dist = tmp_path / "speakerd_test_cdm_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: speakerd-test-cdm-plugin\nVersion: 0.1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[speakerd.cdm]\n"
        "test-plugin = speakerd_test_cdm_plugin:create\n"
        "test-broken = speakerd_test_cdm_plugin:create_broken\n"
        "test-missing = speakerd_test_cdm_plugin:nonexistent\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGIN_ROOT))


@pytest.mark.usefixtures("installed_plugin")
async def test_plugin_is_picked_up_by_name_and_works(
    aiohttp_server: Any, http: aiohttp.ClientSession
) -> None:
    assert "test-plugin" in plugin_names()
    cdm = create_cdm(
        DrmConfig(cdm="test-plugin"),
        options=CdmOptions(plugin_options=MappingProxyType({"label": "maker-hw"})),
    )
    assert type(cdm).__module__ == "speakerd_test_cdm_plugin"
    assert cdm.name == "test-plugin"
    assert cdm.label == "maker-hw"  # type: ignore[attr-defined]  # the plug-in's own field
    pcm = tone(0.3)
    mp4 = encrypted_flac_fmp4(pcm, KID_A, KEY_A)
    srv = await aiohttp_server(licence_app(None, {KID_A: KEY_A}))
    await cdm.start()
    keys = await LicenceFlow(cdm).acquire(
        poster(http, str(srv.make_url("/clearkey"))), init_segment=mp4
    )
    assert np.array_equal(decrypt_pcm(mp4, keys[KID_A]), pcm)
    await cdm.aclose()


@pytest.mark.usefixtures("installed_plugin")
@pytest.mark.parametrize(
    ("name", "message"),
    [("test-broken", "without the Cdm methods"), ("test-missing", "failed to load")],
)
def test_broken_plugins_are_config_errors(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_cdm(DrmConfig(cdm=name))


def test_without_the_plugin_the_name_is_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown CDM 'test-plugin'"):
        create_cdm(DrmConfig(cdm="test-plugin"))
    assert json.dumps(plugin_names())  # listing works with whatever is installed
