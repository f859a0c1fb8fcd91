"""The host page in a real browser: a click on a host's name in the table opens it, with its facts, compartments,
commands (a failed one with its cause and output link), generation history and CPU/RAM sparklines; the back link
returns to the table. Pictures at 1440 px and 390 px (tmp_path, or docs/screenshots with
NIXFLEET_UPDATE_SCREENSHOTS=1), no console errors, no horizontal scrollbar.

The dashboard runs with the test hooks (`tests/e2e/sync_hooks.py`): one of them gives the host an hour of samples,
as if it had been heartbeating all along.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    ROOT,
    AgentFactory,
    DashboardProcess,
    api,
    log_in,
    open_tab,
    row,
    wait_connected,
)
from tests.support import FakeAgent, eventually, expect_command, send_output, send_status

pytestmark = BROWSER_TESTS

#: What Chromium's console says when a page answers 404.
NOT_FOUND = 'Failed to load resource: the server responded with a status of 404 (Not Found)'

HOOKS = {'NIXFLEET_TEST_HOOKS': '1'}
#: How macbook-ana registers.
MAC = {'host_type': 'macos', 'os_version': '15.2', 'location': 'home', 'device_type': 'laptop'}


@asynccontextmanager
async def heartbeating(*agents: FakeAgent, generation: str = 'b6a4b4d') -> AsyncIterator[None]:
    """Keep the agents heartbeating every 2 s (at `generation`, their CPU moving), as real ones do."""

    async def beat() -> None:
        tick = 0
        while True:
            for agent in agents:
                with contextlib.suppress(Exception):  # an agent the test closed for a restart
                    cpu = 22.0 + 6 * (tick % 3)
                    metrics = {'cpu': cpu, 'ram': 44.0, 'swap': 0, 'load': 0.4}
                    await agent.heartbeat(generation=generation, metrics=metrics)
            tick += 1
            await asyncio.sleep(2)  # the rhythm of an agent's heartbeat, not a wait for an effect

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def failed_test_and_switch(page: Page, base: str, agents: AgentFactory, mac: FakeAgent) -> FakeAgent:
    """On macbook-ana: a test that fails (exit 2, an error line), then a switch that moves it to c0ffee1."""
    await api(page, base, 'POST', '/api/dispatch', {'op': 'test', 'hosts': ['macbook-ana']})
    assert await expect_command(mac) == 'test'
    await send_output(mac, 'running 8 checks')
    await send_output(mac, 'error: check dns-resolves failed: no answer from 10.0.0.53', stream='stderr')
    await send_status(mac, 'test', 'error', exit_code=2, message='command failed')
    await eventually(lambda: commands_ended(page, base, 'test'))
    await api(page, base, 'POST', '/api/dispatch', {'op': 'switch', 'hosts': ['macbook-ana'], 'force': True})
    assert await expect_command(mac) == 'switch'
    await send_output(mac, 'activating the configuration...')
    await send_status(mac, 'switch', 'ok', message='switched')
    await mac.close()  # the switched agent restarts on the new generation
    again = await agents('macbook-ana', generation='c0ffee1', **MAC)
    await again.heartbeat(generation='c0ffee1')
    await eventually(lambda: commands_ended(page, base, 'switch'))
    return again


async def commands_ended(page: Page, base: str, op: str) -> bool:
    body = await api(page, base, 'GET', f'/api/commands?host=macbook-ana&op={op}')
    return bool(body['commands']) and body['commands'][0]['terminal']


async def no_horizontal_scrollbar(page: Page) -> None:
    widths = await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')
    assert widths[0] <= widths[1], f'{page.url}: the page is {widths[0]} px wide in a {widths[1]} px window'


async def settle(page: Page) -> None:
    """No hover or focus ring from the last click in the picture."""
    await page.mouse.move(0, 0)
    await page.evaluate('document.activeElement?.blur()')
    await page.wait_for_timeout(450)  # Quasar's focus and ripple effects fade out


@pytest.mark.parametrize('dashboard_process', [HOOKS], indirect=True)
async def test_a_click_on_a_host_name_opens_its_page_with_sparklines_and_screenshots(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory, tmp_path: Path
) -> None:
    out = ROOT / 'docs' / 'screenshots' if os.environ.get('NIXFLEET_UPDATE_SCREENSHOTS') == '1' else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    base = dashboard_process.http
    web = await agents('web-01')
    mac = await agents('macbook-ana', **MAC)
    async with heartbeating(web, mac):
        tab = await open_tab(browser, width=1440, height=900)
        page = tab.page
        await log_in(tab, base)
        await page.wait_for_selector(f'{row("macbook-ana")}[data-conn="online"]')
        mac = await failed_test_and_switch(page, base, agents, mac)
        async with heartbeating(mac, generation='c0ffee1'):
            seeded = await page.request.post(f'{base}/_test/samples?host=macbook-ana')
            assert seeded.ok, await seeded.text()

            await page.locator(f'{row("macbook-ana")} .nf-hostname').click()
            await page.wait_for_url(f'{base}/hosts/macbook-ana')
            await wait_connected(page)
            await expect(page.get_by_role('heading', name='macbook-ana')).to_be_visible()
            await expect(page.locator('.nf-hostd-facts')).to_contain_text('macOS')
            await expect(page.locator('.nf-comp-line[data-comp="system"]')).to_contain_text('Switch deployed c0ffee1')
            await expect(page.locator('.nf-comp-line[data-comp="tests"]')).to_contain_text('Tests need a re-run')
            failed = page.locator('.nf-cmd', has_text='Test')
            await expect(failed).to_contain_text('exit 2 — error: check dns-resolves failed: no answer from 10.0.0.53')
            output = failed.get_by_role('link', name='Output of Test on macbook-ana', exact=False)
            assert (await output.get_attribute('href') or '').endswith('/output')
            await expect(page.locator('.nf-gen-line', has_text='Switch')).to_contain_text('c0ffee1')
            spark = page.locator('.nf-spark-row.is-cpu svg.nf-spark')
            await expect(spark).to_have_attribute('aria-label', re.compile(r'^CPU over the last hour: now \d+%'))
            points = await spark.locator('polyline').first.get_attribute('points') or ''
            assert len(points.split()) > 100  # the hour of samples, drawn
            await page.get_by_role('button', name='Collapse the panel').click()
            await settle(page)
            await no_horizontal_scrollbar(page)
            await page.screenshot(path=out / 'host-detail.png')

            phone = await open_tab(browser, width=390, height=844)
            await log_in(phone, base)
            await phone.page.goto(f'{base}/hosts/macbook-ana')
            await wait_connected(phone.page)
            await expect(phone.page.locator('.nf-spark-row.is-ram svg.nf-spark polyline').first).to_be_attached()
            await phone.page.locator('.nf-hostd-metrics').scroll_into_view_if_needed()
            await settle(phone.page)
            await no_horizontal_scrollbar(phone.page)
            await phone.page.screenshot(path=out / 'host-detail-mobile.png')

            await page.get_by_role('link', name='All hosts').click()
            await page.wait_for_url(f'{base}/')
            await page.wait_for_selector(row('macbook-ana'))

            missing = await phone.page.goto(f'{base}/hosts/%3Cimg%20src%3Dx%3E' + 'x' * 3000)  # odd, long, unknown
            assert missing is not None and missing.status == 404
            await expect(phone.page.get_by_role('heading', name='No such host')).to_be_visible()
            await expect(phone.page.locator('.nf-hostd-missing')).to_contain_text('There is no host “<img src=x>xxx')
            assert await phone.page.locator('.nf-hostd-missing img').count() == 0
            await no_horizontal_scrollbar(phone.page)
            await phone.page.screenshot(path=tmp_path / 'no-such-host-mobile.png')
    assert tab.errors == []
    assert phone.errors == [NOT_FOUND]  # Chromium logs the 404 of the "no such host" page itself, and nothing else
