"""Real-browser fixtures: the dashboard as its own process, and Debian's chromium driven by Playwright.

The dashboard runs exactly as users run it (`python -m nixfleet serve`, configured by NIXFLEET_* variables, a fresh
data dir per test); Playwright never downloads a browser, it drives `$NIXFLEET_CHROMIUM` (default /usr/bin/chromium).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from nixfleet.agent import SimBehaviour
from tests.support import (
    AGENT_TOKEN,
    PASSWORD,
    PASSWORD_HASH,
    SESSION_SECRET,
    WAIT,
    FakeAgent,
    eventually,
    free_port,
    idle,
    simulated_agents,
)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get('NIXFLEET_CHROMIUM', '/usr/bin/chromium')
#: Chromium flags for a sandbox-less container with no network side trips (docs/architecture.md#chromium-in-tests).
CHROMIUM_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
]


@dataclass
class DashboardProcess:
    """A dashboard serving on 127.0.0.1:`port` in a child process."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def ws_url(self) -> str:
        return f'ws://127.0.0.1:{self.port}/ws'

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')[-4000:]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a stuck uvicorn ignores SIGTERM (docs/architecture.md#stuck-uvicorn)
        process.kill()
        process.wait(timeout=5)


def launcher(env: Mapping[str, str]) -> str:
    """The module to run: `nixfleet`, or with NIXFLEET_TEST_HOOKS=1 the same plus the sync test hooks."""
    return 'tests.e2e.sync_hooks' if env.get('NIXFLEET_TEST_HOOKS') == '1' else 'nixfleet'


@contextmanager
def run_nixfleet(
    args: list[str],
    env: Mapping[str, str],
    tmp_path: Path,
    port: int,
    *,
    ready: Callable[[dict[str, Any]], bool] = lambda health: True,
) -> Iterator[DashboardProcess]:
    """Run `python -m nixfleet <args>` (its data dir under tmp_path; see `launcher` for the test hooks) until its
    /health answers and is `ready`; stop it (SIGTERM, then SIGKILL) afterwards."""
    log_path = tmp_path / f'{args[0]}.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(
            [sys.executable, '-m', launcher(env), *args],
            cwd=ROOT,
            env={**os.environ, 'NICEGUI_STORAGE_PATH': str(tmp_path / 'nicegui'), **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    running = DashboardProcess(process, port, tmp_path / 'data', log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f'nixfleet {args[0]} exited with {process.returncode}:\n{running.log()}')
            try:
                health = httpx.get(f'{running.http}/health', timeout=1)
                if health.status_code == 200 and ready(health.json()):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f'nixfleet {args[0]} not ready within 30 s:\n{running.log()}')
            time.sleep(0.1)
        yield running
    finally:
        _stop(process)


@pytest.fixture
def dashboard_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DashboardProcess]:
    """`nixfleet serve` on a free port with test secrets and its own data dir; stopped after the test.

    Parametrize it indirectly with a dict to set more NIXFLEET_* variables.
    """
    port = free_port()
    env = {
        'NIXFLEET_LISTEN': f'127.0.0.1:{port}',
        'NIXFLEET_DATA_DIR': str(tmp_path / 'data'),
        'NIXFLEET_PASSWORD_HASH': PASSWORD_HASH,
        'NIXFLEET_SESSION_SECRET': SESSION_SECRET,
        'NIXFLEET_AGENT_TOKEN': AGENT_TOKEN,
        'NIXFLEET_LOG_LEVEL': 'warning',
        **getattr(request, 'param', {}),
    }
    with run_nixfleet(['serve'], env, tmp_path, port) as running:
        yield running


def run_demo(tmp_path: Path, agents: int, env: Mapping[str, str]) -> AbstractContextManager[DashboardProcess]:
    """`nixfleet demo` with `agents` simulated hosts on a free port, ready once every agent is connected."""
    port = free_port()
    return run_nixfleet(
        ['demo', '--agents', str(agents), '--listen', f'127.0.0.1:{port}'],
        {'NIXFLEET_DATA_DIR': str(tmp_path / 'data'), 'NIXFLEET_LOG_LEVEL': 'warning', **env},
        tmp_path,
        port,
        ready=lambda health: health.get('agents_connected') == agents,
    )


#: A registered heartbeat interval under which one heartbeat keeps a host online for a whole test. A big fleet of
#: fake agents needs it: with the Go agent's 5 s, the hosts that heartbeated first went stale 15 s later, while a
#: slow run was still connecting the rest or selecting them ('156 selected · 0 online').
QUIET_INTERVAL = 3600

