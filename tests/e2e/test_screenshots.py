"""Screenshots of the output panel, the Pipelines and the History views for the README, taken from `nixfleet demo`.

The demo is the dashboard with a simulated fleet and its simulated config repo (hosts start one commit behind, one
host's switch is slow and one host's tests fail), so the pictures show what a user sees. The test also checks what
a picture cannot: no console errors and no horizontal scrollbar at 1440 px and at 390 px.
Set NIXFLEET_UPDATE_SCREENSHOTS=1 to write them to docs/screenshots/ (otherwise they go to tmp_path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    ROOT,
    BrowserTab,
    DashboardProcess,
    api,
    log_in,
    open_tab,
    run_demo,
    wait_connected,
)
from tests.support import PASSWORD, eventually

pytestmark = BROWSER_TESTS

#: The demo's hosts (in its order); pi-garden's tests fail and edge-fra1 switches slowly.
DEMO_AGENTS = 8
RUN_HOSTS = ['atlas', 'hyperion', 'edge-fra1', 'vps-hel1', 'pi-garden']
EARLIER_HOSTS = ['macbook-ana', 'workstation']


@pytest.fixture
def demo_process(tmp_path: Path) -> Iterator[DashboardProcess]:
    """`nixfleet demo` with 8 simulated agents on a free port (its own data dir; the repo does not move by itself)."""
    env = {'NIXFLEET_DEMO_PASSWORD': PASSWORD, 'NIXFLEET_SIM_SPEED': '3', 'NIXFLEET_DEMO_ADVANCE_EVERY': '0'}
    with run_demo(tmp_path, DEMO_AGENTS, env) as demo:
        yield demo


async def settle(page: Page) -> None:
    """No hover or focus ring from the last click in the picture."""
    await page.mouse.move(0, 0)
    await page.evaluate('document.activeElement?.blur()')
    await page.wait_for_timeout(450)  # Quasar's focus and ripple effects fade out


async def no_horizontal_scrollbar(page: Page) -> None:
    widths = await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')
    assert widths[0] <= widths[1], f'{page.url}: the page is {widths[0]} px wide in a {widths[1]} px window'


async def footer_on_one_line(page: Page) -> None:
    """The footer's items (connection, state version, app version) fit its one 32 px line: none wraps."""
    heights = await page.evaluate("(e => [e.scrollHeight, e.clientHeight])(document.querySelector('.nf-footer-inner'))")
    assert heights[0] <= heights[1], f'{page.url}: the footer needs {heights[0]} px in a {heights[1]} px bar'


async def idle(page: Page, base: str, hosts: list[str]) -> None:
    """Wait until the hosts are online and idle (the demo's agents start their first heartbeats)."""
    script = f"""async () => {{
        const body = await (await fetch('{base}/api/hosts')).json();
        const hosts = Object.fromEntries(body.hosts.map(h => [h.id, h]));
        const ready = (h) => h && h.connection === 'online' && !h.busy && h.lock_hash;
        return {hosts!r}.every(h => ready(hosts[h]));
    }}"""
    await eventually(lambda: page.evaluate(script), timeout=20)


async def ended(page: Page, base: str, run_id: str) -> None:
    """Wait until a pipeline run has ended."""
    script = f"""async () => (await (await fetch('{base}/api/pipelines/{run_id}')).json()).status !== 'RUNNING'"""
    await eventually(lambda: page.evaluate(script), timeout=30)


async def test_views_screenshots(demo_process: DashboardProcess, browser: Browser, tmp_path: Path) -> None:
    out = ROOT / 'docs' / 'screenshots' if os.environ.get('NIXFLEET_UPDATE_SCREENSHOTS') == '1' else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    base = demo_process.http
    tab: BrowserTab = await open_tab(browser, width=1440, height=900)
    page = tab.page
    await log_in(tab, base)
    await idle(page, base, RUN_HOSTS + EARLIER_HOSTS)

    earlier = await api(page, base, 'POST', '/api/dispatch/pipeline', {'pipeline': 'do-all', 'hosts': EARLIER_HOSTS})
    await ended(page, base, earlier['pipeline']['id'])
    for host in EARLIER_HOSTS:  # a clean slate in the panel for the run the pictures follow
        await page.locator(f'.nf-otab-wrap[data-tab="{host}"] .nf-otab-close').click()  # (Delete on the tab, too)

    started = await api(page, base, 'POST', '/api/dispatch/pipeline', {'pipeline': 'do-all', 'hosts': RUN_HOSTS})
    edge = page.locator('.nf-otab-wrap[data-tab="edge-fra1"] .nf-otab')
    await edge.click()
    grip = await page.locator('.nf-output-grip').bounding_box()
    assert grip is not None
    await page.mouse.move(grip['x'] + grip['width'] / 2, grip['y'] + 3)
    await page.mouse.down()
    await page.mouse.move(grip['x'] + grip['width'] / 2, grip['y'] - 60, steps=4)
    await page.mouse.up()
    await expect(page.locator('.nf-output-body')).to_contain_text("building '/nix/store/", timeout=20000)
    await settle(page)
    await no_horizontal_scrollbar(page)
    await page.screenshot(path=out / 'output-panel.png')

    await page.get_by_role('link', name='Pipelines').click()
    run = f'.nf-run[data-run="{started["pipeline"]["id"]}"]'
    await expect(page.locator(run)).to_have_attribute('data-status', 'PARTIAL', timeout=40000)  # pi-garden's tests
    await expect(page.locator(run).get_by_role('button', name='Retry 1 failed')).to_be_visible()
    await page.get_by_role('button', name='Collapse the panel').click()
    await settle(page)
    await no_horizontal_scrollbar(page)
    await page.screenshot(path=out / 'pipelines.png')

    await page.get_by_role('link', name='History').click()
    await expect(page.locator('.nf-pager-where')).to_contain_text('of 21')  # both runs: 2 and 5 hosts, 3 stages
    await expect(page.locator('.nf-output')).to_have_attribute('data-collapsed', 'true')  # kept across pages
    await settle(page)
    await no_horizontal_scrollbar(page)
    await page.screenshot(path=out / 'history.png')

    phone = await open_tab(browser, width=390, height=844)
    await log_in(phone, base)
    for path, name, content in (
        ('/pipelines', 'pipelines-mobile.png', '.nf-run'),
        ('/history', 'history-mobile.png', '.nf-hrows .nf-hrow'),
    ):
        await phone.page.goto(f'{base}{path}')
        await wait_connected(phone.page)
        await phone.page.locator(content).first.wait_for()
        await expect(phone.page.locator('.nf-output')).to_have_attribute('data-collapsed', 'true')  # a compact bar
        await settle(phone.page)
        await no_horizontal_scrollbar(phone.page)
        await footer_on_one_line(phone.page)
        await phone.page.screenshot(path=out / name)

    await phone.page.goto(f'{base}/')  # a host's output on the phone: the panel opens to at most 40 % of the screen
    await wait_connected(phone.page)
    await phone.page.get_by_role('button', name='Actions for edge-fra1').click()
    await phone.page.get_by_role('menuitem', name='View output').click()
    await expect(phone.page.locator('.nf-output')).to_have_attribute('data-active', 'edge-fra1')
    await expect(phone.page.locator('.nf-output-body')).to_contain_text('Command: ')
    await settle(phone.page)
    await no_horizontal_scrollbar(phone.page)
    await phone.page.screenshot(path=out / 'output-panel-mobile.png')
    assert tab.errors == [] and phone.errors == []
