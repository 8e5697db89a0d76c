"""`playback/` knows no service: no import of `services`, `sources` or `contracts`."""

from __future__ import annotations

import ast
from pathlib import Path

import daemon.playback

FORBIDDEN = ("daemon.services", "daemon.sources", "daemon.contracts")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_playback_imports_no_service_module() -> None:
    root = Path(daemon.playback.__file__).parent
    found = [f"{path.relative_to(root)}: {name}" for path in sorted(root.rglob("*.py"))
             for name in _imports(path)
             if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert found == []


def test_the_layering_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from daemon.contracts import amazon_music as am\nimport daemon.sources\n")
    assert _imports(module) == ["daemon.contracts", "daemon.sources"]
