"""The security headers and origin checks around the real NiceGUI UI, in Debian's chromium (issue 7 scope 5).

Proves that NiceGUI 3.18 works under the dashboard's Content-Security-Policy — login, the live host table, a host
appearing over the socket — with no CSP violation reported by the browser; that its pages and assets carry the
security headers; that no other site can frame the dashboard; that NiceGUI's socket.io (WebSocket and
long-polling) refuses foreign origins while the page's own connection works; and that the served process's own log
holds none of its secrets (the in-process scan of tests/conftest.py cannot see a child process).
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nixfleet.security.middleware import CONTENT_SECURITY_POLICY
from tests.e2e.conftest import BROWSER_TESTS, AgentFactory, DashboardProcess, log_in, open_tab, wait_connected
from tests.support import AGENT_TOKEN, PASSWORD, PASSWORD_HASH, SESSION_SECRET

pytestmark = BROWSER_TESTS

#: Collects every CSP violation the page reports (before any page script runs).
REPORT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


async def test_the_ui_works_under_the_csp_without_violations(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory
) -> None:
    tab = await open_tab(browser)
    await tab.page.add_init_script(REPORT_VIOLATIONS)
    login = await tab.page.goto(f'{dashboard_process.http}/login')
    assert login is not None and login.headers['content-security-policy'] == CONTENT_SECURITY_POLICY
    await log_in(tab, dashboard_process.http)
    agent = await agents('csp-web1')
    await agent.heartbeat()
    await tab.page.wait_for_selector('.nf-row[data-host="csp-web1"]', timeout=5000)  # live over the socket
    await tab.page.reload()  # the reconnect path too
    await wait_connected(tab.page)
    assert await tab.page.evaluate('window.__cspViolations') == []
    assert [e for e in tab.errors if 'Content Security Policy' in e or 'Refused to' in e] == []
    assert tab.errors == []
    served_log = dashboard_process.log_path.read_text(errors='replace')  # `nixfleet serve` logs as in production
    assert not [s for s in (AGENT_TOKEN, PASSWORD, PASSWORD_HASH, SESSION_SECRET) if s in served_log]


async def test_no_other_site_can_frame_the_dashboard(dashboard_process: DashboardProcess, browser: Browser) -> None:
    tab = await open_tab(browser)
    messages: list[str] = []
    tab.page.on('console', lambda msg: messages.append(msg.text))
    await tab.page.set_content(f'<iframe id="f" src="{dashboard_process.http}/login"></iframe>')
    frame = tab.page.frames[-1]  # set_content returns once the frame has loaded (or been refused)
    assert await frame.evaluate('document.querySelector("form.nf-login") === null')
    assert any('frame-ancestors' in m or 'X-Frame-Options' in m for m in messages), messages


async def test_pages_and_assets_carry_the_security_headers(dashboard_process: DashboardProcess) -> None:
    async with httpx.AsyncClient(base_url=dashboard_process.http) as http:
        page = await http.get('/login')
        asset = await http.get(page.text.split('src="', 2)[1].split('"', 1)[0]) if 'src="/' in page.text else page
    for response in (page, asset):
        assert response.status_code == 200
        assert response.headers['content-security-policy'] == CONTENT_SECURITY_POLICY
        assert response.headers['x-frame-options'] == 'DENY'
        assert response.headers['x-content-type-options'] == 'nosniff'
        assert response.headers['referrer-policy'] == 'same-origin'


async def test_nicegui_socket_refuses_foreign_origins(dashboard_process: DashboardProcess) -> None:
    base = dashboard_process.http
    socket_io = '/_nicegui_ws/socket.io/?EIO=4&transport='
    async with httpx.AsyncClient(base_url=base) as http:
        foreign = await http.get(socket_io + 'polling', headers={'Origin': 'http://evil.example'})
        own = await http.get(socket_io + 'polling', headers={'Origin': base})
    assert foreign.status_code == 403
    assert own.status_code == 200 and 'access-control-allow-origin' not in foreign.headers
    ws_url = base.replace('http://', 'ws://') + socket_io + 'websocket'
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url, origin='http://evil.example'):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with connect(ws_url, origin=base) as ws:  # type: ignore[arg-type]
        assert (await ws.recv()).startswith('0{')  # engine.io open packet
