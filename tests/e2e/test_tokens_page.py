"""The Tokens page in a real browser (issue 15 item 9), against `nixfleet serve` in its own process.

An admin creates an API token: its value is shown once, in the dialog, and copied by the Copy button; after the
dialog and after a reload the page never holds it again. The token works for the API and `/api/sync` (a `read` one
is refused dispatch); revoking it from the page (after a confirmation naming its live link) closes that link and
the API answers 401; the server log never holds the value. A per-host agent token created on the page registers its
host, and revoking it closes the agent's link. A tab whose session ended (logout elsewhere) creates nothing: the
server re-checks the session and sends the tab to the login page. Screenshots go to /tmp/nixfleet-tokens*.png.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import (
    BROWSER_TESTS,
    AgentFactory,
    BrowserTab,
    DashboardProcess,
    log_in,
    open_tab,
    wait_connected,
)
from tests.support import PASSWORD, FakeAgent

pytestmark = BROWSER_TESTS

SHOTS = Path('/tmp')


async def tokens_page(dashboard_process: DashboardProcess, browser: Browser) -> BrowserTab:
    """A logged-in tab on the Tokens page, reached through the view switcher (clipboard allowed)."""
    tab = await open_tab(browser, width=1440, height=900)
    await tab.page.context.grant_permissions(['clipboard-read', 'clipboard-write'])
    await log_in(tab, dashboard_process.http)
    await tab.page.get_by_role('link', name='Tokens').click()
    await tab.page.wait_for_url(f'{dashboard_process.http}/tokens')
    await wait_connected(tab.page)
    await expect(tab.page.locator('.nf-tokens .nf-card-title')).to_have_text('Tokens')
    return tab


def token_row(page: Page, subject: str) -> object:
    """The list row of the token for this host or name."""
    return page.locator('.nf-hrow.is-tokens').filter(has=page.locator('.nf-tsubject', has_text=subject))


async def revoke_on_page(page: Page, subject: str, expect_text: str) -> None:
    """Click a row's Revoke, check the confirmation names what will happen, and confirm."""
    row = token_row(page, subject)
    await row.get_by_role('button', name='Revoke').click()  # type: ignore[attr-defined]
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text(expect_text)
    await page.screenshot(path=SHOTS / f'nixfleet-tokens-revoke-{subject}.png')
    await dialog.get_by_role('button', name='Revoke').click()


