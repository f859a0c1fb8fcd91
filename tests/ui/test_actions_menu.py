"""The row menu, end to end: every item dispatches its op (or opens its dialog) and the result shows up."""

from __future__ import annotations

from typing import Any

import pytest

from nixfleet.config import Settings
from nixfleet.viewmodels.actions_model import ROW_MENU
from tests.support import expect_command, send_output, send_status
from tests.ui.conftest import Browser, UiServer, fail_on_error_logs, reboot_code, running_ui, wrong_code


@pytest.fixture
def ui(ui_with_totp: UiServer) -> UiServer:
    """The dashboard with its UI, TOTP configured (tests/ui/conftest.py)."""
    return ui_with_totp


@pytest.mark.parametrize(
    ('key', 'command'),
    [
        ('pull', 'pull'),
        ('switch', 'switch'),
        ('test', 'test'),
        ('pull-switch', 'pull-switch'),
        ('restart', 'restart'),
        ('check-version', 'check-version'),
    ],
)
async def test_menu_item_dispatches_its_op_and_the_row_shows_it_running(ui: UiServer, key: str, command: str) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    await ui.until(lambda: key in browser.rows.row('web-01').get('ops', []))

    browser.row_action('web-01', key)

    assert await expect_command(agent) == command
    await ui.until(lambda: ui.commands(key, 'web-01'))
    run = await ui.until(lambda: browser.rows.row('web-01').get('run'))
    assert run['op'] == key and run['status'] in ('EXECUTING', 'AWAITING_RECONNECT')
    assert browser.rows.row('web-01')['busy'] is True
    assert browser.rows.row('web-01')['ops'] == []  # nothing else may start now
    await browser.see('started on web-01')