#: Connects a fake agent (real WebSocket, Go agent's protocol) with register fields; returns it registered.
AgentFactory = Callable[..., Awaitable[FakeAgent]]


@pytest_asyncio.fixture(loop_scope='session')
async def agents(dashboard_process: DashboardProcess) -> AsyncIterator[AgentFactory]:
    """Fake agents connected to `dashboard_process`; whatever a test leaves open is closed after it."""
    made: list[FakeAgent] = []

    async def connect(hostname: str, **register_fields: Any) -> FakeAgent:
        agent = FakeAgent(dashboard_process.ws_url, hostname)
        made.append(agent)
        return await agent.connect(**register_fields)

    yield connect
    for agent in made:
        await agent.close()


#: Marks a browser test module: its tests run in the worker's one event loop, the loop of its one chromium.
BROWSER_TESTS = [pytest.mark.browser, pytest.mark.asyncio(loop_scope='session')]


@pytest_asyncio.fixture(scope='session', loop_scope='session')
async def _chromium() -> AsyncIterator[Callable[[], Awaitable[Browser]]]:
    """One headless Debian chromium per test worker, launched when a test first needs it (and again if it died).

    Starting Playwright and chromium costs ~0.8 s of CPU; once per worker instead of once per browser test is a
    minute of the suite's time. Tests stay apart by their browser contexts (`browser` closes a test's contexts).
    """
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get('NIXFLEET_REQUIRE_BROWSER') == '1':
            pytest.fail(f'{CHROMIUM} is missing (scripts/ensure-chromium installs it)')
        pytest.skip(f'{CHROMIUM} is not installed (scripts/ensure-chromium installs it)')
    async with async_playwright() as pw:
        launched: list[Browser] = []

        async def running() -> Browser:
            if not launched or not launched[-1].is_connected():
                launched.append(await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True))
            return launched[-1]

        try:
            yield running
        finally:
            for chromium in launched:
                await chromium.close()


@pytest_asyncio.fixture(loop_scope='session')
async def browser(_chromium: Callable[[], Awaitable[Browser]]) -> AsyncIterator[Browser]:
    """Headless Debian chromium (skips when it is not installed, unless NIXFLEET_REQUIRE_BROWSER=1); the contexts a
    test opens (`open_tab`) are closed after it."""
    chromium = await _chromium()
    before = set(chromium.contexts)
    try:
        yield chromium
    finally:
        for context in chromium.contexts:
            if context not in before:
                await context.close()


@dataclass
class BrowserTab:
    """A page plus the console errors it logged."""

    page: Page
    errors: list[str]


