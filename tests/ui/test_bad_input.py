"""Bad input in the UI (issue 5): double clicks dispatch once, and dialogs left open while the state changed underneath
them explain the refusal instead of doing something wrong. Any ERROR in the server log fails a test (the fixture).

A double click is two click events for one element before the first one's handler ran (`click` twice in a row: the
User simulation runs async handlers as tasks, like the server does for a browser's events), or a second click on a
row-menu item once the first one's command is running.
"""

from __future__ import annotations

import pytest

from tests.support import FakeAgent, expect_command
from tests.ui.conftest import Browser, UiServer, reboot_code


@pytest.fixture
def ui(ui_with_totp: UiServer) -> UiServer:
    """The dashboard with its UI, TOTP configured (tests/ui/conftest.py)."""
    return ui_with_totp


def dialogs(browser: Browser, marker: str) -> int:
    """How many dialogs with `marker` this user's page holds right now."""
    try:
        return len(browser.user.find(marker=marker).elements)
    except AssertionError:  # none
        return 0


def statuses(ui: UiServer, op: str) -> list[str]:
    return [str(c['status']) for c in ui.commands(op)]


async def online_then_offline(ui: UiServer, agent: FakeAgent, host: str) -> None:
    await agent.close()
    await ui.until(lambda: ui.host(host).get('connection') == 'offline')


# -- double clicks -------------------------------------------------------------------------------------------------
async def test_a_double_click_on_do_all_asks_once_and_its_confirm_starts_one_pipeline(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={})
    two = await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()

    browser.click('bulk-do-all')
    browser.click('bulk-do-all')
    await browser.see('Do All on 2 online hosts?')
    assert dialogs(browser, 'dialog-confirm') == 1
    browser.click('dialog-ok')
    browser.click('dialog-ok')

    assert await expect_command(one) == 'pull'
    assert await expect_command(two) == 'pull'
    await browser.see('Do All started on 2 hosts')
    await browser.gone(marker='dialog-confirm')
    assert len(ui.pipelines('do-all')) == 1
    assert statuses(ui, 'pull') == ['EXECUTING', 'EXECUTING']
    assert dialogs(browser, 'dialog-blocked') == 0


async def test_a_double_click_on_a_row_menu_item_dispatches_once_and_a_late_second_click_says_it_runs(
    ui: UiServer,
) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()

    browser.row_action('web-01', 'pull')
    browser.row_action('web-01', 'pull')
    assert await expect_command(agent) == 'pull'
    await browser.see('Pull started on web-01')
    browser.row_action('web-01', 'pull')  # the second click of a slow double click: the first one's pull runs

    await browser.see('Pull is already running on web-01')
    assert statuses(ui, 'pull') == ['EXECUTING']  # nothing refused as busy, nothing journaled twice
    assert dialogs(browser, 'dialog-blocked') == 0


