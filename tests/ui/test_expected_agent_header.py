"""The header's expected agent version is the admin's (issue 15 item 3): an agent's claim does not move it."""

from __future__ import annotations

from nicegui import ui as nicegui_ui

from nixfleet.compartments.service import SHIPPED_AGENT_VERSIONS
from tests.ui.conftest import UiServer


async def test_a_rogue_agent_version_moves_neither_the_header_nor_another_row(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={})
    browser = await ui_server.browser()
    shown = f'go {SHIPPED_AGENT_VERSIONS["go"]} · python {SHIPPED_AGENT_VERSIONS["python"]}'
    await browser.see(shown)

    await ui_server.agent('rogue', heartbeat={}, agent_version='99.0.0')
    await ui_server.until(lambda: browser.rows.row('rogue').get('agent') == '99.0.0')

    [label] = [e for e in browser.user.find(marker='fleet-agent').elements if isinstance(e, nicegui_ui.label)]
    assert label.text == shown
    assert browser.rows.row('web-01')['outdated'] is False
    assert ui_server.host('web-01')['compartments']['agent']['message'] == 'Agent 3.1.5 (current)'
