"""Every failure explained where it is shown, and the one toast and dialog style (issue 18): a failed command's row
says why (and opens its output), History shows the whole cause under the row and in its log, the user's own command
comes to the front of the output panel, a toast's "Show output" opens that host's tab, the hostname copy is toasted
like everything else, and a bad colour is explained in its dialog."""

from __future__ import annotations

from typing import Any

from nicegui import ElementFilter, ui
from nicegui.testing.user import User
from nicegui.testing.user_interaction import UserInteraction

from nixfleet.ui.toasts import OUTPUT_EVENT
from tests.support import expect_command, send_output, send_status
from tests.ui.conftest import Browser, UiServer, panel_of

WHY = "exit 1 — error: builder for '/nix/store/x.drv' failed with exit code 1"


async def failed_switch(ui_server: UiServer, browser: Browser | None = None) -> str:
    """web-01 runs a switch that fails the Go agent's way ("command failed" and an error line in the output)."""
    agent = ui_server.agents[0]
    if browser is not None:
        browser.row_action('web-01', 'switch')
    else:
        await ui_server.dashboard.ops.dispatch('switch', ['web-01'])
    assert await expect_command(agent) == 'switch'
    await send_output(agent, "error: builder for '/nix/store/x.drv' failed with exit code 1", stream='stderr')
    await send_output(agent, 'cleaning up')
    await send_status(agent, 'switch', 'error', exit_code=1, message='command failed')
    command = await ui_server.until(lambda: ui_server.commands('switch', 'web-01')[-1]['terminal'] and (
        ui_server.commands('switch', 'web-01')[-1]))  # fmt: skip
    return str(command['id'])


def page_event(user: User, event: str, args: dict[str, Any]) -> None:
    """Play the browser's part: `emitEvent(event, args)` on the tab (what nixfleet.js does for a toast's button)."""
    assert user.client is not None
    UserInteraction(user, {user.client.layout}, None).trigger(event, args)


def element_with(user: User, marker: str) -> ui.element:
    with user:
        return next(iter(ElementFilter(marker=marker, local_scope=False)))


async def test_a_failed_command_toast_says_why_and_its_show_output_opens_the_hosts_tab(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={})
    browser = await ui_server.browser()
    panel = panel_of(browser.user.client)
    assert panel is not None
    panel.select(':log')  # the System Log in front, as after a reload

    await failed_switch(ui_server, browser)

    assert panel.active == 'web-01'  # the user's own command came to the front
    toast = await ui_server.until(lambda: next((t for t in browser.toasts() if 'Switch failed' in t), ''))
    assert toast == f'web-01: Switch failed\n{WHY}'
    panel.select(':log')
    page_event(browser.user, OUTPUT_EVENT, {'host': 'web-01'})  # the toast's "Show output"
    assert panel.active == 'web-01' and not panel.collapsed


async def test_an_idle_hosts_row_says_why_its_last_command_failed(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={})
    browser = await ui_server.browser()

    command = await failed_switch(ui_server)

    fail = await ui_server.until(lambda: browser.rows.row('web-01').get('fail'))
    assert fail == {'text': 'Switch failed', 'why': WHY, 'command': command}
    later = await ui_server.browser()  # a tab opened later shows it too (from the snapshot)
    assert later.rows.row('web-01')['fail'] == fail
    shown: list[str] = []
    browser.actions.events.view_output.subscribe(shown.append)
    browser.row_action('web-01', 'output')  # what a click on it sends
    await ui_server.until(lambda: shown == ['web-01'])


async def test_a_started_command_brings_its_tab_to_the_front_without_opening_a_collapsed_panel(
    ui_server: UiServer,
) -> None:
    agent = await ui_server.agent('web-01', heartbeat={})
    browser = await ui_server.browser()
    panel = panel_of(browser.user.client)
    assert panel is not None
    if not panel.collapsed:
        panel.toggle()

    browser.row_action('web-01', 'test')

    assert await expect_command(agent) == 'test'
    await ui_server.until(lambda: panel.active == 'web-01')
    assert panel.collapsed  # the user closed it: it stays closed, with the command's tab in front


async def test_history_shows_the_whole_cause_under_a_failed_row_and_in_its_log(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={})
    command = await failed_switch(ui_server)
    user = await ui_server.user()
    await user.open('/history')

    await user.should_see(marker=f'history-why-{command}')
    line = element_with(user, f'history-why-{command}')
    assert [e.text for e in line.descendants() if isinstance(e, ui.label)] == [WHY]
    assert line.props['aria-label'] == f'Why: {WHY}. View the log'

    user.find(marker=f'history-why-{command}').click()

    await user.should_see(marker='history-log-why')
    why = element_with(user, 'history-log-why')
    assert isinstance(why, ui.label) and why.text == WHY


async def test_the_hostname_copy_is_toasted_like_everything_else(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={})
    browser = await ui_server.browser()

    browser.trigger('copied', name='web-01', ok=True)
    browser.trigger('copied', name='web-01', ok=False)

    await ui_server.until(
        lambda: browser.toasts() == ['Copied web-01', 'Could not copy web-01: the browser refused the clipboard']
    )


async def test_a_bad_colour_is_explained_in_the_dialog(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={}, theme_color='#7aa2f7')
    browser = await ui_server.browser()
    browser.row_action('web-01', 'color')
    await browser.see('Colour of web-01')

    browser.user.find(marker='color-hex').clear().type('#12345z')

    field = element_with(browser.user, 'color-hex')
    assert field.props['error'] is True
    assert field.props['error-message'] == '“#12345z” is not a colour: use #rgb or #rrggbb'
    assert not browser.enabled('dialog-ok')
    browser.user.find(marker='color-hex').clear()
    assert field.props['error-message'] == 'Type a colour: #rgb or #rrggbb'
    browser.user.find(marker='color-hex').type('#abc')
    assert field.props['error'] is False and browser.enabled('dialog-ok')
    assert browser.toasts() == []  # said in the dialog, not in a toast
