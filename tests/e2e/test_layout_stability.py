"""Layout that holds still, in a real browser. On a phone (390x844) selecting a host does not move the list (the
selection is a bar fixed above the output panel, its buttons in reach) and a card's metrics keep their places as their
digits change. On a desktop (1440x900) the output panel starts small enough to show seven hosts whole."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import BROWSER_TESTS, AgentFactory, DashboardProcess, dashboard_tab, online_hosts, row

pytestmark = BROWSER_TESTS

SEVEN = [f'web-0{i}' for i in range(1, 8)]


async def box(page: Page, selector: str) -> dict[str, float]:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def metrics(cpu: float, ram: float) -> dict[str, Any]:
    return {'metrics': {'cpu': cpu, 'ram': ram, 'swap': 0.0, 'load': 0.5}}


async def test_on_a_phone_selecting_keeps_the_list_still_and_metrics_keep_their_places(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    fleet = await online_hosts(agents, 'web-01', 'web-02', **metrics(5, 7))
    tab = await dashboard_tab(dashboard_process, browser, ['web-01', 'web-02'], width=390, height=844)
    page = tab.page
    second = await box(page, row('web-02'))
    ram, seen = await box(page, f'{row("web-01")} .c-ram'), await box(page, f'{row("web-01")} .c-seen')

    await page.locator(f'{row("web-01")} .nf-check').click()
    bar = page.locator('.nf-ctx-row.is-selection')
    await expect(bar).to_contain_text('1 host selected')
    assert await box(page, row('web-02')) == second  # the list did not move
    assert await bar.evaluate('e => getComputedStyle(e).position') == 'fixed'
    placed = await box(page, '.nf-ctx-row.is-selection')
    panel = await box(page, '.nf-output')
    assert placed['y'] + placed['height'] <= panel['y']  # above the output panel's bar, nothing hidden
    for name in ('Pull', 'Switch', 'Test', 'Do All', 'Clear selection'):
        await expect(bar.get_by_role('button', name=name, exact=True)).to_be_in_viewport()

    await fleet['web-01'].heartbeat(**metrics(100, 100))
    await expect(page.locator(f'{row("web-01")} .c-cpu')).to_contain_text('100%')
    await expect(page.locator(f'{row("web-01")} .c-ram')).to_contain_text('100%')
    assert await box(page, f'{row("web-01")} .c-ram') == ram  # five and a hundred take the same room
    assert await box(page, f'{row("web-01")} .c-seen') == seen
    await bar.get_by_role('button', name='Clear selection').click()
    await expect(bar).to_be_hidden()
    assert await box(page, row('web-02')) == second
    assert tab.errors == []


async def test_on_a_desktop_the_output_panel_starts_below_seven_whole_hosts(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    await online_hosts(agents, *SEVEN)
    tab = await dashboard_tab(dashboard_process, browser, SEVEN, width=1440, height=900)
    page = tab.page
    panel = await box(page, '.nf-output')
    last = await box(page, row(SEVEN[-1]))
    assert last['y'] + last['height'] <= panel['y'], (last, panel)  # the seventh host is whole, above the panel
    assert panel['height'] >= 160  # still a useful panel: about seven lines
    assert tab.errors == []
