"""Bad input in a real browser (issue 5): double clicks dispatch once, the longest hostname and a very long output
line fit a desktop and a phone screen, and 500 hosts load, select, confirm and filter without a console error.

Fake agents (the Go agent's protocol) connect to `nixfleet serve` in its own process (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    QUIET_INTERVAL,
    AgentFactory,
    DashboardProcess,
    api,
    dashboard_tab,
    log_in,
    online_hosts,
    open_tab,
    row,
)
from tests.support import expect_command, send_output

pytestmark = BROWSER_TESTS

#: The longest hostname an agent may report (an RFC 1123 label: 63 characters), with no place to break it.
LONG = 'build-' + 'x' * 55 + '01'
SIZES = {'desktop': {'width': 1440, 'height': 900}, 'phone': {'width': 390, 'height': 844}}


async def no_horizontal_scrollbar(page: Page) -> None:
    widths = await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')
    assert widths[0] <= widths[1], f'the page scrolls sideways: {widths}'


async def fits(dialog: Locator, width: int) -> None:
    """The dialog's card is on screen, and none of its texts runs out of its box."""
    card = await dialog.locator('.nf-dlg').bounding_box()
    assert card is not None and card['x'] >= 0 and card['x'] + card['width'] <= width, card
    overflowing = await dialog.locator('.nf-dlg').evaluate(
        "c => [...c.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1"
        " && getComputedStyle(e).overflowX === 'visible' && e.clientWidth > 0).map(e => e.className)"
    )
    assert overflowing == [], overflowing


async def commands(page: Page, base: str, op: str) -> list[dict[str, Any]]:
    """The journal's commands of `op` (through the API, with the page's session)."""
    return list((await api(page, base, 'GET', f'/api/commands?op={op}'))['commands'])


