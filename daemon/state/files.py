"""Atomic, private state files (spec/lan-security-and-operations.md §4.3).

Every state file is 0600 inside a 0700 directory and is replaced atomically: a reader
sees the old content or the new, never a mix, even across a power cut on an SD card.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from daemon.core.errors import StateError

_PRIVATE_DIR_MODE = 0o700
_PRIVATE_FILE_MODE = 0o600
#: the temp name `atomic_write` uses: `.<name>.<pid>.<8 hex>.tmp`
_TEMP_NAME = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (0700) if missing; refuse one that group or others can reach."""
    try:
        path.mkdir(mode=_PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        st = path.stat()
    except OSError as exc:
        raise StateError(
            f"state directory cannot be created: {exc.strerror}", path=str(path)
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise StateError("state directory is not a directory", path=str(path))
    if st.st_mode & 0o077:
        raise StateError(
            f"state directory is accessible to group or others (mode {st.st_mode & 0o777:04o});"
            " run: chmod 700 on it",
            path=str(path),
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateError("state directory is not writable by this user", path=str(path))
    return path


def check_private_file(path: Path) -> None:
    """Refuse a secret file that group or others can read."""
    st = path.stat()
    if st.st_mode & 0o077:
        raise StateError(
            f"secret file is readable by group or others (mode {st.st_mode & 0o777:04o});"
            " run: chmod 600 on it",
            path=str(path),
        )


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: temp file (0600, O_EXCL), fsync, rename, fsync dir."""
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE_MODE)
    except OSError as exc:
        raise StateError(f"cannot write state file: {exc.strerror}", path=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StateError(f"cannot write state file: {exc.strerror}", path=str(path)) from None
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sweep_temp_files(root: Path) -> int:
    """Remove what an interrupted `atomic_write` left under `root`; returns how many.

    Call it only while holding the state directory's lock: then no writer of ours is
    mid-write, so every temp file is a leftover (a SIGKILL or power cut between create
    and rename). Symlinks are not followed."""
    removed = 0
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(directory, d))]
        for name in filenames:
            if _TEMP_NAME.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, name))
                    removed += 1
    return removed


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON state file; None when absent. A corrupt file is an error, never ignored."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read state file: {exc.strerror}", path=str(path)) from None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"state file is not valid JSON: {exc}", path=str(path)) from None
    if not isinstance(value, dict):
        raise StateError("state file does not hold a JSON object", path=str(path))
    return value


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomically write a JSON state file (0600)."""
    atomic_write(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")
