"""Logging setup: one logger per layer, `event.name key=value` lines, secrets redacted.

Under journald (JOURNAL_STREAM names our stderr) lines carry a syslog priority prefix and
no timestamp, because the journal adds its own; elsewhere they carry a timestamp.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from daemon.core.redact import RedactingFilter

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """`<6>daemon.http: event key=value` — journald reads the priority from the prefix."""

    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines() or [""])


def stream_is_journal(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """True when JOURNAL_STREAM's device:inode is the stream's (systemd.exec(5))."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return st.st_dev == dev and st.st_ino == ino


def setup_logging(level: str, *, stream: TextIO | None = None, verbose: bool = False) -> None:
    """Configure the `daemon` logger tree once per process (the CLI calls this)."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    if stream_is_journal(out):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(RedactingFilter())
    handler.set_name("speakerd")
    root = logging.getLogger("daemon")
    for old in list(root.handlers):
        if old.get_name() == "speakerd":  # replace ours only; a test harness may listen too
            root.removeHandler(old)
    root.addHandler(handler)
    root.propagate = False
    set_level(logging.DEBUG if verbose else level)


def set_level(level: str | int) -> None:
    """Change the level at run time (SIGHUP applies logging.level live)."""
    value = level if isinstance(level, int) else getattr(logging, level.upper())
    logging.getLogger("daemon").setLevel(value)
