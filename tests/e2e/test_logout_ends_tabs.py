"""Logout ends every tab and sync socket of the session, in a real browser (issue 15 item 5 acceptance).

One browser (one cookie jar) has three dashboard tabs, and a script holds an `/api/sync` socket of the same session.
Logging out in the first tab sends the second to the login page within a second (it is told and leaves; loading
the login page then takes what the machine takes: 0.5-3 s on a loaded 2-core CI box, so it is awaited, not timed) and
closes the sync socket with 4401 and the reason within a second. The third
tab is stale: it ignores the server's navigation and clicks Check version the moment it is told to leave — the
server re-checks the session and refuses it: it reaches neither the agent nor the journal, while the same click in
a tab of another session right after it does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from playwright.async_api import Page, expect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nixfleet.security.links import CLOSE_SESSION_ENDED
from tests.e2e.conftest import (
    BROWSER_TESTS,
    QUIET_INTERVAL,
    AgentFactory,
    DashboardProcess,
    dashboard_tab,
    online_hosts,
    row,
    wait_connected,
)
from tests.support import PASSWORD, expect_command

pytestmark = BROWSER_TESTS

#: Installed in the stale tab: instead of leaving, click the open menu's Check version (its event goes out at once).
STALE_CLICK = """() => {
  window.open = (url) => {
    window.nfToldToOpen = url;
    const items = [...document.querySelectorAll('[role=menuitem]')];
    items.find((item) => item.textContent.includes('Check version')).click();
    return null;
  };
}"""

#: Installed in the second tab: note when the server tells it to leave (it then leaves, as NiceGUI's client does).
NOTE_TOLD = """() => {
  const open = window.open;
  window.open = (...args) => {
    sessionStorage.setItem('nfTold', String(Date.now()));
    return open.apply(window, args);
  };
}"""

#: Acceptance bound: the session's other tabs and sockets end within this many seconds of the logout.
ENDED_WITHIN = 1.0


async def open_dashboard(page: Page, base: str, host: str) -> None:
    """Open the dashboard in `page` (already logged in through its context) showing `host` online."""
    await page.goto(f'{base}/')
    await page.wait_for_selector(f'{row(host)}[data-conn="online"]')
    await wait_connected(page)


async def check_version(page: Page, host: str) -> None:
    """Click Check version in the host's row menu."""
    await page.get_by_role('button', name=f'Actions for {host}').click()
    await page.get_by_role('menuitem', name='Check version').click()


async def journal(base: str, op: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Commands and events of `op` in the journal (asked with a session of its own)."""
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.post('/login', data={'password': PASSWORD})).status_code == 303
        commands = (await http.get('/api/commands', params={'op': op})).json()['commands']
        events = (await http.get('/api/events', params={'action': f'op:{op}'})).json()['events']
    return commands, events


async def test_logout_ends_the_other_tabs_and_the_sync_socket_within_a_second(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    base = dashboard_process.http
    agent = (await online_hosts(agents, 'web-01', heartbeat_interval=QUIET_INTERVAL))['web-01']
    first = await dashboard_tab(dashboard_process, browser, ['web-01'])
    second, held = await first.page.context.new_page(), await first.page.context.new_page()
    for page in (second, held):
        await open_dashboard(page, base, 'web-01')
    # a stale tab: it ignores the server's navigation (NiceGUI's client opens pages with `window.open(url, '_self')`)
    # and clicks Check version in its open row menu the moment it is told to leave, before anything else reaches it
    await held.get_by_role('button', name='Actions for web-01').click()
    await expect(held.get_by_role('menuitem', name='Check version')).to_be_enabled()
    await held.evaluate(STALE_CLICK)
    await second.evaluate(NOTE_TOLD)
    cookie = next(c for c in await first.page.context.cookies() if c['name'] == 'nixfleet_session')
    headers = {'Cookie': f'nixfleet_session={cookie["value"]}'}
    async with connect(f'ws://127.0.0.1:{dashboard_process.port}/api/sync', additional_headers=headers) as sync:
        await sync.recv()  # init
        closing = asyncio.create_task(closed_at(sync))
        posted: list[float] = []  # when the browser sent the logout (wall clock, as the browser's Date.now())
        first.page.on('request', lambda r: posted.append(time.time()) if r.url.endswith('/logout') else None)

        await first.page.get_by_role('button', name='Log out').click()

        await second.wait_for_url('**/login?error=logged_out', wait_until='commit')
        told = int(await second.evaluate("sessionStorage.getItem('nfTold')")) / 1000
        code, reason, closed = await asyncio.wait_for(closing, 5)
    assert (code, reason) == (CLOSE_SESSION_ENDED, 'session ended: logged out')
    assert told - posted[0] < ENDED_WITHIN and closed - posted[0] < ENDED_WITHIN, (told, closed, posted[0])
    await expect(second.get_by_role('alert')).to_contain_text('You have been logged out.')
    await expect(second.get_by_label('Password')).to_be_visible()
    await first.page.wait_for_url('**/login?error=logged_out')

    stale_told = await held.wait_for_function('window.nfToldToOpen')  # and has clicked
    assert await stale_told.json_value() == '/login?error=logged_out'
    other = await dashboard_tab(dashboard_process, browser, ['web-01'])
    await check_version(other.page, 'web-01')
    assert await expect_command(agent) == 'check-version'  # the other session's click: the first to arrive
    commands, events = await journal(base, 'check-version')
    assert [c['actor'] for c in commands] == ['user']  # one command: the other session's
    assert {e['details'].get('command_id') for e in events} <= {commands[0]['id']}, events


async def closed_at(ws: ClientConnection) -> tuple[int | None, str | None, float]:
    """Read until the server closes `ws`; return the close code and reason it sent, and when (wall clock)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        frame = closed.rcvd
        return (frame.code, frame.reason, time.time()) if frame else (None, None, time.time())
