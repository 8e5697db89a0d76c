"""Suite-wide fixtures and the secret canary: every log record of the whole run is kept
at DEBUG and scanned for planted secrets when the session ends."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support import canary


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        for frag in canary.leaks(text):
            self.leaks.append(f"{record.name}: {frag} in {text[:200]!r}")


_RECORDER = _Recorder()
_RECORDER.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))


def pytest_sessionstart(session: pytest.Session) -> None:
    for name in ("daemon", ""):
        logger = logging.getLogger(name)
        logger.addHandler(_RECORDER)
    logging.getLogger("daemon").setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _RECORDER.leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(_RECORDER.leaks[:20])
        if reporter is not None:
            reporter.write_line(f"SECRET CANARY FOUND IN LOGS:\n{lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated sandbox catalog (small, seed 1) for every test that runs a sandbox
    or a daemon on it; the first user generates it, the rest reuse the cache."""
    return tmp_path_factory.mktemp("sandbox-content")


@pytest.fixture
def log_leaks() -> list[str]:
    """The canary leaks recorded so far in this session (a test may assert it is empty)."""
    return _RECORDER.leaks
