"""The context bar (selection row, warning and timeout rows) and the fleet-wide menu in the header, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nixfleet.config import Settings
from tests.support import FakeAgent, ManualClock, expect_command, send_status
from tests.ui.conftest import Browser, UiServer, fail_on_error_logs, running_ui


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time (command deadlines); liveness sweeps are off, so hosts stay online while it stands still."""
    return ManualClock()


@pytest.fixture
async def ui(settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> AsyncIterator[UiServer]:
    async with running_ui(settings.model_copy(update={'tick_interval': 3600.0}), clock=clock) as running:
        yield running
    fail_on_error_logs(caplog)


# -- selection row -----------------------------------------------------------------------------------------------
async def test_selection_row_counts_and_acts_on_the_selected_online_hosts(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={})
    two = await ui.agent('web-02', heartbeat={})
    gone = await ui.agent('old-01', heartbeat={})
    await gone.close()
    await ui.until(lambda: ui.host('old-01')['connection'] == 'offline')
    browser = await ui.browser()
    await browser.see('No hosts selected')

    browser.select('web-01', 'web-02', 'old-01')
    await browser.see('3 selected · 2 online')
    browser.click('sel-test')

    assert await expect_command(one) == 'test'
    assert await expect_command(two) == 'test'
    await browser.see('Test started on 2 hosts')
    assert ui.commands('test', 'old-01') == []  # offline hosts are left out, not refused


async def test_selection_do_all_starts_the_pipeline_on_the_online_selection(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={})
    await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01')
    await browser.see('1 host selected')

    browser.click('sel-do-all')

    assert await expect_command(one) == 'pull'
    runs = await ui.until(lambda: ui.pipelines('do-all'))
    assert runs[0]['hosts'] == ['web-01']
    await browser.see('Do All started on web-01')


async def test_selection_buttons_are_off_when_no_selected_host_is_online(ui: UiServer) -> None:
    gone = await ui.agent('old-01', heartbeat={})
    await gone.close()
    await ui.until(lambda: ui.host('old-01')['connection'] == 'offline')
    browser = await ui.browser()

    browser.select('old-01')

    await browser.see('1 selected · 0 online')
    assert not browser.enabled('sel-pull')
    assert not browser.enabled('sel-do-all')


async def test_clearing_the_selection_resets_the_row(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01')
    await browser.see('1 host selected')

    browser.click('sel-clear')

    await browser.see('No hosts selected')


# -- warning and timeout rows ------------------------------------------------------------------------------------
async def slow_test(ui: UiServer, clock: ManualClock, minutes: float) -> tuple[Browser, FakeAgent]:
    """Start `test` on web-01 and let `minutes` pass (its warning comes after 5, its hard timeout after 10)."""
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await ui.until(lambda: ui.commands('test', 'web-01'))
    clock.advance(minutes * 60)
    await agent.heartbeat()
    await ui.dashboard.ops.tick()
    return browser, agent


async def test_a_command_past_its_warning_gets_a_row_and_wait_extends_it(ui: UiServer, clock: ManualClock) -> None:
    browser, _ = await slow_test(ui, clock, 5.1)
    assert ui.commands('test')[0]['status'] == 'RUNNING_WARNING'
    await browser.see(marker='ctx-alert')
    await browser.see('is taking long')
    hard_at = ui.commands('test')[0]['hard_at']

    browser.click('alert-wait')

    await ui.until(lambda: ui.commands('test')[0]['hard_at'] != hard_at)
    assert ui.commands('test')[0]['status'] == 'EXECUTING'
    await browser.gone(marker='ctx-alert')
    await browser.see('waiting 5 more minutes for Test')


async def test_ignore_dismisses_the_row_and_keeps_tracking(ui: UiServer, clock: ManualClock) -> None:
    browser, agent = await slow_test(ui, clock, 5.1)
    await browser.see(marker='ctx-alert')

    browser.click('alert-ignore')

    await browser.gone(marker='ctx-alert')
    assert ui.commands('test')[0]['alert_dismissed'] is True
    await send_status(agent, 'test', 'ok')  # still tracked: the result is taken
    await ui.until(lambda: ui.commands('test')[0]['status'] == 'SUCCESS')


async def test_a_timed_out_command_can_be_killed_from_its_row(ui: UiServer, clock: ManualClock) -> None:
    browser, agent = await slow_test(ui, clock, 10.1)
    assert ui.commands('test')[0]['status'] == 'TIMEOUT_PENDING'
    await browser.see('timed out')
    assert browser.rows.row('web-01')['run']['status'] == 'TIMEOUT_PENDING'

    browser.click('alert-kill')
    await browser.see('Stop Test on web-01?')  # asked first, as the row menu's Stop (issue 18)
    browser.click('dialog-ok')

    kill = await agent.expect('kill_command')
    assert kill['payload']['signal'] == 'SIGTERM'
    await browser.see('stopping Test')


async def test_a_timed_out_command_can_be_forgotten_to_free_the_host(ui: UiServer, clock: ManualClock) -> None:
    browser, _ = await slow_test(ui, clock, 10.1)
    await browser.see(marker='alert-cancel')

    browser.click('alert-cancel')

    await ui.until(lambda: ui.commands('test')[0]['status'] == 'CANCELLED')
    await ui.until(lambda: 'test' in browser.rows.row('web-01').get('ops', []))  # free again
    await browser.gone(marker='ctx-alert')


# -- header: fleet-wide menu -------------------------------------------------------------------------------------
async def test_do_all_from_the_header_confirms_then_runs_on_every_online_host(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={})
    two = await ui.agent('web-02', heartbeat={})
    gone = await ui.agent('old-01', heartbeat={})
    await gone.close()
    await ui.until(lambda: ui.host('old-01')['connection'] == 'offline')
    browser = await ui.browser()

    browser.click('bulk-do-all')
    await browser.see('Do All on 2 online hosts?')
    browser.click('dialog-cancel')
    await browser.gone('Do All on 2 online hosts?')
    assert ui.pipelines() == []

    browser.click('bulk-do-all')
    await browser.see('Do All on 2 online hosts?')
    browser.click('dialog-ok')

    assert await expect_command(one) == 'pull'
    assert await expect_command(two) == 'pull'
    runs = await ui.until(lambda: ui.pipelines('do-all'))
    assert sorted(runs[0]['hosts']) == ['web-01', 'web-02']


@pytest.mark.parametrize(
    ('marker', 'command'),
    [('bulk-pull', 'pull'), ('bulk-switch', 'switch'), ('bulk-test', 'test'), ('bulk-restart', 'restart')],
)
async def test_fleet_wide_ops_confirm_then_reach_every_online_host(ui: UiServer, marker: str, command: str) -> None:
    one = await ui.agent('web-01', heartbeat={})
    two = await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()

    browser.click(marker)
    await browser.see(marker='dialog-confirm')
    browser.click('dialog-ok')

    assert await expect_command(one) == command
    assert await expect_command(two) == command


async def test_bulk_without_online_hosts_says_so(ui: UiServer) -> None:
    browser = await ui.browser()
    browser.click('bulk-pull')
    await browser.see('No host is online')


async def test_a_pipeline_result_is_reported_when_it_ends(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01')
    await browser.see('1 host selected')
    browser.click('sel-do-all')
    assert await expect_command(agent) == 'pull'

    await send_status(agent, 'pull', 'error', exit_code=1, message='merge conflict')

    await browser.see('Do All on web-01 failed')


# -- several users ------------------------------------------------------------------------------------------------
async def test_two_users_see_each_others_actions(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    alice = await ui.browser()
    bob = await ui.browser()

    alice.row_action('web-01', 'test')

    assert await expect_command(agent) == 'test'
    run = await ui.until(lambda: bob.rows.row('web-01').get('run'))
    assert run['op'] == 'test'
    assert bob.rows.row('web-01')['ops'] == []  # bob's menu is disabled for that host too
    bob.row_action('web-01', 'stop')  # and bob may stop what alice started
    await bob.see('Stop Test on web-01?')
    bob.click('dialog-ok')
    await agent.expect('kill_command')


# -- keyboard ------------------------------------------------------------------------------------------------------
async def test_ctrl_digit_asks_the_output_panel_for_that_tab(ui: UiServer) -> None:
    browser = await ui.browser()
    tabs: list[int] = []
    browser.actions.events.output_tab.subscribe(tabs.append)

    browser.trigger('hotkey', tab=3)
    browser.trigger('hotkey', tab=12)  # not a digit key: ignored

    await ui.until(lambda: tabs == [3])
