"""Planted secrets: tests feed these values to the daemon and the suite fails if any
of them ever shows up in a log record, an error message or a saved file."""

from __future__ import annotations

from pathlib import Path

LWA_REFRESH = "Atzr|IwEBICANARYrefreshTOKENvalue0123456789abcdefghij"
LWA_ACCESS = "Atza|IwEBICANARYaccessTOKENvalue0123456789abcdefghijk"
AUDIBLE_ACCESS = "Atna|EwICANARYaudibleACCESSvalue0123456789abcdefgh"
SETUP_CODE = "73915804"
REMOTE_SECRET = "canary-remote-cdm-secret-5f1e2d3c4b5a"
ADP_TOKEN = "{enc:CANARYadpTOKEN}{key:Q0FOQVJZ}{iv:SVY=}{name:ZGV2aWNl}{serial:Mg==}"

ALL: tuple[str, ...] = (LWA_REFRESH, LWA_ACCESS, AUDIBLE_ACCESS, SETUP_CODE, REMOTE_SECRET,
                        ADP_TOKEN)

# Distinctive parts that must not leak even when a value is cut or reformatted.
_FRAGMENTS: tuple[str, ...] = ("CANARYrefreshTOKEN", "CANARYaccessTOKEN", "CANARYaudibleACCESS",
                               SETUP_CODE, "canary-remote-cdm-secret", "CANARYadpTOKEN")


def leaks(text: str) -> list[str]:
    """The canary fragments found in `text`."""
    return [frag for frag in _FRAGMENTS if frag in text]


def leaks_in_tree(root: Path) -> list[tuple[Path, str]]:
    """Canary fragments found in any file below `root` (as bytes, any encoding)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for frag in _FRAGMENTS:
                if frag.encode() in data:
                    found.append((path, frag))
    return found
