"""Shared fixtures: each test gets its own data directory (fresh SQLite file) and, on request, the dashboard
in-process (`inproc`) or served on a free port (`server`)."""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx._transports.default as httpx_transports
import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault('SE_OFFLINE', 'true')

from nixfleet.config import Settings
from tests.integrations.fake_version import FakeVersionServer
from tests.support import (
    AGENT_TOKEN,
    PASSWORD_HASH,
    SESSION_SECRET,
    WAIT,
    InProcess,
    RunningServer,
    in_process,
    start_server,
)

# Every httpx client builds its SSL context (reading the whole CA bundle: milliseconds of CPU) even for plain HTTP to
# 127.0.0.1, and the suite makes thousands of clients (a dashboard's health polls alone, one client each): a profile
# of a test worker had 40 % of its CPU there. Clients with the same settings share one context (contexts are meant
# to be shared).
httpx_transports.create_ssl_context = functools.cache(httpx_transports.create_ssl_context)

# A test's HTTP client waits as long as its other waits (`WAIT`) unless it says otherwise: httpx's default 5 s read
# timeout failed a dispatch on a machine loaded by four test workers and their browsers. Product code always passes
# its own timeout, so only the tests' clients are affected.
_client_init = httpx.AsyncClient.__init__


@functools.wraps(_client_init)
def _patient_client(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
    kwargs.setdefault('timeout', WAIT)
    _client_init(self, *args, **kwargs)


httpx.AsyncClient.__init__ = _patient_client  # type: ignore[method-assign]

# Every property test draws the same examples on every run (derandomized, no example database): a failure
# reproduces, and a run is never red by the luck of the draw. Tests set their own example counts.
hypothesis_settings.register_profile('nixfleet', derandomize=True, database=None, deadline=None)
hypothesis_settings.load_profile('nixfleet')


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with test secrets and a fresh data dir under tmp_path (isolation: one database per test)."""
    return Settings(
        data_dir=tmp_path / 'data',
        agent_token=AGENT_TOKEN,
        password_hash=PASSWORD_HASH,
        session_secret=SESSION_SECRET,
        listen='127.0.0.1:0',
        log_level='info',
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A real dashboard (no UI) on a free port, on the test's event loop; stopped after the test."""
    running = await start_server(settings)
    yield running
    await running.stop()


@pytest.fixture
async def inproc(settings: Settings) -> AsyncIterator[InProcess]:
    """The same dashboard started in-process without a socket (`inproc.client()` for HTTP): for tests of what the app
    answers, where the socket is not what is tested. A few hundred milliseconds cheaper than `server` per test."""
    async with in_process(settings) as started:
        yield started


# -- wall-clock bounds: asserted only when asked (`--perf`) ----------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        '--perf',
        action='store_true',
        help='also assert wall-clock bounds (latencies measured on this machine); the default run only records them',
    )


#: Directories whose test files take longest (a browser or a dashboard process per test), slowest first: xdist hands
#: out whole files in this order (`--no-loadscope-reorder`; its default puts files with the most tests first, which
#: left a one-test, one-minute browser file for the end), so the workers end together on the many short files.
SLOW_FIRST = (
    'tests/e2e/',
    'tests/ui/',
    'tests/process/',
    'tests/perf/',
    'tests/cli/',
    'tests/security/',
    'tests/integration/',
    'tests/gateway/',
    'tests/api/',
    'tests/ops/',
)


def _slowness(item: pytest.Item) -> int:
    """The rank of the item's directory in `SLOW_FIRST` (after all of them: every other directory)."""
    return next((rank for rank, top in enumerate(SLOW_FIRST) if item.nodeid.startswith(top)), len(SLOW_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow directories first (files stay whole and in order); leave tests marked `perf` (measurements, every
    assertion a wall-clock bound) out unless `--perf`."""
    items.sort(key=_slowness)
    if config.getoption('--perf'):
        return
    measurements = [item for item in items if item.get_closest_marker('perf') is not None]
    if measurements:
        config.hook.pytest_deselected(items=measurements)
        items[:] = [item for item in items if item.get_closest_marker('perf') is None]


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> bool:
    """Whether this run asserts wall-clock bounds (`--perf`): a loaded machine must not turn the default run red,
    so there a test records what it measured (`record_property`) and asserts only what time cannot change."""
    return bool(request.config.getoption('--perf'))


@pytest.fixture
def version_server() -> Iterator[FakeVersionServer]:
    """A fake version.json server on a free loopback port, serving a valid version.json until told otherwise."""
    server = FakeVersionServer()
    server.start()
    yield server
    server.stop()


# -- the secret scan (issue 7): no configured secret in any log record of the whole run ----------------------------
from tests.security.secret_scan import SecretScan  # noqa: E402

#: Watches every log record of the run for test secrets (tests/security/secret_scan.py).
SECRET_SCAN = SecretScan()


def pytest_configure(config: pytest.Config) -> None:
    """Start the secret scan before collection (modules generate TOTP secrets at import)."""
    from tests.api.live_fleet import API_TOKEN
    from tests.security.helpers import ADMIN_TOKEN
    from tests.support import PASSWORD

    SECRET_SCAN.add([AGENT_TOKEN, PASSWORD, PASSWORD_HASH, SESSION_SECRET, ADMIN_TOKEN, API_TOKEN])
    SECRET_SCAN.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    SECRET_SCAN.uninstall()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything imported and collected into the collector's permanent generation: a full collection then
    walks only what tests made. NiceGUI's per-test reset collects twice, and over a whole run's heap each took
    seconds."""
    gc.collect()
    gc.freeze()


def pytest_runtest_setup(item: pytest.Item) -> None:
    SECRET_SCAN.current_test = item.nodeid


@pytest.fixture(scope='session', autouse=True)
def no_secrets_in_logs() -> Iterator[SecretScan]:
    """Fail the run (at its end) if any log record made during it contained a secret."""
    yield SECRET_SCAN
    if SECRET_SCAN.leaks:
        pytest.fail(f'secrets in log records ({len(SECRET_SCAN.leaks)}):\n{SECRET_SCAN.report()}', pytrace=False)
