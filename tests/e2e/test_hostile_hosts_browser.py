"""Hostile host data in a real browser (issue 15 items 1 and 2 acceptance).

The dashboard starts on a Go database holding hosts whose ids are `..`, `a/b`, `<b>x</b>` and empty, plus a host whose
stored colour carries CSS declarations (written past every check, as a database from before the fix may hold one),
and an agent registers with such a colour. The page shows every host under its safe id with its original name as
text, and no element anywhere is styled by the hostile colour: no full-screen overlay, the rows in the default colour.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from nixfleet.models import DEFAULT_COLOR
from nixfleet.store import Store
from tests.e2e.conftest import BROWSER_TESTS, AgentFactory, DashboardProcess, api, log_in, open_tab, row
from tests.store.test_go_migration import create_go_database
from tests.store.test_odd_go_hosts import ODD, add_odd_hosts

pytestmark = BROWSER_TESTS

#: A colour that, formatted into a style attribute, covers the page with a near-black layer.
HOSTILE = '#fff;position:fixed;inset:0;z-index:9999;background:#010203'
INJECTED = 'rgb(1, 2, 3)'


@pytest.fixture
def hostile_database(tmp_path: Path) -> Path:
    """The Go database with the odd hosts, adopted, then a host `painted` with a hostile stored colour (the data dir
    `dashboard_process` uses; request this fixture before it)."""
    path = tmp_path / 'data' / 'nixfleet.db'
    create_go_database(path)
    add_odd_hosts(path)
    store = Store(path)
    store.open()  # the adoption runs here, as at the dashboard's first start
    store.close()
    conn = sqlite3.connect(path)
    conn.execute(
        'INSERT INTO hosts (id, hostname, host_type, status, theme_color, theme_color_override, created_at) '
        "VALUES ('painted', 'painted', 'nixos', 'offline', ?, ?, '2025-12-27T10:00:00.000Z')",
        [HOSTILE, HOSTILE],
    )
    conn.execute(  # History lists it, its host label in the host's colour
        'INSERT INTO commands (id, host_id, op, status, created_at, finished_at, exit_code, state_json) VALUES '
        "('painted-1', 'painted', 'pull', 'SUCCESS', '2099-01-01T10:00:00.000Z', '2099-01-01T10:00:09.000Z', 0, '{}')"
    )
    conn.commit()
    conn.close()
    return path


async def no_injected_style(page: Page) -> None:
    """No element carries the hostile declarations, and nothing covers the viewport."""
    found = await page.evaluate(
        """injected => [...document.querySelectorAll('*')].filter(e => {
            const s = getComputedStyle(e), style = e.getAttribute('style') || '';
            const covers = s.position === 'fixed' && e.offsetWidth >= innerWidth && e.offsetHeight >= innerHeight;
            return s.backgroundColor === injected || /inset|z-index|url\\(|expression/.test(style)
                || (covers && s.zIndex === '9999');
        }).map(e => e.outerHTML.slice(0, 120))""",
        INJECTED,
    )
    assert found == []


async def host_colour(page: Page, host: str) -> str:
    return str(await page.locator(row(host)).evaluate("r => getComputedStyle(r).getPropertyValue('--hc').trim()"))


async def test_odd_and_hostile_hosts_are_shown_as_text_in_their_rows_only(
    hostile_database: Path, dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    rogue = await agents('rogue', theme_color=HOSTILE)
    await rogue.heartbeat()
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, dashboard_process.http)
    hosts = {h['hostname']: h['id'] for h in (await api(page, dashboard_process.http, 'GET', '/api/hosts'))['hosts']}
    assert set(ODD) <= set(hosts)
    await page.wait_for_selector(f'{row("rogue")}[data-conn="online"]')

    for original in ODD:
        await expect(page.locator(row(hosts[original]))).to_have_count(1)
    name = page.locator(f'{row(hosts["<b>x</b>"])} .nf-hostname')
    await expect(name).to_have_text('<b>x</b>')  # as text: no element made of it
    assert await page.locator('.nf-row b').count() == 0
    assert await host_colour(page, 'painted') == DEFAULT_COLOR
    assert await host_colour(page, 'rogue') == DEFAULT_COLOR
    await no_injected_style(page)

    await page.reload()  # "survived reloads" before the fix
    await page.wait_for_selector(f'{row("rogue")}[data-conn="online"]')
    await no_injected_style(page)

    await page.get_by_role('link', name='History').click()  # host labels there are in the host's colour
    await page.wait_for_url('**/history')
    await expect(page.locator('.nf-hrows .nf-hrow .nf-hhost', has_text='painted')).to_be_visible()
    await no_injected_style(page)
    assert tab.errors == []
