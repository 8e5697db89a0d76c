"""Set up a checkout and run it: `python3 -m daemon.devenv run|test|bench|deb`.

Stdlib only, because it runs before anything is installed: it installs the Debian
packages the command needs (as root, via apt-get; otherwise it names them), creates
`.venv`, installs speakerd into it when pyproject.toml changed, then runs the command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".speakerd-installed"

# Debian packages per command, with what each is for.
APT_RUN: dict[str, str] = {}
APT_TEST = {
    "alsa-utils": "aplay, for the ALSA sink tests on the file: device",
    "avahi-daemon": "an independent mDNS responder for the discovery tests",
    "avahi-utils": "avahi-browse, to resolve the speaker's mDNS record",
    "iproute2": "network namespaces for the discovery tests",
    "espeak-ng": "speech for the sandbox's audiobooks",
    "chromium": "the headless browser of the web app's tests (tests/browser)",
    "chromium-driver": "chromedriver, which selenium drives the browser through",
}
# `deb` builds the Debian package with Debian's own tools (debian/rules).
APT_DEB = {
    "dpkg-dev": "dpkg-buildpackage",
    "debhelper": "the dh sequencer and its helpers",
    "dh-virtualenv": "the package's private virtual environment",
    "python3-venv": "virtual environments for dh-virtualenv",
}
APT_TEST.update({name: f"{why} (the package test)" for name, why in APT_DEB.items()})
# What the build copies of the checkout: everything but local environments and outputs.
_DEB_SKIP = (".venv", ".git", "dist", "build", "__pycache__", "*.egg-info", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", ".hypothesis", "results", "node_modules")
EXTRAS = {"run": "widevine", "test": "dev,widevine", "bench": "dev,widevine"}


def _say(message: str) -> None:
    print(f"devenv: {message}", file=sys.stderr, flush=True)


def _missing_debs(packages: dict[str, str]) -> list[str]:
    if not packages or shutil.which("dpkg-query") is None:
        return []
    missing = []
    for name in packages:
        probe = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                               capture_output=True, text=True, check=False)
        if "install ok installed" not in probe.stdout:
            missing.append(name)
    return missing


def _ensure_debs(packages: dict[str, str]) -> None:
    missing = _missing_debs(packages)
    try:
        import ensurepip  # noqa: F401  (Debian splits venv support into python3-venv)
    except ImportError:
        missing.append("python3-venv")
        packages = {**packages, "python3-venv": "virtual environments"}
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _say("these Debian packages are missing; install them as root, tests that need them"
             " are skipped with a reason:")
        for name in missing:
            _say(f"  {name}: {packages.get(name, '')}")
        return
    _say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env)


def _ensure_venv(extras: str) -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        _say(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != digest:
        _say(f"installing speakerd[{extras}] into {VENV}")
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{ROOT}[{extras}]"], check=True)
        STAMP.write_text(digest + "\n")
    return VENV / "bin"


def _run_tests(bin_dir: Path, args: list[str]) -> int:
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [str(bin_dir / "ruff"), "check", "daemon", "tests", "bench"]),
        ("mypy --strict", [str(bin_dir / "mypy")]),
        ("lint-imports", [str(bin_dir / "lint-imports")]),
        ("pytest", [str(bin_dir / "pytest"), *args]),
    ]
    failed = []
    for name, argv in steps:
        _say(f"running {name}")
        code = subprocess.run(argv, cwd=ROOT, check=False).returncode
        if code == 5 and name == "pytest":
            _say("pytest collected no tests: that is a failure, not a pass")
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if failed:
        _say(f"FAILED: {', '.join(failed)}")
        return 1
    _say("all checks passed")
    return 0


def _debian_version() -> str:
    first = (ROOT / "debian" / "changelog").read_text().split("\n", 1)[0]
    return first.split("(", 1)[1].split(")", 1)[0]


def _build_deb(args: list[str]) -> int:
    """Build `dist/speakerd_<version>_<arch>.deb` in a copy of the checkout.

    `--version V` builds as Debian version V (a changelog entry is added to the copy only),
    `--out DIR` writes elsewhere than dist/. Prints the path of the package on stdout.
    """
    import tempfile

    options = dict(zip(args[::2], args[1::2], strict=False))
    if len(args) % 2 or set(options) - {"--version", "--out"}:
        _say("usage: python3 -m daemon.devenv deb [--version VERSION] [--out DIR]")
        return 64
    if shutil.which("dpkg-buildpackage") is None or shutil.which("dh_virtualenv") is None:
        _say("dpkg-buildpackage and dh_virtualenv are needed: apt-get install"
             f" {' '.join(APT_DEB)}")
        return 69
    version = options.get("--version") or _debian_version()
    out = Path(options.get("--out") or ROOT / "dist").resolve()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="speakerd-deb-") as tmp:
        src = Path(tmp) / f"speakerd-{version}"
        shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*_DEB_SKIP))
        if version != _debian_version():
            changelog = src / "debian" / "changelog"
            stamp = subprocess.run(["date", "-R"], capture_output=True, text=True,
                                   check=True).stdout.strip()
            entry = (f"speakerd ({version}) bookworm; urgency=medium\n\n"
                     f"  * Local build of version {version}.\n\n"
                     f" -- speakerd developers <speakerd@example.invalid>  {stamp}\n\n")
            changelog.write_text(entry + changelog.read_text())
        _say(f"building speakerd {version} for {arch} (pip fetches the dependencies)")
        code = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src,
                              check=False).returncode
        built = Path(tmp) / f"speakerd_{version}_{arch}.deb"
        if code != 0 or not built.exists():
            _say(f"dpkg-buildpackage failed (exit {code})")
            return 1
        out.mkdir(parents=True, exist_ok=True)
        target = out / built.name
        shutil.copyfile(built, target)
    print(target)
    return 0


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        _say("speakerd needs Python 3.11 or newer")
        return 69
    if not argv or argv[0] not in (*EXTRAS, "deb"):
        _say("usage: python3 -m daemon.devenv run|test|bench|deb [ARGS...]")
        return 64
    command, rest = argv[0], argv[1:]
    if command == "deb":
        _ensure_debs(APT_DEB)
        return _build_deb(rest)
    _ensure_debs(APT_TEST if command in ("test", "bench") else APT_RUN)
    bin_dir = _ensure_venv(EXTRAS[command])
    if command == "test":
        return _run_tests(bin_dir, rest)
    if command == "bench":
        return subprocess.run([str(bin_dir / "python"), "-m", "bench", *rest], cwd=ROOT,
                              check=False).returncode
    config = rest or ["--config", str(ROOT / "config.example.yaml")]
    os.execv(str(bin_dir / "speakerd"), [str(bin_dir / "speakerd"), "run", *config])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