async def test_a_double_click_on_the_selection_row_dispatches_once(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01')
    await browser.see('1 host selected')

    browser.click('sel-test')
    browser.click('sel-test')
    assert await expect_command(agent) == 'test'
    await browser.see('Test started on web-01')
    browser.click('sel-test')

    await browser.see('Test is already running on web-01')
    assert statuses(ui, 'test') == ['EXECUTING']
    assert dialogs(browser, 'dialog-blocked') == 0


async def test_a_double_click_on_rollback_asks_once_and_rolls_back_once(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()

    browser.row_action('web-01', 'rollback')
    browser.row_action('web-01', 'rollback')
    await browser.see('Roll back web-01?')
    assert dialogs(browser, 'dialog-confirm') == 1
    browser.click('dialog-ok')
    browser.click('dialog-ok')

    assert await expect_command(agent) == 'rollback'
    await browser.see('Rollback started on web-01')
    assert statuses(ui, 'rollback') == ['EXECUTING']
    assert dialogs(browser, 'dialog-confirm') == 0
    assert dialogs(browser, 'dialog-blocked') == 0


async def test_a_double_click_on_reboot_with_a_right_code_reboots_once_without_an_error(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'reboot')
    browser.row_action('web-01', 'reboot')
    await browser.see('Reboot web-01')
    assert dialogs(browser, 'dialog-totp') == 1

    browser.user.find(marker='totp-code').type(reboot_code(ui))
    browser.click('dialog-ok')
    browser.click('dialog-ok')

    assert await expect_command(agent) == 'reboot'
    await browser.gone(marker='dialog-totp')
    assert statuses(ui, 'reboot') == ['EXECUTING']
    assert not [t for t in browser.toasts() if 'TOTP' in t]
    assert dialogs(browser, 'dialog-blocked') == 0


async def test_a_double_click_on_remove_removes_once_without_a_warning(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    await online_then_offline(ui, agent, 'web-01')
    await ui.until(lambda: 'remove' in browser.rows.row('web-01').get('ops', []))

    browser.row_action('web-01', 'remove')
    browser.row_action('web-01', 'remove')
    await browser.see('Remove web-01?')
    assert dialogs(browser, 'dialog-confirm') == 1
    browser.click('dialog-ok')
    browser.click('dialog-ok')

    await ui.until(lambda: 'web-01' not in browser.rows.rows)
    assert statuses(ui, 'remove') == ['SUCCESS']
    assert not [t for t in browser.toasts() if 'no longer known' in t]
    assert dialogs(browser, 'dialog-blocked') == 0


# -- stale dialogs -------------------------------------------------------------------------------------------------
async def test_remove_confirmed_after_the_host_came_back_is_refused_with_its_reason(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    await online_then_offline(ui, agent, 'web-01')
    await ui.until(lambda: 'remove' in browser.rows.row('web-01').get('ops', []))
    browser.row_action('web-01', 'remove')
    await browser.see('Remove web-01?')

    await ui.agent('web-01', heartbeat={})  # it came back while the dialog was open
    browser.click('dialog-ok')

    await browser.see(marker='dialog-blocked')
    await browser.see('host_online')
    await browser.see('web-01 is online')
    assert ui.host('web-01')['connection'] == 'online'
    assert statuses(ui, 'remove') == ['BLOCKED']


async def test_rollback_confirmed_after_the_host_went_offline_says_so(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'rollback')
    await browser.see('Roll back web-01?')

    await online_then_offline(ui, agent, 'web-01')
    browser.click('dialog-ok')

    await browser.see('Cannot rollback on web-01')
    await browser.see('host_offline')
    await browser.see('web-01 is offline')
    await browser.gone(marker='blocked-force')
    assert statuses(ui, 'rollback') == ['BLOCKED']


async def test_rollback_confirmed_after_the_host_became_busy_says_what_runs(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'rollback')
    await browser.see('Roll back web-01?')

    await ui.dashboard.ops.dispatch('test', ['web-01'], actor='someone-else')
    assert await expect_command(agent) == 'test'
    browser.click('dialog-ok')

    await browser.see('command_pending')
    await browser.see('web-01 is busy: test')
    await browser.gone(marker='blocked-force')
    assert statuses(ui, 'rollback') == ['BLOCKED']


async def test_reboot_confirmed_after_the_host_went_offline_says_so_in_the_dialog(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'reboot')
    await browser.see('Reboot web-01')

    await online_then_offline(ui, agent, 'web-01')
    browser.user.find(marker='totp-code').type(reboot_code(ui))
    browser.click('dialog-ok')

    await browser.see('host_offline')
    await browser.see('web-01 is offline')
    assert statuses(ui, 'reboot') == ['BLOCKED']


async def test_reboot_confirmed_after_the_host_became_busy_says_what_runs_and_the_code_still_works(
    ui: UiServer,
) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'reboot')
    await browser.see('Reboot web-01')

    await ui.dashboard.ops.dispatch('test', ['web-01'], actor='someone-else')
    assert await expect_command(agent) == 'test'
    browser.user.find(marker='totp-code').type(reboot_code(ui))
    browser.click('dialog-ok')

    await browser.see('command_pending')
    await browser.see('web-01 is busy: test')
    await browser.see('The code was not used')
    assert statuses(ui, 'reboot') == ['BLOCKED']

    # the test ends; the same code, still in the field, reboots (a refusal for the host's sake did not spend it)
    await agent.send('status', {'status': 'ok', 'command': 'test', 'exit_code': 0})
    await ui.until(lambda: not ui.host('web-01').get('busy'))
    browser.click('dialog-ok')
    assert await expect_command(agent) == 'reboot'
    await browser.gone(marker='dialog-totp')
    assert statuses(ui, 'reboot') == ['BLOCKED', 'EXECUTING']


async def test_do_all_confirmed_after_a_host_went_offline_runs_on_the_others_and_says_so(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={})
    two = await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()
    browser.click('bulk-do-all')
    await browser.see('Do All on 2 online hosts?')

    await online_then_offline(ui, two, 'web-02')
    browser.click('dialog-ok')

    assert await expect_command(one) == 'pull'
    await browser.see('web-02 went offline; Do All runs on web-01 only')
    runs = await ui.until(lambda: ui.pipelines('do-all'))
    assert runs[0]['hosts'] == ['web-01']
    assert ui.commands(host='web-02') == []


async def test_a_late_second_click_on_do_all_of_the_selection_says_it_runs(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01')
    await browser.see('1 host selected')

    browser.click('sel-do-all')
    assert await expect_command(agent) == 'pull'
    await browser.see('Do All started on web-01')
    browser.click('sel-do-all')

    await browser.see('Do All is already running on web-01')
    assert len(ui.pipelines('do-all')) == 1
    assert dialogs(browser, 'dialog-blocked') == 0
