"""Choosing a CDM from the `drm:` configuration; the `none` CDM; the device file rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.core.config import DrmConfig
from daemon.core.errors import ConfigError, DrmError
from daemon.core.redact import Secret
from daemon.drm import CdmNotConfigured, CdmOptions, create_cdm
from daemon.drm.clearkey import ClearKeyCdm
from daemon.drm.remote import RemoteCdm
from daemon.drm.widevine import WidevineCdm, read_device_file


async def test_none_fails_every_request_with_instructions() -> None:
    cdm = create_cdm(DrmConfig(cdm="none"))
    await cdm.start()
    with pytest.raises(CdmNotConfigured, match=r"drm\.cdm") as info:
        await cdm.open()
    assert "speakerd[widevine]" in str(info.value)
    with pytest.raises(CdmNotConfigured):
        await cdm.keys(b"s", b"l")
    await cdm.close(b"s")
    await cdm.aclose()


def test_builtins_by_name() -> None:
    assert isinstance(create_cdm(DrmConfig(cdm="clearkey")), ClearKeyCdm)
    wv = create_cdm(DrmConfig(cdm="widevine", widevine_device=Path("/nonexistent.wvd")))
    assert isinstance(wv, WidevineCdm)
    remote = create_cdm(
        DrmConfig(
            cdm="remote",
            remote_url="http://127.0.0.1:1",
            remote_secret=Secret("s3cret"),
            remote_device="dev",
        )
    )
    assert isinstance(remote, RemoteCdm)
    assert "s3cret" not in repr(remote)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (DrmConfig(cdm="widevine"), "drm.widevine_device"),
        (
            DrmConfig(cdm="remote", remote_device="d", remote_secret=Secret("x")),
            "drm.remote_url",
        ),
        (DrmConfig(cdm="remote", remote_url="http://h", remote_device="d"), "drm.remote_secret"),
        (
            DrmConfig(
                cdm="remote", remote_url="ftp://h", remote_device="d", remote_secret=Secret("x")
            ),
            "drm.remote_url",
        ),
    ],
)
def test_missing_settings_are_config_errors(settings: DrmConfig, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_cdm(settings)
    assert info.value.fields["key"] == key


def test_unknown_name_lists_what_is_known() -> None:
    with pytest.raises(ConfigError, match="unknown CDM 'nonesuch'") as info:
        create_cdm(DrmConfig(cdm="nonesuch"))
    assert "clearkey" in str(info.value)


def test_options_validate_numbers() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        CdmOptions(request_timeout=0)
    with pytest.raises(ValueError, match="retries"):
        CdmOptions(retries=-1)


def test_an_empty_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must name a CDM"):
        create_cdm(DrmConfig(cdm=""))


def _write(path: Path, data: bytes, mode: int) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_device_file_rules(tmp_path: Path) -> None:
    with pytest.raises(DrmError, match="does not exist"):
        read_device_file(tmp_path / "missing.wvd")
    loose = _write(tmp_path / "loose.wvd", b"WVD", 0o644)
    with pytest.raises(DrmError, match=r"group or others \(mode 0644\).*chmod 600"):
        read_device_file(loose)
    with pytest.raises(DrmError, match="regular file"):
        read_device_file(tmp_path)
    os.symlink(_write(tmp_path / "real.wvd", b"WVD", 0o600), tmp_path / "link.wvd")
    with pytest.raises(DrmError):
        read_device_file(tmp_path / "link.wvd")
    assert read_device_file(tmp_path / "real.wvd") == b"WVD"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_device_file(tmp_path: Path) -> None:
    with pytest.raises(DrmError, match="not readable"):
        read_device_file(_write(tmp_path / "x.wvd", b"WVD", 0o000))


async def test_corrupt_device_file_is_a_drm_error(tmp_path: Path) -> None:
    pytest.importorskip("pywidevine")
    cdm = WidevineCdm(_write(tmp_path / "bad.wvd", b"WVD\x02\x02\x03\x00garbage", 0o600))
    with pytest.raises(DrmError, match="corrupt"):
        await cdm.start()
    with pytest.raises(DrmError, match="corrupt"):
        await cdm.open()
    assert cdm.open_sessions == 0
