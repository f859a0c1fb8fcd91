"""The dashboard in a real browser: login, hosts appearing and going offline live (no reload), and screenshots.

Set NIXFLEET_UPDATE_SCREENSHOTS=1 to write the screenshots to docs/screenshots/ (otherwise they go to tmp_path).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    ROOT,
    AgentFactory,
    DashboardProcess,
    log_in,
    open_tab,
    wait_connected,
    wait_tab_current,
)
from tests.support import FakeAgent, heartbeat_payload

pytestmark = BROWSER_TESTS

#: Acceptance bound (issue 2): a change is on screen within this many seconds, with no reload.
LIVE_WITHIN = 1.0


def row(host: str, conn: str | None = None) -> str:
    """CSS selector of a host's table row (optionally in a connection state)."""
    return f'.nf-row[data-host="{host}"]' + (f'[data-conn="{conn}"]' if conn else '')


async def timed_wait(page: Page, selector: str, since: float) -> float:
    """Wait for `selector` and return the seconds since `since` (monotonic)."""
    await page.wait_for_selector(selector, timeout=5000)
    return time.monotonic() - since


async def test_login_form_refuses_a_wrong_password_then_logs_in(
    dashboard_process: DashboardProcess, browser: Browser
) -> None:
    tab = await open_tab(browser)
    page = tab.page
    await page.goto(f'{dashboard_process.http}/')
    await page.wait_for_url('**/login')
    await page.get_by_label('Password').fill('not the password')
    await page.get_by_role('button', name='Log in').click()
    await page.wait_for_url('**/login?error=credentials')
    assert (await page.get_by_role('alert').inner_text()).endswith('Wrong password.')
    await log_in(tab, dashboard_process.http)
    cookies = {c['name']: c for c in await page.context.cookies()}
    assert cookies['nixfleet_session']['httpOnly'] and cookies['nixfleet_session']['sameSite'] == 'Lax'
    await page.get_by_role('button', name='Log out').click()
    await page.wait_for_url('**/login?error=logged_out')
    assert (await page.get_by_role('alert').inner_text()).endswith('You have been logged out.')
    await page.goto(f'{dashboard_process.http}/')
    await page.wait_for_url('**/login')  # the session is gone
    assert tab.errors == []


@pytest.mark.parametrize('dashboard_process', [{'NIXFLEET_SESSION_DURATION': '4s'}], indirect=True)
async def test_open_page_goes_to_the_login_when_the_session_expires(
    dashboard_process: DashboardProcess, browser: Browser
) -> None:
    tab = await open_tab(browser)
    await log_in(tab, dashboard_process.http)
    await tab.page.wait_for_url('**/login?error=expired', timeout=8000)
    assert (await tab.page.get_by_role('alert').inner_text()).endswith('Your session has expired. Please log in again.')
    await tab.page.goto(f'{dashboard_process.http}/')
    await tab.page.wait_for_url('**/login')  # the cookie is no longer accepted either
    assert tab.errors == []


