"""The packaging sources agree with the code: versions, the packaged config, the unit files
debian/ installs, and where an installed daemon finds its hardware profiles."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from daemon import __version__, devenv
from daemon.capabilities import profiles
from daemon.core.config import parse_config
from daemon.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "debian"


def test_changelog_and_man_page_carry_the_code_version() -> None:
    assert devenv._debian_version() == __version__
    header = (ROOT / "docs" / "man" / "speakerd.1").read_text().splitlines()[0]
    assert f'"speakerd {__version__}"' in header


def test_packaged_config_selects_the_real_service_and_is_valid() -> None:
    text = (DEBIAN / "config.yaml").read_text()
    config = parse_config(text, "debian/config.yaml")
    assert config.service == "amazon"
    assert config.amazon.client_id
    assert config.playback.autoplay == ""
    # The placeholder says what to do in the file itself.
    assert "REQUIRED" in text


def test_packaged_config_refuses_an_unknown_key_like_any_config() -> None:
    text = (DEBIAN / "config.yaml").read_text() + "audoi:\n  output: auto\n"
    with pytest.raises(ConfigError, match="audoi"):
        parse_config(text, "debian/config.yaml")


@pytest.mark.parametrize("name", ["speakerd.service", "speakerd.sysusers", "speakerd.tmpfiles"])
def test_debian_installs_the_files_of_systemd_dir(name: str) -> None:
    link = DEBIAN / name
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "systemd" / name).resolve()


def test_sysusers_user_owns_the_tmpfiles_state_dir_and_the_unit_runs_as_it() -> None:
    sysusers = (ROOT / "systemd" / "speakerd.sysusers").read_text().splitlines()
    assert "u speakerd - \"speakerd speaker daemon\" /var/lib/speakerd" in sysusers
    assert "m speakerd audio" in sysusers
    tmpfiles = (ROOT / "systemd" / "speakerd.tmpfiles").read_text().splitlines()
    assert "d /var/lib/speakerd 0700 speakerd speakerd -" in tmpfiles
    unit = (ROOT / "systemd" / "speakerd.service").read_text().splitlines()
    assert "User=speakerd" in unit
    assert not any(line.startswith("DynamicUser=") for line in unit)


def test_postrm_removes_the_state_only_on_purge() -> None:
    text = (DEBIAN / "speakerd.postrm").read_text()
    purge = text.index('if [ "$1" = "purge" ]; then')
    assert text.index("rm -rf /var/lib/speakerd") > purge
    assert text.count("rm -rf") == 1


def test_hardware_profiles_found_in_the_first_directory_that_has_them(tmp_path: Path) -> None:
    checkout, installed = tmp_path / "checkout", tmp_path / "usr-share"
    (installed / "boards").mkdir(parents=True)
    checkout.mkdir()
    assert profiles.hardware_dir((checkout, installed)) == installed
    (checkout / "boards").mkdir()
    assert profiles.hardware_dir((checkout, installed)) == checkout


def test_hardware_profiles_missing_everywhere_names_the_first_place(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert profiles.hardware_dir((first, second)) == first


def test_the_lookup_order_is_checkout_then_the_package() -> None:
    order = profiles.HARDWARE_DIRS
    assert order == (ROOT / "hardware", Path("/usr/share/speakerd/hardware"))
    assert profiles.hardware_dir() == ROOT / "hardware"


def test_deb_command_rejects_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert devenv._build_deb(["--bogus", "x"]) == 64
    assert "usage" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is not installed")
def test_man_page_renders_without_warnings() -> None:
    page = ROOT / "docs" / "man" / "speakerd.1"
    result = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "80"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "check-config" in result.stdout