# -- double clicks -------------------------------------------------------------------------------------------------
async def test_double_clicks_on_a_confirm_and_on_the_selection_row_dispatch_once(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    made = await online_hosts(agents, 'web-01', 'web-02')
    tab = await dashboard_tab(dashboard_process, browser, ['web-01', 'web-02'])
    page = tab.page

    await page.get_by_role('button', name='Actions for web-01').click()
    await page.get_by_role('menuitem', name='Rollback…').click()
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text('Roll back web-01?')
    await dialog.get_by_role('button', name='Roll back').dblclick()
    assert await expect_command(made['web-01']) == 'rollback'
    await expect(page.locator('.nf-toast').filter(has_text='Rollback started on web-01')).to_be_visible()
    await expect(dialog).to_have_count(0)
    assert [c['status'] for c in await commands(page, dashboard_process.http, 'rollback')] == ['EXECUTING']

    await page.locator(f'{row("web-02")} .nf-check').click()
    selection = page.locator('.nf-ctx-row.is-selection')
    await expect(selection).to_contain_text('1 host selected')
    await selection.get_by_role('button', name='Test', exact=True).dblclick()
    assert await expect_command(made['web-02']) == 'test'
    await expect(page.locator('.nf-toast').filter(has_text='Test started on web-02')).to_be_visible()
    assert [c['status'] for c in await commands(page, dashboard_process.http, 'test')] == ['EXECUTING']
    await expect(page.get_by_role('dialog')).to_have_count(0)  # no "refused: busy" for the second click
    assert tab.errors == []


# -- very long hostnames and output lines -----------------------------------------------------------------------
@pytest.mark.parametrize('size', SIZES.values(), ids=SIZES.keys())
async def test_the_longest_hostname_and_a_long_output_line_fit_the_screen(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory, size: dict[str, int]
) -> None:
    made = await online_hosts(agents, 'a-01', LONG, 'z-01')
    tab = await dashboard_tab(dashboard_process, browser, ['a-01', LONG, 'z-01'], **size)
    page = tab.page
    await no_horizontal_scrollbar(page)

    name = page.locator(f'{row(LONG)} .nf-hostname')
    cut = await name.evaluate('e => [e.scrollWidth > e.clientWidth, getComputedStyle(e).textOverflow]')
    assert cut == [True, 'ellipsis'], cut  # cut, with an ellipsis
    short_box = await page.locator(row('a-01')).bounding_box()  # not the last row (no bottom border)
    long_box = await page.locator(row(LONG)).bounding_box()
    assert short_box is not None and long_box is not None
    assert long_box['height'] == short_box['height']  # the long name does not make its row taller
    await expect(name).to_have_attribute('href', f'/hosts/{LONG}')  # the name opens the host's page
    if size is SIZES['desktop']:  # the whole name on hover (a phone has no hover; the label is there)
        await name.hover()
        await expect(page.locator('.nf-floating-tip')).to_contain_text(LONG)

    await page.get_by_role('button', name=f'Actions for {LONG}').click()
    await page.get_by_role('menuitem', name='Rollback…').click()
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text(f'Roll back {LONG}?')
    await fits(dialog, size['width'])
    await dialog.get_by_role('button', name='Cancel').click()
    await expect(dialog).to_have_count(0)
    await page.get_by_role('button', name='Fleet actions').click()
    await page.get_by_role('menuitem').filter(has_text='Do All').click()
    await expect(dialog).to_contain_text('Do All on 3 online hosts?')
    await expect(dialog.locator('.nf-dlg-host').filter(has_text=LONG)).to_be_visible()
    await fits(dialog, size['width'])
    await dialog.get_by_role('button', name='Cancel').click()
    await expect(dialog).to_have_count(0)

    await page.get_by_role('button', name=f'Actions for {LONG}').click()
    await page.get_by_role('menuitem', name='Check version').click()
    assert await expect_command(made[LONG]) == 'check-version'
    toast = page.locator('.nf-toast').filter(has_text=f'Check version started on {LONG}')
    await expect(toast).to_be_visible()
    box = await toast.bounding_box()
    assert box is not None and box['x'] >= 0 and box['x'] + box['width'] <= size['width'], box
    assert await toast.evaluate('e => e.scrollWidth <= e.clientWidth'), 'the toast text runs out of its box'
    await send_output(made[LONG], 'y' * 3000)
    chip = page.locator(f'.nf-otab-wrap[data-tab="{LONG}"] .nf-otab')
    await chip.click()
    await expect(page.locator('.nf-output')).to_have_attribute('data-active', LONG)
    body = page.locator('.nf-output-body')
    await expect(body).to_contain_text('y' * 100)
    widths = await body.evaluate('e => [e.scrollWidth, e.clientWidth]')
    assert widths[0] <= widths[1], widths  # the line wraps
    chip_box = await chip.bounding_box()
    assert chip_box is not None and chip_box['width'] <= size['width'] / 2, chip_box
    await no_horizontal_scrollbar(page)

    assert tab.errors == []


# -- 500 hosts ------------------------------------------------------------------------------------------------------
FLEET = [f'load-{i:03d}' for i in range(500)]


async def test_500_hosts_load_select_all_confirm_and_filter(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    for start in range(0, len(FLEET), 50):  # 50 agents connecting at once, as after a dashboard restart
        batch = await asyncio.gather(
            *(agents(host, heartbeat_interval=QUIET_INTERVAL) for host in FLEET[start : start + 50])
        )
        await asyncio.gather(*(agent.heartbeat() for agent in batch))
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, dashboard_process.http)
    table = page.locator('.nf-hosts')
    await expect(table).to_have_attribute('aria-rowcount', str(len(FLEET) + 1))
    await expect(page.locator('.nf-thead .c-host')).to_contain_text(f'{len(FLEET)}/{len(FLEET)} Hosts')

    await page.locator('body').click(position={'x': 5, 'y': 300})
    await page.keyboard.press('Control+a')
    await expect(page.locator('.nf-thead .nf-check')).to_have_attribute('aria-checked', 'true')
    await expect(page.locator('.nf-ctx-row.is-selection')).to_contain_text('500 hosts selected')

    await page.get_by_role('button', name='Fleet actions').click()
    await page.get_by_role('menuitem').filter(has_text='Do All').click()
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text('Do All on 500 online hosts?')
    await expect(dialog).to_contain_text('… and 488 more')
    await dialog.get_by_role('button', name='Cancel').click()
    await expect(dialog).to_have_count(0)

    search = page.get_by_label('Filter hosts')
    await search.fill('load-42')
    await expect(table).to_have_attribute('aria-rowcount', '11')
    await expect(page.locator('.nf-row')).to_have_count(10)
    await search.fill('')
    await expect(table).to_have_attribute('aria-rowcount', str(len(FLEET) + 1))
    await no_horizontal_scrollbar(page)
    assert tab.errors == []
