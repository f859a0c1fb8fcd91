"""Scan every log record made in this process for secrets (issue 7: "a scan of all log output finds none").

`SecretScan.install()` wraps the logging record factory, so it sees each record whatever handlers exist (the
dashboard's own `logsetup.configure` replaces the root handlers; the factory stays). Each record's message and
exception text are checked when the record is made against
- the secrets configured in tests (the agent token, the password, its hash, the session secret, in-memory API
  tokens) and every TOTP secret a test generates with `pyotp.random_base32` (wrapped to remember them), and
- the shape of a full agent or API token (`nfagent_…`/`nfapi_…` with its 43 random characters), which catches tokens
  created through the API or CLI whatever their value.
The root logger is set to INFO for the run (records below the level are never made, so they could not be scanned);
`nixfleet` loggers to DEBUG. Leaks are kept with the test that was running.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyotp

#: A full token value (its shown prefix is 6 characters and an ellipsis, so it never matches).
TOKEN_SHAPE = re.compile(r'nf(?:agent|api)_[A-Za-z0-9_-]{32,}')
#: Shorter values are too likely to occur by chance (test keys such as `k1`).
MIN_SECRET_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Leak:
    """A secret seen in a log record."""

    test: str
    logger: str
    level: str
    what: str
    excerpt: str


@dataclass
class SecretScan:
    """Watches log records for secrets from `install()` to `uninstall()`."""

    secrets: set[str] = field(default_factory=set)
    leaks: list[Leak] = field(default_factory=list)
    records: int = 0
    current_test: str = '(collection)'
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _factory: Callable[..., logging.LogRecord] | None = None
    _random_base32: Callable[..., str] | None = None
    _levels: dict[str, int] = field(default_factory=dict)

    def add(self, values: Iterable[str]) -> None:
        """Watch for these values too."""
        with self._lock:
            self.secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)

    def install(self) -> None:
        """Start scanning records (and remembering generated TOTP secrets)."""
        factory = self._factory = logging.getLogRecordFactory()

        def scanning_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            self.check(record)
            return record

        logging.setLogRecordFactory(scanning_factory)
        generate = self._random_base32 = pyotp.random_base32

        def remembered_random_base32(*args: Any, **kwargs: Any) -> str:
            secret = generate(*args, **kwargs)
            self.add([secret])
            return secret

        pyotp.random_base32 = remembered_random_base32  # type: ignore[assignment]
        for name, level in (('', logging.INFO), ('nixfleet', logging.DEBUG)):
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            if logger.level == logging.NOTSET or logger.level > level:
                logger.setLevel(level)

    def uninstall(self) -> None:
        """Stop scanning and restore what `install` changed."""
        if self._factory is not None:
            logging.setLogRecordFactory(self._factory)
        if self._random_base32 is not None:
            pyotp.random_base32 = self._random_base32  # type: ignore[assignment]
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)

    def check(self, record: logging.LogRecord) -> None:
        """Scan one record."""
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit: scan its parts
            text = f'{record.msg!r} {record.args!r}'
        if record.exc_info and record.exc_info[1] is not None:
            text += '\n' + ''.join(traceback.format_exception(*record.exc_info))
        if record.stack_info:
            text += '\n' + record.stack_info
        with self._lock:
            self.records += 1
            found = [s for s in self.secrets if s in text]
        if (match := TOKEN_SHAPE.search(text)) is not None:
            found.append(match.group(0))
        for secret in found:
            at = text.find(secret)
            before, after = text[max(0, at - 60) : at], text[at + len(secret) : at + len(secret) + 60]
            excerpt = f'{before}<SECRET>{after}'.replace('\n', ' ')
            what = f'{secret[:4]}… ({len(secret)} chars)'
            with self._lock:
                self.leaks.append(Leak(self.current_test, record.name, record.levelname, what, excerpt))

    def report(self) -> str:
        """The leaks as readable lines."""
        return '\n'.join(f'{leak.test}: {leak.logger} {leak.level}: {leak.what}: {leak.excerpt}' for leak in self.leaks)
