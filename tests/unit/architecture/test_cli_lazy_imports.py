"""The CLI imports only the subcommand it runs: `speakerd run` pays for none of the other
layers' commands (their parsers pull in clients, the sandbox, PyAV helpers)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LAYER_MODULES = ("daemon.cli.commands", "daemon.sandbox.cli", "daemon.control.remote_cli",
                 "daemon.cli.probe", "daemon.services.login_amazon")


def _imported_after_parsing(argv: list[str]) -> set[str]:
    code = ("import json, sys\n"
            "from daemon.cli import build_parser\n"
            f"build_parser({argv!r}).parse_known_args({argv!r})\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("argv", [["run"], ["version"], ["check-config", "x.yaml"]])
def test_own_commands_import_no_layer_command(argv: list[str]) -> None:
    assert not _imported_after_parsing(argv) & set(LAYER_MODULES)


def test_a_layer_command_imports_only_its_own_module() -> None:
    imported = _imported_after_parsing(["sandbox", "--help-not-parsed"])
    assert "daemon.sandbox.cli" in imported
    assert "daemon.cli.commands" not in imported
    assert "daemon.control.remote_cli" not in imported


def test_help_still_lists_every_command() -> None:
    from daemon.cli import build_parser

    text = build_parser().format_help()
    for name in ("run", "login", "probe", "pair", "status", "remote", "sandbox"):
        assert name in text
