"""The secret scan itself (tests/security/secret_scan.py): it must catch what it claims to, and be running.

Records are built by hand here (not logged), so the planted secrets never reach the session-wide scan.
"""

from __future__ import annotations

import logging
import secrets

import pyotp

from tests.conftest import SECRET_SCAN
from tests.security.secret_scan import SecretScan


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord('nixfleet.test', logging.INFO, __file__, 1, msg, args or None, exc_info)


def test_a_secret_in_a_message_its_arguments_or_an_exception_is_caught() -> None:
    secret = secrets.token_hex(16)
    scan = SecretScan()
    scan.add([secret, 'k1'])
    scan.check(_record('plain %s', 'words'))
    scan.check(_record('k1 is too short to be scanned'))
    assert scan.leaks == []
    scan.check(_record(f'token={secret}'))
    scan.check(_record('token=%s', secret))
    try:
        raise ValueError(f'bad value {secret}')
    except ValueError as exc:
        scan.check(_record('failed', exc=exc))
    scan.check(_record('%s %s', 'wrong number of args'))  # a broken record is scanned, not fatal
    assert len(scan.leaks) == 3 and all(leak.test == '(collection)' for leak in scan.leaks)
    assert secret not in scan.report()  # the report never repeats the secret


def test_full_token_values_are_caught_whatever_they_are() -> None:
    scan = SecretScan()
    body = secrets.token_urlsafe(32)
    scan.check(_record('created agent token nfagent_Ab12Cd… for host web1'))  # the display prefix is fine
    assert scan.leaks == []
    scan.check(_record('Authorization: Bearer nfapi_' + body))
    scan.check(_record('nfagent_' + body))
    assert len(scan.leaks) == 2


def test_the_session_wide_scan_is_running() -> None:
    before = SECRET_SCAN.records
    logging.getLogger('nixfleet.test').info('an ordinary line')
    assert SECRET_SCAN.records > before
    generated = pyotp.random_base32()
    assert generated in SECRET_SCAN.secrets
    assert SECRET_SCAN.current_test.endswith('test_the_session_wide_scan_is_running')