async def test_hosts_appear_and_go_offline_live_without_reload(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory, record_property: Any, perf: bool
) -> None:
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, dashboard_process.http)
    await page.evaluate("window.__nfSamePage = 'marker'")
    assert await page.locator('.nf-empty-title').inner_text() == 'No hosts yet'

    start = time.monotonic()
    agent = await agents('e2e-web-01', location='office', device_type='desktop', theme_color='#9ece6a')
    appeared = await timed_wait(page, row('e2e-web-01', 'online'), start)

    start = time.monotonic()
    await agent.heartbeat(metrics={'cpu': 91.0, 'ram': 12.0, 'swap': 0, 'load': 1.5})
    await page.wait_for_function(
        f"document.querySelector('{row('e2e-web-01')} div.c-cpu')?.innerText.trim() === '91%'", timeout=5000
    )
    heartbeat_shown = time.monotonic() - start

    start = time.monotonic()
    await agent.close()
    went_offline = await timed_wait(page, row('e2e-web-01', 'offline'), start)

    record_property('appear_s', round(appeared, 3))
    record_property('heartbeat_s', round(heartbeat_shown, 3))
    record_property('offline_s', round(went_offline, 3))
    print(f'\nnew host visible after {appeared:.3f} s, heartbeat {heartbeat_shown:.3f} s, offline {went_offline:.3f} s')
    if perf:  # the bound holds on a quiet machine; the default run records the times (above)
        assert appeared < LIVE_WITHIN
        assert heartbeat_shown < LIVE_WITHIN
        assert went_offline < LIVE_WITHIN
    assert await page.evaluate('window.__nfSamePage') == 'marker'  # never reloaded
    await expect(page.locator('.nf-th-count')).to_have_text('0/1 Hosts')
    await expect(page.locator('[data-count=offline] .nf-pill-n')).to_have_text('1')
    assert tab.errors == []


async def test_last_seen_ticks_in_the_browser_without_server_messages(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, dashboard_process.http)
    agent = await agents('tick-01')
    await agent.heartbeat()
    cell = page.locator(f'{row("tick-01", "online")} .nf-ago')
    await cell.wait_for()
    version = str(await wait_tab_current(page, dashboard_process.http))  # the heartbeat's update has landed
    first = await cell.inner_text()
    await page.wait_for_function(
        f"document.querySelector('{row('tick-01')} .nf-ago').innerText !== {first!r}", timeout=3000
    )
    assert re.fullmatch(r'\d+s ago', await cell.inner_text())
    assert await page.locator('.nf-host-table').get_attribute('data-version') == version  # nothing was sent
    assert tab.errors == []


