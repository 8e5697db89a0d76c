"""Secrets mask themselves; the logging filter catches token-shaped strings."""

from __future__ import annotations

import io
import logging
import pickle

import pytest

from daemon.core.redact import MASK, RedactingFilter, Secret, redact
from tests.support import canary


def test_secret_never_prints_itself() -> None:
    secret = Secret(canary.LWA_REFRESH)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}",
                 "%s" % secret,  # noqa: UP031 - %-formatting is what logging does
                 repr([secret]), repr({"token": secret})):
        assert canary.leaks(text) == []
    assert secret.reveal() == canary.LWA_REFRESH
    with pytest.raises(TypeError):
        pickle.dumps(secret)


@pytest.mark.parametrize("raw", [
    canary.LWA_REFRESH, canary.LWA_ACCESS, canary.AUDIBLE_ACCESS, canary.ADP_TOKEN,
    "Authorization: Bearer abc.def-ghi_CANARYaccessTOKEN",
    "-----BEGIN RSA PRIVATE KEY-----\nCANARYaccessTOKEN\n-----END RSA PRIVATE KEY-----",
])
def test_redact_masks_token_shapes(raw: str) -> None:
    cleaned = redact(f"refresh.failed body={raw} status=400")
    assert canary.leaks(cleaned) == []
    assert MASK in cleaned
    assert cleaned.endswith("status=400")


def test_filter_rewrites_messages_args_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("daemon.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token.refreshed value=%s", canary.LWA_ACCESS)
        try:
            raise ValueError(f"server said {canary.LWA_REFRESH}")
        except ValueError:
            logger.exception("refresh.failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "token.refreshed value=***" in output
    assert "refresh.failed" in output
    assert canary.leaks(output) == []
