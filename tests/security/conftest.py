"""Fixtures of the security tests: the real-browser ones are shared with tests/e2e (a `nixfleet serve` process,
Debian's chromium, fake agents connected to that process)."""

from tests.e2e.conftest import _chromium, agents, browser, dashboard_process

__all__ = ['_chromium', 'agents', 'browser', 'dashboard_process']