async def test_two_tabs_follow_and_a_dropped_socket_catches_up_without_reload(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    first = await open_tab(browser)
    await log_in(first, dashboard_process.http)
    second_page = await first.page.context.new_page()  # same browser session, second tab
    second = type(first)(second_page, [])
    await second_page.goto(f'{dashboard_process.http}/')
    await wait_connected(second_page)
    for tab in (first, second):
        await tab.page.evaluate("window.__nfSamePage = 'marker'")

    await agents('keep-01')
    leave = await agents('leave-01')
    for tab in (first, second):
        await tab.page.wait_for_selector(row('leave-01', 'online'))

    # the first tab loses its socket; while it is away one host leaves and another arrives
    await first.page.evaluate('window.socket.io.engine.close()')
    await leave.close()
    await agents('late-01')
    await second.page.wait_for_selector(row('late-01', 'online'), timeout=2000)
    await first.page.wait_for_selector(row('late-01', 'online'), timeout=5000)
    await first.page.wait_for_selector(row('leave-01', 'offline'), timeout=2000)
    for tab in (first, second):
        assert await tab.page.evaluate('window.__nfSamePage') == 'marker'
        await expect(tab.page.locator('.nf-th-count')).to_have_text('2/3 Hosts')  # leave-01 offline in both
    async with httpx.AsyncClient() as http:
        health = (await http.get(f'{dashboard_process.http}/health')).json()
    for tab in (first, second):  # both tabs reach the server's state version
        assert await wait_tab_current(tab.page, dashboard_process.http, timeout=2) >= health['state_version']
    assert first.errors == [] and second.errors == []


async def test_tab_that_detects_a_gap_is_rerendered_from_the_server(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, dashboard_process.http)
    agent = await agents('gap-01')
    await page.wait_for_selector(row('gap-01', 'online'))
    await page.evaluate("window.__nfSamePage = 'marker'")
    table = "getElement(document.querySelector('.nf-host-table').id.slice(1))"
    renders = await page.evaluate(f'{table}.snapshot.seq')
    # corrupt the tab (its row vanishes locally), then feed it a transaction that does not follow its version
    await page.evaluate(f"""() => {{
        const table = {table};
        delete table.rows['gap-01'];
        table.sort();
        table.apply({{base: -7, version: 1e12, upsert: [], remove: [], now: Date.now()}});
    }}""")
    await page.wait_for_function(f'{table}.snapshot.seq > {renders}', timeout=2000)  # a full render came
    await page.wait_for_selector(row('gap-01', 'online'), timeout=2000)
    assert await page.evaluate('window.__nfSamePage') == 'marker'
    await agent.close()
    await page.wait_for_selector(row('gap-01', 'offline'), timeout=2000)  # and deltas flow again
    assert tab.errors == []


FLEET = [
    # hostname, register fields, metrics (None: no heartbeat), fate
    ('atlas', {'location': 'cloud', 'device_type': 'server', 'theme_color': '#7aa2f7'}, (23, 41), 'online'),
    ('hydra', {'location': 'office', 'device_type': 'server', 'theme_color': '#9ece6a'}, (87, 64), 'online'),
    (
        'kyoto',
        {'host_type': 'macos', 'location': 'home', 'device_type': 'laptop', 'theme_color': '#bb9af7'},
        (12, 58),
        'online',
    ),
    ('nebula', {'location': 'home', 'device_type': 'desktop', 'theme_color': '#e0af68'}, (4, 22), 'online'),
    (
        'orion',
        {'location': 'cloud', 'device_type': 'server', 'theme_color': '#7dcfff', 'heartbeat_interval': 1},
        None,
        'stale',
    ),
    (
        'zen',
        {'host_type': 'macos', 'location': 'office', 'device_type': 'desktop', 'theme_color': '#f7768e'},
        (35, 71),
        'offline',
    ),
]
GENERATIONS = ['b6a4b4d', 'e91f0c2', '5d7c3aa', '0f4e9b1', 'c3d2a70', '8a61f5e']


async def test_dashboard_screenshots(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory, tmp_path: Path
) -> None:
    out = ROOT / 'docs' / 'screenshots' if os.environ.get('NIXFLEET_UPDATE_SCREENSHOTS') == '1' else tmp_path
    out.mkdir(parents=True, exist_ok=True)

    login = await open_tab(browser, width=1280, height=760)
    await login.page.goto(f'{dashboard_process.http}/login')
    await login.page.get_by_label('Password').wait_for()
    await login.page.screenshot(path=out / 'login.png')

    fleet: dict[str, FakeAgent] = {}
    for i, (host, fields, _, _) in enumerate(FLEET):
        version = '3.0.9' if host == 'zen' else '3.1.5'
        fleet[host] = await agents(host, generation=GENERATIONS[i], agent_version=version, **fields)

    def heartbeat(i: int) -> dict[str, Any]:
        cpu, ram = FLEET[i][2] or (0, 0)
        return heartbeat_payload(GENERATIONS[i], metrics={'cpu': cpu, 'ram': ram, 'swap': 3.0, 'load': 0.8})

    async def beat() -> None:
        for i, (host, _, metrics, fate) in enumerate(FLEET):
            if metrics and fate == 'online':
                await fleet[host].send('heartbeat', heartbeat(i))

    await fleet['zen'].send('heartbeat', heartbeat(len(FLEET) - 1))
    await beat()
    await asyncio.sleep(0.2)
    await fleet['zen'].close()

    tab = await open_tab(browser, width=1440, height=620)
    await log_in(tab, dashboard_process.http)
    page = tab.page
    deadline = time.monotonic() + 10
    while not await page.locator(row('orion', 'stale')).count():  # no heartbeat for 3 intervals
        assert time.monotonic() < deadline, 'orion never went stale'
        await beat()
        await asyncio.sleep(0.5)
    await beat()
    await page.wait_for_timeout(450)  # mid-ripple
    await wait_connected(page)
    assert await page.locator('.nf-row').count() == len(FLEET)
    await page.screenshot(path=out / 'dashboard.png')
    assert login.errors == [] and tab.errors == []
