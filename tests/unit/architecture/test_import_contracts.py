"""The layer rules in pyproject.toml are checked by `lint-imports`; a rule that nothing can
break is no rule, so a deliberately broken import must make the tool fail by name."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SANS_IO = "sans-IO: dash and mp4 import neither asyncio nor aiohttp"


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("import-linter is not installed (it is in the dev extra)")
    return found


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in config["contracts"]:
        if contract["name"] == name:
            return dict(contract)
    raise AssertionError(f"pyproject.toml has no contract {name!r}")


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace('"', '\\"') + '"'


def _tree(tmp_path: Path, dash_source: str) -> Path:
    """A `daemon` package with a dash/ and an mp4/ module, and the real sans-IO contract."""
    pkg = tmp_path / "daemon"
    for sub in ("", "dash", "mp4"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "dash" / "parser.py").write_text(dash_source)
    (pkg / "mp4" / "box.py").write_text("import struct\n")
    contract = _contract(SANS_IO)
    lines = ['[tool.importlinter]', 'root_package = "daemon"',
             'include_external_packages = true', '', '[[tool.importlinter.contracts]]']
    lines += [f"{key} = {_toml_value(value)}" for key, value in contract.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


def _run(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_lint_imports()], cwd=tree, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
                          check=False, timeout=120)


def test_an_aiohttp_import_in_dash_breaks_the_sans_io_contract(tmp_path: Path) -> None:
    result = _run(_tree(tmp_path, "import aiohttp\n"))
    assert result.returncode != 0, result.stdout
    assert SANS_IO in result.stdout
    assert "BROKEN" in result.stdout
    assert "daemon.dash.parser -> aiohttp" in result.stdout


def test_an_asyncio_import_in_dash_breaks_it_too(tmp_path: Path) -> None:
    result = _run(_tree(tmp_path, "import asyncio\n"))
    assert result.returncode != 0, result.stdout
    assert "daemon.dash.parser -> asyncio" in result.stdout


def test_the_same_tree_without_the_import_keeps_it(tmp_path: Path) -> None:
    result = _run(_tree(tmp_path, "import struct\n"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout
