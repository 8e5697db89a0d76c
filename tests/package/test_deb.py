"""The Debian package on this machine: build two versions with `python3 -m daemon.devenv deb`,
install the first with apt-get, check what it put where, run the installed daemon as the
service's user on the sandbox, upgrade in place keeping the state and the user's edit of the
conffile, and purge.

Runs as root with Debian's build tools (CI: a fresh Debian 12); skipped with the reason
otherwise, and when speakerd is already installed (the test must not touch a real install).
It removes what it installed, the `speakerd` system user included, if it was not there.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon import __version__
from tests.support.daemon_proc import NotifyListener

ROOT = Path(__file__).resolve().parents[2]
# By path: a `speakerd` on PATH may be this checkout's (an activated .venv).
EXE = "/usr/bin/speakerd"
STATE = Path("/var/lib/speakerd")
CONFIG = Path("/etc/speakerd/config.yaml")
UPGRADE_VERSION = f"{__version__}+upgrade1"
# Other apt users on the machine (unattended upgrades, a parallel job) hold the lock briefly.
APT = ("apt-get", "-o", "DPkg::Lock::Timeout=300")


def _installed_status() -> str:
    probe = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "speakerd"],
                           capture_output=True, text=True, check=False)
    return probe.stdout.strip() if probe.returncode == 0 else "not-installed"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "installs a .deb: needs root (CI runs as root)"
    for tool in ("dpkg-buildpackage", "dh_virtualenv", "apt-get", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (python3 -m daemon.devenv test installs it)"
    if _installed_status() != "not-installed":
        return "speakerd is already installed here; the test would disturb it"
    return None


_REASON = _skip_reason()
pytestmark = [pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
              pytest.mark.timeout(900)]


def _run(*argv: str, timeout: float = 300, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, check=False, **kwargs)  # type: ignore[call-overload]
    assert isinstance(result, subprocess.CompletedProcess)
    return result


def _ok(*argv: str, timeout: float = 300) -> str:
    result = _run(*argv, timeout=timeout, cwd="/")
    assert result.returncode == 0, f"{argv}: exit {result.returncode}\n{result.stderr[-3000:]}"
    return str(result.stdout)


@dataclass
class Debs:
    """The first build, and the second (another version) building in the background while
    the test works with the first: the two builds are most of the test's time."""

    first: Path
    _second: subprocess.Popen[str]

    def second(self) -> Path:
        out, err = self._second.communicate(timeout=900)
        assert self._second.returncode == 0, err[-4000:]
        return Path(out.strip().splitlines()[-1])


