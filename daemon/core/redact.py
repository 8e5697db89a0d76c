"""Secrets that mask themselves, and a logging filter that catches the rest.

`Secret` is the one type for tokens, keys and codes held in memory: its `repr`/`str` are
`***`, so a secret that slips into an f-string, a log call or a traceback shows nothing.
The filter is a second net for raw strings that look like Amazon tokens or PEM keys.
"""

from __future__ import annotations

import logging
import re
from typing import Final

MASK: Final = "***"

# Amazon token prefixes (Atza| access, Atzr| refresh, Atna|/Atnr| Audible), our encrypted
# blobs, PEM blocks and bearer values (spec/lan-security-and-operations.md §4.3).
_SECRET_PATTERNS: Final = re.compile(
    r"(Atz[ar]\|[^\s\"',&]+|Atn[ar]\|[^\s\"',&]+|\{enc:[^}]*\}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=|-]+)"
)


class Secret:
    """A secret value; only `reveal()` gives it back, and only at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def redact(text: str) -> str:
    """Mask anything in `text` that looks like a token, key or bearer value."""
    return _SECRET_PATTERNS.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message through `redact` (installed on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not take logging down
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = redact(str(exc))
            if text != str(exc):
                record.exc_text = f"{type(exc).__name__}: {text}"
                record.exc_info = None
        return True
