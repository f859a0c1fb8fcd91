"""Honest connection state in a real browser: when the dashboard stops, the open page says so within 2 s (live badge
"disconnected since HH:MM:SS", grey status dots and metrics, the footer) instead of showing the last green; when the
dashboard is back, the page recovers by itself."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.conftest import BROWSER_TESTS, log_in, open_tab
from tests.e2e.test_sync_guarantees import Restartable, restartable  # noqa: F401  (the fixture)
from tests.support import FakeAgent

pytestmark = BROWSER_TESTS

#: Acceptance bound: seconds from the server's stop to the page showing it.
DISCONNECTED_WITHIN = 2.0
GREEN = 'rgb(158, 206, 106)'
MUTED = 'rgb(154, 162, 203)'  # --nf-fg-muted
SINCE = re.compile(r'^Disconnected since \d\d:\d\d:\d\d$')


async def style(page: Page, selector: str, prop: str, pseudo: str | None = None) -> str:
    script = '([s, p, pseudo]) => getComputedStyle(document.querySelector(s), pseudo)[p]'
    return str(await page.evaluate(script, [selector, prop, pseudo]))


async def test_a_stopped_server_greys_the_page_within_2_s_and_it_recovers_by_itself(
    restartable: Restartable,  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    await restartable.start()
    ws_url = restartable.http.replace('http://', 'ws://') + '/ws'
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, restartable.http)
    agent = await FakeAgent(ws_url, 'web-01').connect()
    await agent.heartbeat(metrics={'cpu': 42.0, 'ram': 37.0, 'swap': 0.0, 'load': 0.5})
    dot = '.nf-row[data-host="web-01"] .nf-dot'
    await page.wait_for_selector(f'{dot}.is-online')
    await expect(page.locator('.nf-row[data-host="web-01"] .c-cpu')).to_contain_text('42%')
    assert await style(page, dot, 'backgroundColor') == GREEN
    assert 'live' in (await page.locator('.nf-live-badge').inner_text()).lower()

    assert restartable.process is not None
    restartable.process.terminate()  # the dashboard stops (SIGTERM, as `docker stop` or systemd would)
    stopped = time.monotonic()
    await page.wait_for_function(
        "document.documentElement.dataset.nfLink === 'down'", timeout=DISCONNECTED_WITHIN * 1000
    )
    assert time.monotonic() - stopped < DISCONNECTED_WITHIN
    await expect(page.locator('[data-nf-conn]')).to_have_text(SINCE)
    badge = await style(page, '.nf-live-badge', 'content', '::after')
    assert re.fullmatch(r'"disconnected since \d\d:\d\d:\d\d"', badge), badge
    assert await style(page, dot, 'backgroundColor') != GREEN  # no last green
    assert await style(page, '.nf-pill.online .nf-pill-dot', 'backgroundColor') != GREEN
    assert await style(page, '.nf-row[data-host="web-01"] .c-cpu .nf-num', 'color') == MUTED
    await page.screenshot(path=tmp_path / 'disconnected.png')
    await agent.close()
    await restartable.stop()

    await restartable.start()  # back (same port and data): the page recovers without anyone reloading it
    await page.wait_for_selector('[data-nf-conn][data-state=connected]', timeout=20_000)
    await page.wait_for_function('!document.documentElement.dataset.nfLink')
    await expect(page.locator('[data-nf-conn]')).to_have_text('Connected')
    agent = await FakeAgent(ws_url, 'web-01').connect()
    await agent.heartbeat(metrics={'cpu': 43.0, 'ram': 37.0, 'swap': 0.0, 'load': 0.5})
    await page.wait_for_selector(f'{dot}.is-online', timeout=10_000)
    await expect(page.locator('.nf-row[data-host="web-01"] .c-cpu')).to_contain_text('43%')
    assert await style(page, dot, 'backgroundColor') == GREEN
    await agent.close()
