"""Without pywidevine: the daemon's DRM package imports, and both Widevine parts say how
to install it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.core.config import DrmConfig
from daemon.core.errors import DrmError
from daemon.drm import create_cdm
from daemon.sandbox.licence import WidevineLicenceServer, WidevineUnavailable


@pytest.fixture
def no_pywidevine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "pywidevine" or name.startswith("pywidevine."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pywidevine", None)  # import now raises ImportError


def test_importing_the_drm_layer_does_not_import_pywidevine() -> None:
    code = (
        "import sys, daemon.drm, daemon.drm.widevine, daemon.sandbox.licence\n"
        "from daemon.core.config import DrmConfig\n"
        "from daemon.drm import create_cdm\n"
        "create_cdm(DrmConfig(cdm='widevine', widevine_device=__import__('pathlib').Path('x')))\n"
        "print('pywidevine' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


@pytest.mark.usefixtures("no_pywidevine")
async def test_widevine_cdm_without_pywidevine_says_how_to_install(tmp_path: Path) -> None:
    device = tmp_path / "d.wvd"
    device.write_bytes(b"WVD")
    os.chmod(device, 0o600)
    cdm = create_cdm(DrmConfig(cdm="widevine", widevine_device=device))
    with pytest.raises(DrmError, match=r"pip install 'speakerd\[widevine\]'"):
        await cdm.start()


@pytest.mark.usefixtures("no_pywidevine")
def test_licence_server_without_pywidevine_is_501(tmp_path: Path) -> None:
    with pytest.raises(WidevineUnavailable) as info:
        WidevineLicenceServer(tmp_path)
    assert info.value.status == 501
    assert "speakerd[widevine]" in info.value.message
