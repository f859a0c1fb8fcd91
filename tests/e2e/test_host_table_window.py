"""The host table with a fleet larger than the screen: only the rows near the viewport are in the DOM (windowing), yet
what a user sees is complete — scrolling shows every host in order with no gap, live updates to rows out of view are
there when they scroll in, the filter searches every host, and selection (Ctrl+A, shift-range) covers rows that were
never rendered. On a desktop and as cards on a phone.

Fake agents (the Go agent's protocol) connect to `nixfleet serve` in its own process (tests/e2e/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    QUIET_INTERVAL,
    AgentFactory,
    BrowserTab,
    DashboardProcess,
    log_in,
    open_tab,
    row,
)
from tests.support import FakeAgent

pytestmark = BROWSER_TESTS

#: More hosts than fit on any screen (and than the rows rendered around it).
HOSTS = [f'win-{i:03d}' for i in range(160)]

#: What the viewport shows: the hosts of the rows that intersect it, in order, and whether they cover it without a
#: gap (from the table's first row on screen down to the viewport's bottom or the last row).
VIEWPORT = """() => {
  const rows = [...document.querySelectorAll('.nf-hosts .nf-row')];
  const seen = rows.filter((r) => { const b = r.getBoundingClientRect(); return b.bottom > 0 && b.top < innerHeight; });
  let gap = false;
  for (let i = 1; i < seen.length; i++)
    gap ||= Math.abs(seen[i].getBoundingClientRect().top - seen[i - 1].getBoundingClientRect().bottom) > 1;
  const last = seen[seen.length - 1];
  const bottom = last ? last.getBoundingClientRect().bottom : 0;
  const count = document.querySelector('.nf-hosts').getAttribute('aria-rowcount');
  const end = last && last.getAttribute('aria-rowindex') === count;
  return { hosts: seen.map((r) => r.dataset.host), rendered: rows.length, gap: gap || (!end && bottom < innerHeight) };
}"""


#: Resolves after three animation frames: the scroll handled, the rows rendered and measured, the padding fixed.
FRAMES = """() => new Promise((done) => { let n = 3; const next = () => (--n ? requestAnimationFrame(next) : done());
  requestAnimationFrame(next); })"""


async def big_fleet(agents: AgentFactory) -> dict[str, FakeAgent]:
    """Every host in `HOSTS` online, with CPU = its number (so each row's CPU cell says which host it is)."""
    fleet = {}
    for i, host in enumerate(HOSTS):
        fleet[host] = await agents(host, heartbeat_interval=QUIET_INTERVAL)
        await fleet[host].heartbeat(metrics={'cpu': float(i % 100), 'ram': 30.0, 'swap': 0.0, 'load': 0.1})
    return fleet


async def logged_in_tab(browser: Any, dashboard_process: DashboardProcess, **size: int) -> BrowserTab:
    """A logged-in tab of the big fleet, its first host shown online."""
    tab = await open_tab(browser, **size)
    await log_in(tab, dashboard_process.http)
    await tab.page.wait_for_selector(f'{row(HOSTS[0])}[data-conn="online"]')
    return tab


async def viewport(page: Page) -> dict[str, Any]:
    return await page.evaluate(VIEWPORT)


async def scroll_through(page: Page) -> list[str]:
    """Scroll from the top to the bottom a screen at a time; return every host seen, asserting no gap on the way."""
    await page.evaluate('window.scrollTo(0, 0)')
    seen: list[str] = []
    while True:
        await page.evaluate(FRAMES)  # the window follows the scroll within the next frame (and its measuring)
        shown = await viewport(page)
        assert not shown['gap'], shown
        seen += [h for h in shown['hosts'] if h not in seen]
        at_end = await page.evaluate('scrollY + innerHeight >= document.documentElement.scrollHeight - 1')
        if at_end:
            return seen
        await page.mouse.wheel(0, 600)


SIZES = {'desktop': {'width': 1440, 'height': 900}, 'phone': {'width': 390, 'height': 844}}


@pytest.mark.parametrize('size', SIZES.values(), ids=SIZES.keys())
async def test_a_fleet_larger_than_the_screen_is_complete_to_the_user(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory, size: dict[str, int]
) -> None:
    fleet = await big_fleet(agents)
    tab = await open_tab(browser, **size)
    page = tab.page
    await log_in(tab, dashboard_process.http)
    table = page.locator('.nf-hosts')
    await expect(table).to_have_attribute('aria-rowcount', str(len(HOSTS) + 1))  # the header and every host
    await page.wait_for_selector(f'{row(HOSTS[0])}[data-conn="online"]')

    rendered = (await viewport(page))['rendered']
    assert 0 < rendered < len(HOSTS) / 2, f'{rendered} rows in the DOM: the table should render only what is near view'

    # a heartbeat to a host far out of view is there once it scrolls in
    await fleet[HOSTS[-1]].heartbeat(metrics={'cpu': 97.0, 'ram': 30.0, 'swap': 0.0, 'load': 0.1})
    assert await scroll_through(page) == HOSTS  # every host, in order, no gap
    await expect(page.locator(f'{row(HOSTS[-1])} div.c-cpu')).to_contain_text('97%')

    # the filter searches every host, and clearing it brings the top of the table back
    search = page.get_by_label('Filter hosts')
    await search.fill('win-15')
    await expect(page.locator('.nf-row')).to_have_count(10)
    await expect(table).to_have_attribute('aria-rowcount', '11')
    await search.fill('')
    await page.evaluate('window.scrollTo(0, 0)')
    await expect(page.locator(row(HOSTS[0]))).to_be_in_viewport()
    await expect(table).to_have_attribute('aria-rowcount', str(len(HOSTS) + 1))
    assert tab.errors == []


async def test_selection_covers_rows_that_were_never_rendered(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    await big_fleet(agents)
    tab = await logged_in_tab(browser, dashboard_process)
    page = tab.page
    header = page.locator('.nf-thead .nf-check')
    selection = page.locator('.nf-ctx-row.is-selection')

    await page.locator('body').click(position={'x': 5, 'y': 300})
    await page.keyboard.press('Control+a')
    await expect(header).to_have_attribute('aria-checked', 'true')
    await expect(selection).to_contain_text(f'{len(HOSTS)} hosts selected')
    await page.keyboard.press('Escape')
    await expect(header).to_have_attribute('aria-checked', 'false')

    # shift-click across rows that were not in the DOM when the range started
    await page.locator(f'{row(HOSTS[2])} .nf-check').click()
    await page.evaluate('window.scrollTo(0, document.documentElement.scrollHeight)')
    far = page.locator(f'{row(HOSTS[-3])} .nf-check')
    await far.click(modifiers=['Shift'])
    await expect(selection).to_contain_text(f'{len(HOSTS) - 4} hosts selected')
    await expect(header).to_have_attribute('aria-checked', 'mixed')
    await expect(far).to_have_attribute('aria-checked', 'true')
    await page.evaluate('window.scrollTo(0, 0)')
    await expect(page.locator(f'{row(HOSTS[1])} .nf-check')).to_have_attribute('aria-checked', 'false')
    await expect(page.locator(f'{row(HOSTS[2])} .nf-check')).to_have_attribute('aria-checked', 'true')
    assert tab.errors == []


#: Records whether the page kept the last Ctrl/Cmd+F from the browser (a listener after the table's own).
FIND_WATCH = """() => { window.findKept = null;
  window.addEventListener('keydown', (e) => { if (e.key === 'f') window.findKept = e.defaultPrevented; }); }"""


async def test_finding_a_host_in_a_long_list_goes_through_the_filter_and_short_lists_render_whole(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    await big_fleet(agents)
    tab = await logged_in_tab(browser, dashboard_process)
    page = tab.page
    await page.evaluate(FIND_WATCH)
    search = page.get_by_label('Filter hosts')

    # a long list is windowed, so the browser's find would miss hosts: Ctrl+F goes to the filter first ...
    await page.locator('body').click(position={'x': 5, 'y': 300})
    await page.keyboard.press('Control+f')
    await expect(search).to_be_focused()
    assert await page.evaluate('window.findKept') is True
    # ... and a second Ctrl+F, from the filter, is the browser's own
    await page.keyboard.press('Control+f')
    assert await page.evaluate('window.findKept') is False

    # '/' focuses the filter too; a short result (60 hosts) is rendered whole: every row is in the DOM to find or Tab
    await search.blur()
    await page.keyboard.press('/')
    await expect(search).to_be_focused()
    await page.keyboard.type('win-1')
    await expect(table_rows := page.locator('.nf-hosts .nf-row')).to_have_count(60)
    assert await table_rows.last.get_attribute('data-host') == HOSTS[-1]
    await search.fill('')
    await expect(page.locator('.nf-hosts')).to_have_attribute('aria-rowcount', str(len(HOSTS) + 1))
    assert (await viewport(page))['rendered'] < len(HOSTS) / 2  # windowed again
    assert tab.errors == []


@pytest.mark.parametrize('size', SIZES.values(), ids=SIZES.keys())
async def test_keyboard_focus_survives_scrolling_its_row_out_of_the_window(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory, size: dict[str, int]
) -> None:
    await big_fleet(agents)
    tab = await logged_in_tab(browser, dashboard_process, **size)
    page = tab.page
    focused = 'document.activeElement?.getAttribute("aria-label")'

    check = page.get_by_role('checkbox', name=f'Select {HOSTS[1]}')
    await check.focus()
    await page.evaluate('window.scrollTo(0, document.documentElement.scrollHeight)')
    await page.evaluate(FRAMES)
    assert HOSTS[1] not in (await viewport(page))['hosts']  # far out of view, well outside the rendered window
    assert await page.evaluate(focused) == f'Select {HOSTS[1]}'  # focus was not dropped to the page
    assert await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth')
    shown = await viewport(page)
    assert not shown['gap'] and shown['hosts'][-1] == HOSTS[-1]  # the pinned row does not disturb the layout

    await page.keyboard.press('Space')  # the keyboard still acts on the focused row, without scrolling to it
    await expect(page.locator('.nf-ctx-row.is-selection')).to_contain_text('1 host selected')
    await page.keyboard.press('Tab')  # and Tab moves on from it
    assert await page.evaluate(focused) != f'Select {HOSTS[1]}'

    assert await scroll_through(page) == HOSTS  # in its place when scrolled back, every host once, no gap
    await expect(page.locator(f'{row(HOSTS[1])} .nf-check')).to_have_attribute('aria-checked', 'true')
    assert tab.errors == []
