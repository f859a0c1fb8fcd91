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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support import AGENT_TOKEN, PASSWORD, PASSWORD_HASH, SESSION_SECRET, FakeAgent, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get('NIXFLEET_CHROMIUM', '/usr/bin/chromium')
#: Chromium flags for a sandbox-less container with no network side trips (STACK-NOTES §4a).
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
    except subprocess.TimeoutExpired:  # a stuck uvicorn ignores SIGTERM (STACK-NOTES §0.15)
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def dashboard_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DashboardProcess]:
    """`nixfleet serve` on a free port with test secrets and its own data dir; stopped after the test.

    Parametrize it indirectly with a dict to set more NIXFLEET_* variables.
    """
    port = free_port()
    data_dir = tmp_path / 'data'
    env = {
        **os.environ,
        'NIXFLEET_LISTEN': f'127.0.0.1:{port}',
        'NIXFLEET_DATA_DIR': str(data_dir),
        'NIXFLEET_PASSWORD_HASH': PASSWORD_HASH,
        'NIXFLEET_SESSION_SECRET': SESSION_SECRET,
        'NIXFLEET_AGENT_TOKEN': AGENT_TOKEN,
        'NIXFLEET_LOG_LEVEL': 'warning',
        'NICEGUI_STORAGE_PATH': str(tmp_path / 'nicegui'),
        **getattr(request, 'param', {}),
    }
    log_path = tmp_path / 'dashboard.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(
            [sys.executable, '-m', 'nixfleet', 'serve'], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    running = DashboardProcess(process, port, data_dir, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f'dashboard exited with {process.returncode}:\n{running.log()}')
            try:
                if httpx.get(f'{running.http}/health', timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f'dashboard not healthy within 30 s:\n{running.log()}')
            time.sleep(0.1)
        yield running
    finally:
        _stop(process)


#: Connects a fake agent (real WebSocket, Go agent's protocol) with register fields; returns it registered.
AgentFactory = Callable[..., Awaitable[FakeAgent]]


@pytest.fixture
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


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian chromium (skips when it is not installed, unless NIXFLEET_REQUIRE_BROWSER=1)."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get('NIXFLEET_REQUIRE_BROWSER') == '1':
            pytest.fail(f'{CHROMIUM} is missing (scripts/ensure-chromium installs it)')
        pytest.skip(f'{CHROMIUM} is not installed (scripts/ensure-chromium installs it)')
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class BrowserTab:
    """A page plus the console errors it logged."""

    page: Page
    errors: list[str]


async def open_tab(browser: Browser, *, width: int = 1440, height: int = 900) -> BrowserTab:
    """A fresh browser context (no cookies) and page that records console errors and page errors."""
    context = await browser.new_context(viewport={'width': width, 'height': height}, device_scale_factor=1)
    page = await context.new_page()
    errors: list[str] = []
    page.on('console', lambda msg: errors.append(msg.text) if msg.type == 'error' else None)
    page.on('pageerror', lambda exc: errors.append(str(exc)))
    return BrowserTab(page, errors)


async def log_in(tab: BrowserTab, base: str, password: str = PASSWORD) -> None:
    """Log in through the login form, as a person would, and wait for the host table."""
    await tab.page.goto(f'{base}/')
    await tab.page.wait_for_url('**/login**')
    await tab.page.get_by_label('Password').fill(password)
    await tab.page.get_by_role('button', name='Log in').click()
    await tab.page.wait_for_url(f'{base}/')
    await tab.page.wait_for_selector('.nf-host-table[data-version]')
    await wait_connected(tab.page)


async def wait_connected(page: Page, timeout: float = 10.0) -> None:
    """Wait until the page's NiceGUI socket finished its handshake (the tab now follows the stream)."""
    await page.wait_for_function('window.socket?.connected && window.did_handshake', timeout=timeout * 1000)
    await page.wait_for_selector('[data-nf-conn][data-state=connected]', timeout=timeout * 1000)