async def open_tab(browser: Browser, *, width: int = 1440, height: int = 900) -> BrowserTab:
    """A fresh browser context (no cookies) and page that records console errors and page errors."""
    # reduced motion: the suite's many tabs would otherwise repaint every frame for the LIVE dot and the heartbeat
    # ripples (a third of an idle tab's CPU, measured) on a machine the tests already keep busy
    context = await browser.new_context(
        viewport={'width': width, 'height': height}, device_scale_factor=1, reduced_motion='reduce'
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on('console', lambda msg: errors.append(msg.text) if msg.type == 'error' else None)
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    return BrowserTab(page, errors)


async def log_in(tab: BrowserTab, base: str, password: str = PASSWORD, *, totp: str | None = None) -> None:
    """Log in through the login form, as a person would (with a TOTP code when given), and wait for the host table."""
    await tab.page.goto(f'{base}/')
    await tab.page.wait_for_url('**/login**')
    await tab.page.get_by_label('Password').fill(password)
    if totp is not None:
        await tab.page.get_by_label('TOTP code').fill(totp)
    await tab.page.get_by_role('button', name='Log in').click()
    await tab.page.wait_for_url(f'{base}/')
    await tab.page.wait_for_selector('.nf-host-table[data-version]')
    await wait_connected(tab.page)


async def wait_tab_current(page: Page, base: str, timeout: float = WAIT) -> int:
    """Wait until the page's host table shows the dashboard's current state version; return that version.

    A tab may step over a version (changes inside one coalescing window arrive as one transaction) and the server may
    move on meanwhile (the login's audit event, a recheck): wait for the tab to reach the version read, and repeat
    until both agree.
    """
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as http:
        while True:
            version = (await http.get('/health')).json()['state_version']
            left = max(0.1, deadline - time.monotonic())
            reached = f"Number(document.querySelector('.nf-host-table')?.dataset.version) >= {version}"
            await page.wait_for_function(reached, timeout=left * 1000)
            shown = int(await page.locator('.nf-host-table').get_attribute('data-version') or -1)
            if shown == (await http.get('/health')).json()['state_version']:
                return shown
            assert time.monotonic() < deadline, f'the tab (v{shown}) never caught up with the dashboard'


def row(host: str) -> str:
    """CSS selector of a host's table row."""
    return f'.nf-row[data-host="{host}"]'


async def online_hosts(agents: AgentFactory, *hosts: str, **fields: Any) -> dict[str, FakeAgent]:
    """Fake agents, registered (with `fields`) and each with one heartbeat: hosts that stay online for the whole test
    (a registered interval of `QUIET_INTERVAL` unless `fields` say otherwise: a slow run must not see them go stale)."""
    fields.setdefault('heartbeat_interval', QUIET_INTERVAL)
    made = {}
    for host in hosts:
        made[host] = await agents(host, **fields)
        await made[host].heartbeat()
    return made


async def dashboard_tab(
    dashboard_process: DashboardProcess, browser: Browser, hosts: list[str], **size: int
) -> BrowserTab:
    """A logged-in tab (`size`: width, height) showing every host in `hosts` online."""
    tab = await open_tab(browser, **size)
    await log_in(tab, dashboard_process.http)
    for host in hosts:
        await tab.page.wait_for_selector(f'{row(host)}[data-conn="online"]')
    return tab


async def wait_connected(page: Page, timeout: float = 10.0) -> None:
    """Wait until the page's NiceGUI socket finished its handshake (the tab now follows the stream)."""
    await page.wait_for_function('window.socket?.connected && window.did_handshake', timeout=timeout * 1000)
    await page.wait_for_selector('[data-nf-conn][data-state=connected]', timeout=timeout * 1000)


# -- simulated agents (the real agent code with simulated tools) in the test process ------------------------------


@asynccontextmanager
async def simulated_fleet(
    dashboard: DashboardProcess,
    count: int = 3,
    *,
    speed: float = 10.0,
    behaviours: Mapping[str, SimBehaviour] | None = None,
    wait: bool = True,
    behind: bool = False,
) -> AsyncIterator[list[str]]:
    """`count` simulated agents (`sim-01`…) connected to the dashboard (online and idle unless not `wait`ed for).

    `behind`: their upstream repo has a commit they have not pulled yet (so a pull brings something new).
    """
    fleet = simulated_agents(dashboard.ws_url, count, speed=speed, behaviours=behaviours)
    if behind:
        fleet.remote.push()
    await fleet.start()
    try:
        hosts = list(fleet.hosts)
        if wait:
            await until_idle(dashboard, hosts)
        yield hosts
    finally:
        await fleet.stop()


async def until_idle(dashboard: DashboardProcess, hosts: list[str], *, page: Page | None = None) -> None:
    """Wait until every host is online with a heartbeat and runs nothing, asking the API (with `page`'s session)."""
    async with httpx.AsyncClient(base_url=dashboard.http, timeout=5) as http:

        async def views() -> dict[str, Any]:
            if page is not None:
                return {h['id']: h for h in (await api(page, dashboard.http, 'GET', '/api/hosts'))['hosts']}
            return {h['id']: h for h in (await http.get('/api/hosts')).json()['hosts']}

        async def ready() -> bool:
            return idle(await views(), hosts)

        if page is None:
            login = await http.post('/login', data={'password': PASSWORD})
            assert login.status_code == 303, login.text
        await eventually(ready, timeout=15, interval=0.1)


async def api(page: Page, base: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """Call the dashboard's API with the browser's session (as the page's own buttons would act)."""
    response = await page.request.fetch(base + path, method=method, data=dict(body) if body is not None else None)
    assert response.ok, f'{method} {path}: {response.status} {await response.text()}'
    return await response.json()


async def do_all_on(page: Page, hosts: Sequence[str]) -> None:
    """Select `hosts` in the table by their checkboxes and start Do All from the selection bar."""
    for host in hosts:
        await page.locator(f'{row(host)} .nf-check').click()
    await page.locator('.nf-ctx-row.is-selection').get_by_role('button', name='Do All').click()
