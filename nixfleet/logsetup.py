"""Process logging: one line per record to stdout, UTC timestamps, configured secrets redacted."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable

REDACTED = '[REDACTED]'


class RedactingFormatter(logging.Formatter):
    """Format `time level logger: message` in UTC, then replace every configured secret with a marker.

    Redacting the formatted text (not only the message) also covers exception tracebacks and their arguments.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__('%(asctime)s %(levelname)-7s %(name)s: %(message)s')
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created)) + f'.{int(record.msecs):03d}Z'

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    """Send logs to stdout as `time level logger: message`, hiding the given secrets."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ('uvicorn', 'uvicorn.error', 'uvicorn.access'):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for noisy in ('apscheduler', 'httpx', 'httpcore'):  # one line per job run / HTTP request is noise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger('uvicorn.error').setLevel(logging.WARNING)  # one line per WebSocket accept is noise at scale
