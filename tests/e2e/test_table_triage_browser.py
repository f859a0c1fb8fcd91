"""Triage in a 500-host fleet, in a real browser: the Offline chip and a text filter show exactly the matching rows (and
live in the URL, so the view opens again from it), sorting by last seen both ways, the header row in view after
scrolling, and Remove of 20 offline hosts in one confirmation. Screenshots of the filtered fleet on a desktop and a
phone (NIXFLEET_UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/).

Fake agents (the Go agent's protocol) connect to `nixfleet serve` in its own process (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import BROWSER_TESTS, QUIET_INTERVAL, ROOT, AgentFactory, DashboardProcess, log_in, open_tab
from tests.support import PASSWORD

pytestmark = BROWSER_TESTS

WEB = [f'web-{i:03d}' for i in range(250)]
DB = [f'db-{i:03d}' for i in range(250)]
#: Hosts whose agent went away: the first 20 of each kind.
OFFLINE = WEB[:20] + DB[:20]

#: Click the element `selector` names; resolve with the milliseconds until the frame after the click (its handlers,
#: Vue's re-render and the browser's next frame): what a user waits for, measured in the page.
TIMED_CLICK = """async (selector) => {
  const el = document.querySelector(selector); const t = performance.now(); el.click();
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0))); return performance.now() - t; }"""

#: The hosts of the rows in the DOM, in their order.
ROWS = "() => [...document.querySelectorAll('.nf-hosts .nf-row')].map((r) => r.dataset.host)"


async def fleet_of_500(agents: AgentFactory) -> None:
    """500 hosts, 40 of them offline; each online host's CPU differs, each one's last heartbeat came at its own time."""

    async def host(name: str, i: int) -> None:
        agent = await agents(name, heartbeat_interval=QUIET_INTERVAL)
        await agent.heartbeat(metrics={'cpu': float(i % 97), 'ram': 40.0, 'swap': 0.0, 'load': 0.2})
        if name in OFFLINE:
            await agent.close()

    names = WEB + DB
    for start in range(0, len(names), 25):  # a few at a time: the dashboard registers them as fast as it can
        await asyncio.gather(*(host(n, start + i) for i, n in enumerate(names[start : start + 25])))


async def views(base: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        assert (await http.post('/login', data={'password': PASSWORD})).status_code == 303
        return {h['id']: h for h in (await http.get('/api/hosts')).json()['hosts']}


def by_last_seen(hosts: dict[str, dict[str, Any]], names: list[str], *, desc: bool) -> list[str]:
    """`names` as the table sorts them by last seen: by time (never seen last), ties by name."""
    seen = [n for n in names if hosts[n].get('last_seen')]
    ordered = sorted(sorted(seen), key=lambda n: hosts[n]['last_seen'], reverse=desc)
    return ordered + sorted(n for n in names if not hosts[n].get('last_seen'))


async def shown(page: Page) -> list[str]:
    return list(await page.evaluate(ROWS))


async def test_triage_of_500_hosts_with_screenshots(
    dashboard_process: DashboardProcess,
    browser: Any,
    agents: AgentFactory,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    await fleet_of_500(agents)
    base = dashboard_process.http
    hosts = await views(base)
    assert len(hosts) == 500 and sum(h['connection'] == 'offline' for h in hosts.values()) == 40
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, base)
    table = page.locator('.nf-hosts')
    await expect(table).to_have_attribute('aria-rowcount', '501')
    offline_chip = page.locator('.nf-chip[data-chip="offline"]')
    await expect(offline_chip).to_contain_text('40')

    # the Offline chip and a text filter: exactly the matching rows, and the view is in the URL
    await offline_chip.click()
    await expect(offline_chip).to_have_attribute('aria-pressed', 'true')
    await expect(table).to_have_attribute('aria-rowcount', '41')
    await page.get_by_label('Filter hosts').fill('web')
    await expect(table).to_have_attribute('aria-rowcount', '21')
    assert sorted(await shown(page)) == WEB[:20]
    assert page.url.endswith('/?status=offline&q=web')

    # sort by last seen, both ways (by clicking the header; aria-sort says which way)
    seen = page.locator('.nf-th.c-seen')
    await seen.get_by_role('button').click()
    await expect(seen).to_have_attribute('aria-sort', 'ascending')
    assert await shown(page) == by_last_seen(hosts, WEB[:20], desc=False)
    await seen.get_by_role('button').press('Enter')  # the keyboard sorts too
    await expect(seen).to_have_attribute('aria-sort', 'descending')
    assert await shown(page) == by_last_seen(hosts, WEB[:20], desc=True)
    assert page.url.endswith('/?status=offline&q=web&sort=seen&dir=desc')

    # the URL opens the same view in another tab
    other = await open_tab(browser)
    await other.page.context.add_cookies(await page.context.cookies())
    await other.page.goto(page.url)
    await expect(other.page.locator('.nf-hosts')).to_have_attribute('aria-rowcount', '21')
    await expect(other.page.locator('.nf-th.c-seen')).to_have_attribute('aria-sort', 'descending')
    assert await shown(other.page) == by_last_seen(hosts, WEB[:20], desc=True)
    assert await other.page.get_by_label('Filter hosts').input_value() == 'web'

    await screenshots(page, other, tmp_path)

    # the whole fleet by last seen: the header row stays in view while the page scrolls
    await offline_chip.click()
    await page.get_by_label('Filter hosts').fill('')
    await expect(table).to_have_attribute('aria-rowcount', '501')
    assert (await shown(page))[:10] == by_last_seen(hosts, WEB + DB, desc=True)[:10]
    await page.evaluate('window.scrollTo(0, document.documentElement.scrollHeight / 2)')
    head = page.locator('.nf-thead')
    await expect(head).to_be_in_viewport()
    top = await page.evaluate(
        """() => { const h = document.querySelector('.nf-thead').getBoundingClientRect();
                   const hit = document.elementFromPoint(h.left + h.width / 2, h.top + h.height / 2);
                   return { top: h.top, header: document.querySelector('.q-header').getBoundingClientRect().bottom,
                            covered: !hit || !hit.closest('.nf-thead') }; }"""
    )
    assert abs(top['top'] - top['header']) <= 1 and not top['covered'], top

    record_property('triage_click_ms', await click_times(page))  # recorded, not asserted (no wall-clock bounds here)

    # Remove of 20 offline hosts: one confirmation listing them
    await page.evaluate('window.scrollTo(0, 0)')
    await offline_chip.click()
    await page.get_by_label('Filter hosts').fill('web')
    await expect(table).to_have_attribute('aria-rowcount', '21')
    await page.get_by_role('checkbox', name='Select all hosts').click()
    remove = page.get_by_role('button', name='Remove 20 offline hosts')
    await expect(page.locator('.nf-ctx-row.is-selection')).to_contain_text('20 selected · 0 online')
    await expect(page.get_by_role('button', name='Do All')).to_be_disabled()  # nothing online to run it on
    await remove.click()
    dialog = page.locator('.nf-dlg')
    await expect(dialog).to_contain_text('Remove 20 offline hosts?')
    assert sorted(await dialog.locator('.nf-dlg-host').all_inner_texts()) == WEB[:20]
    await page.mouse.move(0, 0)
    await page.wait_for_timeout(400)  # the dialog's opening transition
    await page.screenshot(path=shots(tmp_path) / 'triage-remove.png')
    await dialog.get_by_role('button', name='Remove 20').click()
    await expect(page.locator('.nf-empty-title')).to_have_text('No host matches Offline and “web”')
    await expect(offline_chip).to_contain_text('20')
    await expect(page.get_by_text('Remove done on 20 hosts')).to_be_visible()
    left = await views(base)
    assert len(left) == 480 and not set(WEB[:20]) & left.keys()
    assert tab.errors == [] and other.errors == []


async def click_times(page: Page) -> dict[str, list[float]]:
    """Milliseconds from a click to the next frame: a status chip on and off and a sort both ways, five times each."""
    times: dict[str, list[float]] = {'chip': [], 'sort': []}
    for _ in range(5):
        for name, selector in (('chip', '.nf-chip[data-chip="stale"]'), ('sort', '.nf-th.c-cpu .nf-sort')):
            for _ in range(2):
                times[name].append(round(await page.evaluate(TIMED_CLICK, selector), 1))
    await page.locator('.nf-th.c-host .nf-sort').click()
    print(f'500 hosts, click to next frame (ms): {times}')
    return times


def shots(tmp_path: Path) -> Path:
    """Where the pictures go: docs/screenshots/ with NIXFLEET_UPDATE_SCREENSHOTS=1, else the test's tmp_path."""
    return ROOT / 'docs' / 'screenshots' if os.environ.get('NIXFLEET_UPDATE_SCREENSHOTS') == '1' else tmp_path


async def screenshots(desktop: Page, other: Any, tmp_path: Path) -> None:
    """The filtered large fleet on a desktop (1440 by 900) and a phone (390 by 844)."""
    out = shots(tmp_path)
    await desktop.mouse.move(0, 0)
    await desktop.evaluate('document.activeElement?.blur()')
    await desktop.screenshot(path=out / 'triage-desktop.png')
    await other.page.set_viewport_size({'width': 390, 'height': 844})
    await other.page.mouse.move(0, 0)
    await expect(other.page.locator('.nf-sort-pick select')).to_have_value('seen:desc')
    await other.page.screenshot(path=out / 'triage-phone.png')
    phone = await other.page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')
    assert phone[0] <= phone[1], f'the phone page is {phone[0]} px wide in a {phone[1]} px window'
