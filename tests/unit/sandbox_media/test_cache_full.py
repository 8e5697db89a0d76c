"""A content cache on a full disk ends the start with exit 78 and says what to do, instead
of 70 (which systemd's Restart=on-failure would retry in a loop)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.sandbox.media import ContentError, ContentStore


@contextlib.contextmanager
def tiny_filesystem(path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (needs root and mount rights; skipped elsewhere)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                           str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_a_full_cache_is_a_setup_fault_with_advice(tmp_path: Path) -> None:
    with tiny_filesystem(tmp_path / "full") as data_dir:
        store = ContentStore(data_dir, catalog="small", speech=False, workers=1)
        with pytest.raises(ContentError) as info:
            store.ensure()
    assert info.value.exit_code == 78
    assert "no space left" in str(info.value).lower()
    assert "sandbox.data_dir" in str(info.value)
