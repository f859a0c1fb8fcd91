"""Screenshots of the dashboard's actions, taken from `nixfleet demo` (simulated hosts, version.json, a pending PR):
three hosts selected with a shift-click and deployed with Do All (live progress in their rows), a command past its
warning time in the context bar, a refused Switch with Force and "Pull first", the row menu, and the 390 px layout.

Set NIXFLEET_UPDATE_SCREENSHOTS=1 to write them to docs/screenshots/ (otherwise they go to tmp_path).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    ROOT,
    BrowserTab,
    DashboardProcess,
    open_tab,
    row,
    run_demo,
    wait_connected,
)

pytestmark = [*BROWSER_TESTS, pytest.mark.slow]

PASSWORD = 'demo-screenshots'
HOSTS = 8


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DashboardProcess]:
    """The demo with 8 hosts whose tests take long and whose `check-version` outlives its 10 s warning."""
    env = {
        'NIXFLEET_DEMO_PASSWORD': PASSWORD,
        'NIXFLEET_DEMO_ADVANCE_EVERY': '1h',
        'NIXFLEET_SIM_SPEED': '2',
        'NIXFLEET_SIM_SLOW': 'test:40,check-version:2000',
    }
    with run_demo(tmp_path, HOSTS, env) as running:
        yield running


async def open_demo(browser: Any, demo: DashboardProcess, **size: int) -> BrowserTab:
    tab = await open_tab(browser, **size)
    page = tab.page
    await page.goto(f'{demo.http}/')
    await page.get_by_label('Password').fill(PASSWORD)
    await page.get_by_role('button', name='Log in').click()
    await page.wait_for_selector('.nf-host-table[data-version]')
    await wait_connected(page)
    # every host online, as the table header counts them (on a phone the cards far below are not rendered yet)
    await expect(page.locator('.nf-th-count')).to_have_text(f'{HOSTS}/{HOSTS} Hosts')
    await expect(page.locator('.nf-ctx-row.is-pr')).to_be_visible()  # the demo opens a flake-update PR
    return tab


async def settle(page: Page) -> None:
    """Let animations (ripples, menus) come to rest before a picture."""
    await page.wait_for_timeout(700)


async def test_screenshots(demo: DashboardProcess, browser: Any, tmp_path: Path) -> None:
    out = ROOT / 'docs' / 'screenshots' if os.environ.get('NIXFLEET_UPDATE_SCREENSHOTS') == '1' else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    tab = await open_demo(browser, demo, width=1440, height=1100)
    page = tab.page

    # the row menu offers what the host accepts now, and says why not for the rest
    await page.get_by_role('button', name='Actions for vps-hel1').click()
    switch = page.get_by_role('menuitem', name='Switch', exact=True)
    await expect(switch).to_be_disabled()
    await switch.hover()
    await expect(page.get_by_role('tooltip').filter(has_text='Git is outdated')).to_be_visible()
    await settle(page)
    await page.screenshot(path=out / 'actions-menu.png')
    await page.keyboard.press('Escape')

    # a Switch refused for the selected host (one commit behind version.json): Force or Pull first
    await page.get_by_role('checkbox', name='Select vps-hel1').click()
    await page.locator('.nf-ctx-row.is-selection').get_by_role('button', name='Switch').click()
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text('git_outdated')
    await expect(dialog.get_by_role('button', name='Force')).to_be_visible()
    await expect(dialog.get_by_role('button', name='Pull first')).to_be_visible()
    await settle(page)
    await page.screenshot(path=out / 'actions-dialog.png')
    await dialog.get_by_role('button', name='Cancel').click()
    await expect(dialog).to_have_count(0)
    await page.keyboard.press('Escape')  # clear the selection

    # three hosts by shift-click, Do All from the selection row; a slow check-version on another
    await page.locator(f'{row("atlas")} .nf-check').click()
    await page.locator(f'{row("hyperion")} .nf-check').click(modifiers=['Shift'])
    await expect(page.locator('.nf-ctx-row.is-selection')).to_contain_text('3 hosts selected')
    await page.locator('.nf-ctx-row.is-selection').get_by_role('button', name='Do All').click()
    await page.get_by_role('button', name='Actions for workstation').click()
    await page.get_by_role('menuitem', name='Check version').click()
    for host in ('atlas', 'edge-fra1', 'hyperion'):  # pulled and switched: now testing
        await expect(page.locator(f'{row(host)} .nf-job-op')).to_have_text('Test', timeout=40_000)
    await expect(page.locator('.nf-ctx-row.is-alert')).to_contain_text('workstation', timeout=20_000)
    await page.evaluate('window.scrollTo(0, 0)')
    await page.locator(f'{row("mac-mini")} .nf-comp[data-comp=git]').hover()
    await expect(page.get_by_role('tooltip').filter(has_text='Click: Pull')).to_be_visible()
    await settle(page)
    await page.screenshot(path=out / 'actions-desktop.png')
    await page.locator('.nf-context').screenshot(path=out / 'actions-context-warning.png')

    mobile = await open_demo(browser, demo, width=390, height=844)
    # a phone starts with the output panel collapsed to one bar (the browser reports its width after the first paint)
    await expect(mobile.page.get_by_role('button', name='Expand the panel')).to_be_visible()
    await mobile.page.locator(f'{row("atlas")} .nf-check').click()
    await mobile.page.evaluate('window.scrollTo(0, 0)')
    await settle(mobile.page)
    assert await mobile.page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth')
    # the view switcher fits a phone whole, the running pipeline counted in a badge
    views = mobile.page.get_by_role('navigation', name='Views')
    await expect(views.get_by_role('link', name='History')).to_be_in_viewport(ratio=1)
    assert await views.evaluate('(nav) => nav.scrollWidth <= nav.clientWidth')
    await expect(views.locator('.nf-view-badge')).to_have_text('1')
    await mobile.page.screenshot(path=out / 'actions-mobile.png')
    assert tab.errors == [] and mobile.errors == []
