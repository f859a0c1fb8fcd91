"""The process log formatter hides configured secrets everywhere in a record, tracebacks included."""

from __future__ import annotations

import io
import logging

from nixfleet.logsetup import REDACTED, RedactingFormatter

SECRET = 'configured-secret-value-7f3a'


def test_secrets_are_redacted_from_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter([SECRET]))
    logger = logging.getLogger('nixfleet.tests.redaction')
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f'rejected {SECRET}')
        except ValueError:
            logger.exception('login failed for token %s', SECRET)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text
    assert text.count(REDACTED) == 2  # the message argument and the exception text
    assert 'ValueError' in text and text.endswith('\n') and 'Z ERROR' in text