async def sync_close_code(ws: object, timeout: float = 5.0) -> int | None:
    """Read a sync socket until the server closes it; return the close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()  # type: ignore[attr-defined]
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_create_use_and_revoke_an_api_token(dashboard_process: DashboardProcess, browser: Browser) -> None:
    base = dashboard_process.http
    tab = await tokens_page(dashboard_process, browser)
    page = tab.page
    await expect(token_row(page, 'every host without its own token')).to_contain_text('Agent · shared')

    await page.get_by_role('button', name='New API token').click()
    dialog = page.get_by_role('dialog')
    await dialog.get_by_label('Name').fill('grafana')
    await expect(dialog.get_by_role('button', name='read', exact=True)).to_have_attribute('aria-pressed', 'true')
    await dialog.get_by_role('button', name='Create').click()
    secret_field = dialog.locator('.nf-secret-value input')
    await expect(dialog).to_contain_text('shown only this once')
    secret = await secret_field.input_value()
    assert secret.startswith('nfapi_') and len(secret) > 40
    await dialog.get_by_role('button', name='Copy').click()
    await expect(dialog.get_by_role('button', name='Copied')).to_be_visible()
    assert await page.evaluate('navigator.clipboard.readText()') == secret
    await page.screenshot(path=SHOTS / 'nixfleet-tokens-created.png')

    await dialog.get_by_role('button', name='Done').click()
    await expect(page.get_by_role('dialog')).to_have_count(0)
    row = token_row(page, 'grafana')
    await expect(row).to_contain_text('API')
    await expect(row.locator('.nf-tscope')).to_have_text('read')
    assert secret not in await page.content()
    await page.reload()
    await wait_connected(page)
    await expect(token_row(page, 'grafana')).to_be_visible()
    assert secret not in await page.content(), 'a reload shows the token again'

    headers = {'Authorization': f'Bearer {secret}'}
    async with httpx.AsyncClient(base_url=base, headers=headers) as api:
        assert (await api.get('/api/hosts')).status_code == 200
        assert (await api.get('/metrics')).status_code == 200
        refused = await api.post('/api/dispatch', json={'op': 'pull', 'hosts': ['web1']})
        assert refused.status_code == 403 and refused.json()['error']['code'] == 'forbidden'
        async with connect(f'ws://127.0.0.1:{dashboard_process.port}/api/sync', additional_headers=headers) as ws:
            assert json.loads(await ws.recv())['type'] == 'init'
            await expect(token_row(page, 'grafana').locator('.nf-tlive')).to_have_text('1 live', timeout=10_000)
            await expect(token_row(page, 'grafana').locator('.nf-tused')).not_to_contain_text('never')
            await page.screenshot(path=SHOTS / 'nixfleet-tokens.png')

            await revoke_on_page(page, 'grafana', 'its 1 live link will be closed')
            assert await sync_close_code(ws) == 1008
        assert (await api.get('/api/hosts')).status_code == 401

    await expect(token_row(page, 'grafana')).to_have_count(0)
    await page.get_by_role('switch', name='Show revoked').click()
    await expect(token_row(page, 'grafana')).to_contain_text('revoked')
    assert secret not in dashboard_process.log_path.read_text(errors='replace')
    assert not tab.errors, tab.errors


#: Installed in a stale tab: instead of leaving when the server says so, click the open dialog's Create.
STALE_CREATE = """() => {
  window.open = (url) => {
    window.nfToldToOpen = url;
    const create = [...document.querySelectorAll('[role=dialog] button')].find((b) => b.textContent.includes('Create'));
    create.click();
    return null;
  };
}"""


async def test_a_tab_whose_session_ended_creates_no_token(
    dashboard_process: DashboardProcess, browser: Browser
) -> None:
    tab = await tokens_page(dashboard_process, browser)
    page = tab.page
    await page.get_by_role('button', name='New API token').click()
    await page.get_by_role('dialog').get_by_label('Name').fill('late')
    # a stale tab: it ignores the server's navigation to the login page and clicks Create the moment it is told
    await page.evaluate(STALE_CREATE)

    logout = await page.request.post(f'{dashboard_process.http}/logout', max_redirects=0)
    assert logout.status == 303  # this browser's session ends; the tab is still open

    told = await page.wait_for_function('window.nfToldToOpen')
    assert '/login' in await told.json_value()
    async with httpx.AsyncClient(base_url=dashboard_process.http) as http:
        assert (await http.post('/login', data={'password': PASSWORD})).status_code == 303
        listed = (await http.get('/api/tokens', params={'include_revoked': 'true'})).json()
    assert listed['tokens'] == []


async def test_a_per_host_agent_token_registers_its_host_and_revoking_closes_the_link(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    tab = await tokens_page(dashboard_process, browser)
    page = tab.page

    await page.get_by_role('button', name='New agent token').click()
    dialog = page.get_by_role('dialog')
    await dialog.get_by_label('Host').fill('web1')
    await dialog.get_by_role('button', name='Create').click()
    await expect(dialog).to_contain_text('shown only this once')
    secret = await dialog.locator('.nf-secret-value input').input_value()
    assert secret.startswith('nfagent_')
    await dialog.get_by_role('button', name='Done').click()

    agent = await FakeAgent(dashboard_process.ws_url, 'web1', token=secret).connect()
    row = token_row(page, 'web1')
    await expect(row).to_contain_text('Agent · host')
    await expect(row.locator('.nf-tlive')).to_have_text('1 live', timeout=10_000)
    await page.screenshot(path=SHOTS / 'nixfleet-tokens-agent.png')

    await revoke_on_page(page, 'web1', 'its 1 live link will be closed')
    assert await agent.closed() == 1008
    await expect(token_row(page, 'web1')).to_have_count(0)
    assert not tab.errors, tab.errors


async def test_the_page_fits_a_phone(dashboard_process: DashboardProcess, browser: Browser) -> None:
    tab = await open_tab(browser, width=390, height=844)
    await log_in(tab, dashboard_process.http)
    await tab.page.goto(f'{dashboard_process.http}/tokens')
    await wait_connected(tab.page)
    await expect(token_row(tab.page, 'every host without its own token')).to_be_visible()
    await tab.page.screenshot(path=SHOTS / 'nixfleet-tokens-mobile.png')

    views = tab.page.get_by_role('navigation', name='Views')  # four views fit a phone whole
    await expect(views.get_by_role('link', name='Tokens')).to_be_in_viewport(ratio=1)
    assert await views.evaluate('(nav) => nav.scrollWidth <= nav.clientWidth')
    widths = await tab.page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')
    assert widths[0] <= widths[1], f'the page is {widths[0]} px wide in a {widths[1]} px window'
    assert not tab.errors, tab.errors