async def test_finished_command_is_reported_in_a_toast_and_leaves_the_row(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await ui.until(lambda: browser.rows.row('web-01').get('run'))

    await send_status(agent, 'test', 'error', exit_code=1, message='2 of 8 tests failed')

    await ui.until(lambda: browser.rows.row('web-01').get('run') is None)
    await ui.until(lambda: any('web-01: Test failed' in t and '2 of 8 tests failed' in t for t in browser.toasts()))


async def test_a_failure_toast_says_why_with_exit_code_error_line_and_refusal_code(ui: UiServer) -> None:
    web01, web02 = await ui.agent('web-01', heartbeat={}), await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01', 'web-02')
    await browser.see(marker='sel-test')
    browser.click('sel-test')
    assert await expect_command(web01) == 'test' and await expect_command(web02) == 'test'

    await web01.send('command_rejected', {'reason': 'busy', 'current_command': 'pull'})
    await send_output(web02, 'T05 disk space', 'T05 FAIL: expected ok, got timeout', stream='stderr')
    await send_output(web02, 'T08 PASS')
    await send_status(web02, 'test', 'error', exit_code=1, message='command failed')  # all the Go agent says

    def toast() -> str:
        return next((t for t in browser.toasts() if t.startswith('Test: 0 of 2 succeeded')), '')

    text = await ui.until(toast)
    assert text.splitlines()[1:] == [
        'web-01: agent_busy — agent rejected the command: busy (pull is running)',
        'web-02: exit 1 — T05 FAIL: expected ok, got timeout',
    ]


async def test_progress_of_the_running_command_reaches_the_row(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'pull-switch')
    assert await expect_command(agent) == 'pull-switch'
    await agent.send('operation_progress', {'progress': {'pull': {'current': 4, 'total': 4, 'status': 'complete'}}})
    await agent.send(
        'operation_progress', {'progress': {'system': {'current': 0, 'total': 3, 'status': 'in_progress'}}}
    )

    def phases() -> list[tuple[str, str]]:
        run = browser.rows.row('web-01').get('run') or {}
        return [(p['name'], p['status']) for p in run.get('phases', [])]

    await ui.until(lambda: phases() == [('pull', 'complete'), ('system', 'in_progress')])


async def test_stop_kills_the_running_command(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await ui.until(lambda: browser.rows.row('web-01').get('busy'))

    browser.row_action('web-01', 'stop')
    await browser.see('Stop Test on web-01?')  # asked first (issue 18)
    browser.click('dialog-ok')

    kill = await agent.expect('kill_command')
    assert kill['payload']['signal'] == 'SIGTERM'
    await ui.until(lambda: ui.commands('test', 'web-01')[0]['kill_requested'])
    await browser.see('stopping Test')
    await send_status(agent, 'test', 'stopped', exit_code=130, message='terminated by user')
    await ui.until(lambda: ui.commands('test', 'web-01')[0]['status'] == 'KILLED')


async def test_rollback_asks_first_and_cancel_dispatches_nothing(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()

    browser.row_action('web-01', 'rollback')
    await browser.see('Roll back web-01?')
    browser.click('dialog-cancel')
    await browser.gone('Roll back web-01?')
    assert ui.commands('rollback') == []

    browser.row_action('web-01', 'rollback')
    await browser.see('Roll back web-01?')
    browser.click('dialog-ok')
    assert await expect_command(agent) == 'rollback'
    await ui.until(lambda: ui.commands('rollback', 'web-01'))


async def test_reboot_asks_for_totp_refuses_a_wrong_code_then_reboots(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()

    browser.row_action('web-01', 'reboot')
    await browser.see('Reboot web-01')
    assert not browser.enabled('dialog-ok')  # six digits first
    browser.user.find(marker='totp-code').type(wrong_code(ui))
    assert browser.enabled('dialog-ok')
    browser.click('dialog-ok')
    await browser.see('wrong TOTP code')
    assert ui.commands('reboot') == []

    browser.user.find(marker='totp-code').type(reboot_code(ui))
    browser.click('dialog-ok')
    assert await expect_command(agent) == 'reboot'
    await browser.gone('Reboot web-01')


async def test_change_colour_sets_a_preset_then_goes_back_to_the_agents(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={}, theme_color='#7aa2f7')
    browser = await ui.browser()

    browser.row_action('web-01', 'color')
    await browser.see('Colour of web-01')
    browser.click('swatch-#68c878')
    browser.click('dialog-ok')
    await ui.until(lambda: colour_set(ui, browser, '#68c878'))
    assert ui.host('web-01')['color_source'] == 'dashboard'

    browser.row_action('web-01', 'color')
    await browser.see('Colour of web-01')
    browser.user.find(marker='color-hex').clear().type('#abc')
    browser.click('dialog-ok')
    await ui.until(lambda: colour_set(ui, browser, '#aabbcc'))

    browser.row_action('web-01', 'color')
    await browser.see('Colour of web-01')
    browser.click('color-reset')
    await ui.until(lambda: browser.rows.row('web-01').get('color') == '#7aa2f7')
    assert ui.host('web-01')['color_source'] == 'agent'


def colour_set(ui: UiServer, browser: Browser, colour: str) -> bool:
    """Whether the tab shows `colour` and its click is handled to the end: the colour shows while the dialog's handler
    still waits for the command to end, and until then the same menu item ignores a click (a double click opens one
    dialog), so the next step's click would be lost on a busy machine."""
    return (
        browser.rows.row('web-01').get('color') == colour
        and not ui.host('web-01').get('busy')
        and not browser.actions._handling  # the tab handles no click any more
    )


async def test_view_output_asks_the_output_panel_for_the_host(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    shown: list[str] = []
    browser.actions.events.view_output.subscribe(shown.append)

    browser.row_action('web-01', 'output')

    await ui.until(lambda: shown == ['web-01'])


async def test_download_log_gives_the_latest_commands_output(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'log')
    await browser.see('web-01 has no command log yet')

    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await send_output(agent, 'running 8 tests', 'all 8 passed')
    await send_status(agent, 'test', 'ok')
    await ui.until(lambda: ui.commands('test', 'web-01')[0]['status'] == 'SUCCESS')

    browser.row_action('web-01', 'log')
    response = await browser.user.download.next(timeout=5)
    assert 'all 8 passed' in response.text


async def test_remove_is_refused_while_online_and_removes_an_offline_host_after_confirming(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    assert 'remove' not in browser.rows.row('web-01')['ops']

    browser.row_action('web-01', 'remove')  # a stale menu: the server still refuses
    await browser.see('Remove web-01?')
    browser.click('dialog-ok')
    await browser.see('host_online')
    await browser.gone(marker='blocked-force')  # force never removes an online host
    browser.click('dialog-cancel')

    await agent.close()
    await ui.until(lambda: 'remove' in browser.rows.row('web-01').get('ops', []))
    browser.row_action('web-01', 'remove')
    await browser.see('Remove web-01?')
    browser.click('dialog-ok')
    await ui.until(lambda: 'web-01' not in browser.rows.rows)
    assert ui.host('web-01') == {}


async def test_heartbeats_send_no_unchanged_compartments_and_changes_send_them(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    sent: list[dict[str, Any]] = []
    send = browser.table.run_method

    def record(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == 'apply':
            sent.extend(row for row in args[0]['upsert'] if row['id'] == 'web-01')
        return send(name, *args, **kwargs)

    browser.table.run_method = record  # type: ignore[method-assign]

    await agent.heartbeat(metrics={'cpu': 77.0, 'ram': 1.0, 'swap': 0, 'load': 0.1})
    await ui.until(lambda: any(row['cpu'] == 77.0 for row in sent))
    assert 'comp' not in sent[-1] and 'ops' not in sent[-1]  # only what changed travels
    assert browser.rows.row('web-01')['comp']['git']  # and the browser keeps what it has

    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await ui.until(lambda: any(row.get('ops') == [] for row in sent))  # busy: the ops changed, so they travel


def test_every_menu_item_is_covered_here() -> None:
    covered = {'pull', 'switch', 'test', 'pull-switch', 'restart', 'check-version'}
    covered |= {'stop', 'rollback', 'reboot', 'color', 'output', 'log', 'remove'}
    covered |= {'details'}  # opens the host page: tests/ui/test_host_detail.py
    covered |= {'copy'}  # the browser's clipboard: tests/e2e/test_failures_browser.py
    assert {item.key for item in ROW_MENU} == covered


async def test_a_command_trimmed_from_the_live_state_before_the_tab_saw_it_end_is_still_reported(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    none_kept = settings.model_copy(update={'state_finished_commands': 0})  # every end leaves the state at once
    async with running_ui(none_kept) as ui:
        agent = await ui.agent('web-01', heartbeat={})
        browser = await ui.browser()
        browser.row_action('web-01', 'test')
        assert await expect_command(agent) == 'test'
        await ui.until(lambda: browser.rows.row('web-01').get('run'))

        await send_status(agent, 'test', 'error', exit_code=1, message='2 of 8 tests failed')

        await ui.until(lambda: not ui.commands('test', 'web-01'))  # trimmed before the tab rendered its end
        await ui.until(lambda: any('web-01: Test failed' in t and '2 of 8 tests failed' in t for t in browser.toasts()))
    fail_on_error_logs(caplog)