def _build_argv(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "daemon.devenv", "deb", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Debs]:
    first_out = tmp_path_factory.mktemp("debs")
    result = _run(*_build_argv(first_out), timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    first = Path(result.stdout.strip().splitlines()[-1])
    second = subprocess.Popen(
        _build_argv(tmp_path_factory.mktemp("debs"), "--version", UPGRADE_VERSION),
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        yield Debs(first, second)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()


@pytest.fixture
def machine() -> Iterator[None]:
    """Purge whatever the test installed, and the system user if the test created it."""
    had_user = _has_user()
    yield
    if _installed_status() != "not-installed":
        _run(*APT, "purge", "-y", "-q", "speakerd")
    if not had_user and _has_user():
        _run("userdel", "speakerd")
        if _has_group():
            _run("groupdel", "speakerd")


def _has_user() -> bool:
    try:
        pwd.getpwnam("speakerd")
    except KeyError:
        return False
    return True


def _has_group() -> bool:
    try:
        grp.getgrnam("speakerd")
    except KeyError:
        return False
    return True


def _apt_install(deb: Path) -> None:
    _ok(*APT, "install", "-y", "-q", "--no-install-recommends", str(deb))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _unit_path() -> Path:
    for base in ("/lib/systemd/system", "/usr/lib/systemd/system"):
        if (Path(base) / "speakerd.service").is_file():
            return Path(base) / "speakerd.service"
    raise AssertionError("speakerd.service was not installed")


def _check_installed_files(version: str) -> None:
    assert _installed_status() == "installed"
    assert _ok("dpkg-query", "-W", "-f=${Version}", "speakerd") == version
    exe = Path("/usr/bin/speakerd")
    assert exe.resolve() == Path("/usr/lib/speakerd/bin/speakerd")
    assert _mode(exe.resolve()) == 0o755
    # The environment's interpreter is Debian's, not whatever built the package.
    assert (Path("/usr/lib/speakerd/bin/python3").resolve().parent == Path("/usr/bin"))
    conffiles = _ok("dpkg-query", "-W", "-f=${Conffiles}", "speakerd")
    assert str(CONFIG) in conffiles.split()
    info = CONFIG.stat()
    assert (_mode(CONFIG), info.st_uid, info.st_gid) == (0o644, 0, 0)
    assert _mode(_unit_path()) == 0o644
    assert Path("/etc/systemd/system/multi-user.target.wants/speakerd.service").is_symlink()
    for path in ("/usr/lib/sysusers.d/speakerd.conf", "/usr/lib/tmpfiles.d/speakerd.conf",
                 "/usr/share/speakerd/hardware/boards/rpi-4b.yaml",
                 "/usr/share/speakerd/hardware/outputs/hifiberry-dacplus.yaml",
                 "/usr/share/man/man1/speakerd.1.gz",
                 "/usr/share/doc/speakerd/README.md",
                 "/usr/share/doc/speakerd/config.example.yaml"):
        assert Path(path).is_file(), path
        assert _mode(Path(path)) == 0o644, path
    user = pwd.getpwnam("speakerd")
    assert user.pw_uid < 1000, "a system user"
    assert user.pw_shell.endswith("nologin")
    assert "speakerd" in grp.getgrnam("audio").gr_mem
    info = STATE.stat()
    assert (_mode(STATE), info.st_uid) == (0o700, user.pw_uid)


def _check_commands() -> None:
    assert _ok(EXE, "--version").strip() == f"speakerd {__version__}"
    assert _ok(EXE, "check-config", str(CONFIG)).strip() == f"{CONFIG}: OK"
    shown = _ok(EXE, "check-config", "--show", str(CONFIG))
    assert "service: amazon" in shown
    # The installed daemon finds the installed profiles, not this checkout's.
    probe = _ok(EXE, "probe", "--capabilities", "--board", "rpi-4b",
                "--dac", "hifiberry-dacplus")
    assert "hifiberry" in probe.lower()
    where = _ok("/usr/lib/speakerd/bin/python", "-c",
                "import daemon; from daemon.capabilities.profiles import hardware_dir;"
                " print(daemon.__file__); print(hardware_dir())").split()
    assert where == ["/usr/lib/speakerd/lib/python3.11/site-packages/daemon/__init__.py",
                     "/usr/share/speakerd/hardware"]
    analyzed = _run("systemd-analyze", "verify", str(_unit_path()), cwd="/")
    assert analyzed.returncode == 0, analyzed.stderr
    assert "speakerd.service" not in analyzed.stderr, analyzed.stderr


def _run_as_service_user() -> str:
    """Start the installed binary as `speakerd` on the sandbox, wait for READY=1 on a notify
    socket (as systemd would), stop it; return its log."""
    # pytest's tmp_path lies under a 0700 directory the service user cannot enter.
    with tempfile.TemporaryDirectory(prefix="speakerd-pkg-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        return _run_in(workdir)


def _run_in(workdir: Path) -> str:
    config = workdir / "sandbox.yaml"
    config.write_text(f"service: sandbox\nstate_dir: {STATE}\n"
                      "control:\n  port: 0\ndiscovery:\n  enabled: false\n"
                      "audio:\n  output: 'null'\nplayback:\n  autoplay: ''\n")
    config.chmod(0o644)
    listener = NotifyListener(workdir / "notify.sock")
    (workdir / "notify.sock").chmod(0o777)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": str(STATE),
           "NOTIFY_SOCKET": str(workdir / "notify.sock")}
    proc = subprocess.Popen(
        ["setpriv", "--reuid=speakerd", "--regid=speakerd", "--init-groups", "--",
         "/usr/bin/speakerd", "run", "--config", str(config)],
        env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = listener.wait_for("READY", "1", timeout=180)
        assert ready.pid == proc.pid, "READY=1 came from the daemon itself"
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        listener.close()
    assert proc.returncode == 0, log[-3000:]
    assert "app.ready" in log
    return log


def _state_snapshot() -> dict[str, str]:
    """Every file the daemon keeps in the state directory: its owner, mode and digest.

    The sandbox's generated media and the dot-folders that libraries create under $HOME
    (the service user's home is the state directory) are not the daemon's state."""
    user = pwd.getpwnam("speakerd").pw_uid
    snap = {}
    for path in sorted(STATE.rglob("*")):
        parts = path.relative_to(STATE).parts
        if parts[0] == "sandbox" or parts[0].startswith(".") or path.is_socket():
            continue
        info = path.lstat()
        assert info.st_uid == user, f"{path} is not owned by speakerd"
        if path.is_dir():
            assert _mode(path) == 0o700, path
            continue
        assert _mode(path) == 0o600, path
        snap[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return snap


def test_build_install_run_upgrade_purge(debs: Debs, machine: None) -> None:
    version = debs.first.name.split("_")[1]
    assert debs.first.name == f"speakerd_{version}_{debs.first.name.split('_')[2]}"
    _apt_install(debs.first)
    _check_installed_files(version)
    _check_commands()

    _run_as_service_user()
    state = _state_snapshot()
    assert state, "the daemon wrote its state (device identity, secret store)"

    # The owner edits the conffile; the upgrade keeps the edit and the state.
    edited = CONFIG.read_text().replace("name: speakerd", "name: Kitchen")
    assert edited != CONFIG.read_text()
    CONFIG.write_text(edited)
    _apt_install(debs.second())
    _check_installed_files(UPGRADE_VERSION)
    assert CONFIG.read_text() == edited
    assert not list(CONFIG.parent.glob("config.yaml.dpkg-*"))
    assert _state_snapshot() == state
    assert _ok(EXE, "check-config", str(CONFIG)).strip() == f"{CONFIG}: OK"

    _ok(*APT, "purge", "-y", "-q", "speakerd")
    assert _installed_status() == "not-installed"
    for gone in (STATE, CONFIG.parent, Path("/usr/lib/speakerd"), Path("/usr/bin/speakerd"),
                 Path("/etc/systemd/system/multi-user.target.wants/speakerd.service")):
        assert not os.path.lexists(gone), f"{gone} is left after purge"
