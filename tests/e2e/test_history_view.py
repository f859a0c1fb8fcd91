"""The History view in a real browser: paging (kept in the URL across a reload) and the host, kind and level filters."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import BROWSER_TESTS, DashboardProcess, api, log_in, open_tab, simulated_fleet, wait_connected

pytestmark = BROWSER_TESTS

ROUNDS = 28  # two hosts: 56 commands, two pages of 50


async def run_commands(page: Page, base: str, hosts: list[str]) -> None:
    """Run `check-version` on every host ROUNDS times, one round after the other."""
    for _ in range(ROUNDS):
        result = await api(page, base, 'POST', '/api/dispatch', {'op': 'check-version', 'hosts': hosts})
        for started in result['results']:  # following a command's output returns when it has ended
            followed = await page.request.get(f'{base}/api/commands/{started["command_id"]}/output?follow=true')
            assert followed.ok


async def choose(page: Page, field: str, option: str) -> None:
    """Open a filter and pick an option, as a user does."""
    await page.locator(f'.nf-filter-{field}').click()
    await page.locator('.q-menu .q-item', has_text=option).first.click()


async def test_history_pages_and_filters(dashboard_process: DashboardProcess, browser: Browser) -> None:
    async with simulated_fleet(dashboard_process, 2, speed=50) as hosts:
        tab = await open_tab(browser)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        await run_commands(page, dashboard_process.http, hosts)

    await page.get_by_role('link', name='History').click()
    await page.wait_for_url('**/history')
    pager = page.locator('.nf-pager-where')
    rows = page.locator('.nf-hrows .nf-hrow')
    await expect(pager).to_have_text('1–50 of 56 · page 1 of 2')
    await expect(rows).to_have_count(50)
    await page.get_by_role('button', name='Older').click()
    await expect(pager).to_have_text('51–56 of 56 · page 2 of 2')
    await expect(rows).to_have_count(6)
    assert page.url.endswith('/history?page=2')
    await expect(page.get_by_role('button', name='Older')).to_be_disabled()

    await page.reload()  # the page is in the URL
    await wait_connected(page)
    await expect(pager).to_have_text('51–56 of 56 · page 2 of 2')
    await page.get_by_role('button', name='Newer').click()
    await expect(pager).to_have_text('1–50 of 56 · page 1 of 2')

    await choose(page, 'host', 'sim-01')
    await expect(pager).to_have_text('1–28 of 28 · page 1 of 1')
    assert set(await rows.locator('.nf-hhost').all_inner_texts()) == {'sim-01'}
    assert 'host=sim-01' in page.url

    await page.get_by_role('button', name='Events').click()  # same host, now its events
    await expect(page.locator('.nf-card-sub', has_text='events')).to_be_visible()
    await choose(page, 'level', 'Success')
    await expect(pager).to_have_text('1–29 of 29 · page 1 of 1')  # an "ended SUCCESS" per command, and "registered"
    assert set(await rows.locator('.nf-sbadge').all_inner_texts()) == {'success'}
    await page.get_by_role('button', name='Reset').click()
    await expect(page.locator('.nf-filter-host .q-field__native')).to_have_text('')
    assert tab.errors == []
