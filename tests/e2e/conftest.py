"""Shared by the e2e tests: one generated sandbox catalog per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sandbox content every `speakerd run` here reuses (the first run generates it)."""
    return tmp_path_factory.mktemp("sandbox-content")
