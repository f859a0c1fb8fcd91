"""The History host filter in a real browser: typed text + Enter applies the host it names (no pick from the list
needed); Enter on a highlighted option still picks that option."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import BROWSER_TESTS, DashboardProcess, api, log_in, open_tab, simulated_fleet

pytestmark = BROWSER_TESTS


async def test_typed_host_and_enter_filter_the_history(dashboard_process: DashboardProcess, browser: Browser) -> None:
    async with simulated_fleet(dashboard_process, 3, speed=50) as hosts:
        tab = await open_tab(browser)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        result = await api(
            page, dashboard_process.http, 'POST', '/api/dispatch', {'op': 'check-version', 'hosts': hosts}
        )
        for started in result['results']:
            followed = await page.request.get(
                f'{dashboard_process.http}/api/commands/{started["command_id"]}/output?follow=true'
            )
            assert followed.ok

    await page.get_by_role('link', name='History').click()
    rows = page.locator('.nf-hrows .nf-hrow')
    await expect(rows).to_have_count(3)
    field = page.get_by_role('combobox', name='Host', exact=True)
    await field.click()
    await field.press_sequentially('SIM-02')
    await field.press('Enter')
    await expect(rows).to_have_count(1)
    await expect(rows.locator('.nf-hhost')).to_have_text('sim-02')
    assert 'host=sim-02' in page.url

    await field.click()  # Enter on an option highlighted with the arrow keys picks that option, as before
    await field.press('Control+a')
    await field.press_sequentially('sim')  # three hosts match: the text alone would name none of them
    await expect(page.locator('.nf-select-menu .q-item')).to_have_count(3)
    await field.press('ArrowDown')
    highlighted = page.locator('.nf-select-menu .q-manual-focusable--focused')
    await expect(highlighted).to_have_count(1)
    picked = (await highlighted.inner_text()).strip()
    await field.press('Enter')
    await expect(rows.first.locator('.nf-hhost')).to_have_text(picked)
    assert f'host={picked}' in page.url
    await expect(page.locator('.nf-toast')).to_have_count(0)  # no "3 hosts match" on top of the pick
    assert tab.errors == []
