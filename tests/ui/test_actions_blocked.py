"""Refused dispatches and compartment clicks: the dialog shows code and message, Force works, the alternative runs.

The hosts are compared with a local fake version.json (commit `abc1234…`, lock `aaaa…`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nixfleet.config import Settings
from tests.integrations.fake_version import COMMIT, LOCK, FakeVersionServer
from tests.support import expect_command
from tests.ui.conftest import UiServer, fail_on_error_logs, running_ui

#: A host one commit behind (Git outdated), and one that is current (Git and Lock ok).
BEHIND = {'generation': 'b6a4b4d'}
CURRENT = {'generation': COMMIT[:7]}


@pytest.fixture
async def ui(
    settings: Settings, version_server: FakeVersionServer, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[UiServer]:
    """The dashboard with its UI, tracking the fake version.json."""
    async with running_ui(settings.model_copy(update={'version_url': version_server.url})) as running:
        await running.until(lambda: (running.dashboard.stream.value.fleet.get('remote') or {}).get('commit') == COMMIT)
        yield running
    fail_on_error_logs(caplog)


def comp(ui: UiServer, host: str, name: str) -> str:
    return str(((ui.host(host).get('compartments') or {}).get(name) or {}).get('status'))


async def test_switch_behind_the_remote_is_refused_with_code_message_force_and_pull_first(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    assert comp(ui, 'web-01', 'git') == 'outdated'

    browser.row_action('web-01', 'switch')

    await browser.see(marker='dialog-blocked')
    await browser.see('Cannot switch on web-01')
    await browser.see('git_outdated')
    await browser.see('Git is outdated: pull first, then switch')
    await browser.see(marker='blocked-force')
    assert [c['status'] for c in ui.commands('switch')] == ['BLOCKED']  # journaled as refused

    browser.click('blocked-force')
    assert await expect_command(agent) == 'switch'
    forced = await ui.until(lambda: [c for c in ui.commands('switch') if c['status'] != 'BLOCKED'])
    assert forced[0]['forced'] is True
    await browser.see('Switch (forced) started on web-01')


async def test_pull_first_runs_pull_and_switch(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    browser.row_action('web-01', 'switch')
    await browser.see(marker='blocked-alternative')
    await browser.see('Pull first')

    browser.click('blocked-alternative')

    assert await expect_command(agent) == 'pull-switch'
    await ui.until(lambda: ui.commands('pull-switch', 'web-01'))


async def test_already_current_offers_force_and_a_recheck(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': COMMIT[:7], 'lock_hash': LOCK}, **CURRENT)
    browser = await ui.browser()
    await ui.until(lambda: comp(ui, 'web-01', 'git') == 'ok')

    browser.row_action('web-01', 'pull')
    await browser.see('already_current')
    await browser.see('Re-check')
    browser.click('blocked-alternative')

    assert await expect_command(agent) == 'refresh-all'


async def test_cancel_closes_the_dialog_and_runs_nothing(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    browser.row_action('web-01', 'switch')
    await browser.see(marker='dialog-blocked')

    browser.click('dialog-cancel')

    await browser.gone(marker='dialog-blocked')
    assert [c['status'] for c in ui.commands()] == ['BLOCKED']


async def test_a_busy_host_cannot_be_forced_and_offers_its_output(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    shown: list[str] = []
    browser.actions.events.view_output.subscribe(shown.append)

    browser.row_action('web-01', 'pull')  # clicked in a menu rendered before the host went busy

    await browser.see('command_pending')
    await browser.gone(marker='blocked-force')
    browser.click('blocked-alternative')  # View output
    await ui.until(lambda: shown == ['web-01'])


async def test_refusals_of_several_hosts_are_listed_together_and_force_applies_to_them(ui: UiServer) -> None:
    behind = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    current = await ui.agent('web-02', heartbeat={'generation': COMMIT[:7], 'lock_hash': LOCK}, **CURRENT)
    browser = await ui.browser()
    await ui.until(lambda: comp(ui, 'web-02', 'git') == 'ok')

    browser.select('web-01', 'web-02')
    browser.click('sel-switch')  # web-02 switches, web-01 must pull first

    assert await expect_command(current) == 'switch'
    await browser.see('Switch refused on 1 of 2 hosts')
    await browser.see('git_outdated')
    browser.click('blocked-force')
    assert await expect_command(behind) == 'switch'


@pytest.mark.parametrize(
    ('name', 'command'),
    [('git', 'pull'), ('system', 'pull-switch'), ('tests', 'test')],
)
async def test_compartment_click_runs_its_sensible_action(ui: UiServer, name: str, command: str) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    chip = browser.rows.row('web-01')['comp'][name]
    assert chip['action'] == command and chip['message']

    browser.trigger('compartment', host='web-01', name=name)
    if command == 'pull-switch':  # it deploys: asked first (issue 18)
        await browser.see('Pull + Switch web-01?')
        browser.click('dialog-ok')

    assert await expect_command(agent) == command


async def test_a_compartment_click_that_deploys_asks_first_and_cancel_starts_nothing(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()

    browser.trigger('compartment', host='web-01', name='system')
    await browser.see('Pull + Switch web-01?')
    await browser.see('Pull + Switch deploys a new system generation to web-01.')
    browser.click('dialog-cancel')
    await browser.gone('Pull + Switch web-01?')

    browser.trigger('compartment', host='web-01', name='git')  # a pull deploys nothing: no question
    assert await expect_command(agent) == 'pull'
    assert ui.commands('pull-switch') == []


async def test_compartment_without_action_explains_itself_and_a_working_one_points_to_stop(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    assert browser.rows.row('web-01')['comp']['lock']['action'] is None

    browser.trigger('compartment', host='web-01', name='lock')
    await browser.see('web-01 · Lock: ok')

    browser.trigger('compartment', host='web-01', name='git')  # pull
    assert await expect_command(agent) == 'pull'
    await ui.until(lambda: comp(ui, 'web-01', 'git') == 'working')
    browser.trigger('compartment', host='web-01', name='git')
    await browser.see('Stop is in the row menu')
    assert len(ui.commands('pull')) == 1


async def test_a_failing_version_json_makes_git_refetch_it(ui: UiServer, version_server: FakeVersionServer) -> None:
    await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    version_server.fail(503)
    await ui.dashboard.compartments.refresh_remote()
    await ui.until(lambda: comp(ui, 'web-01', 'git') == 'error')
    await ui.until(lambda: browser.rows.row('web-01')['comp']['git']['action'] == 'refresh-git')
    before = version_server.requests

    version_server.serve()
    browser.trigger('compartment', host='web-01', name='git')

    await ui.until(lambda: version_server.requests > before)
    await ui.until(lambda: comp(ui, 'web-01', 'git') == 'outdated')
    await ui.until(lambda: [c['status'] for c in ui.commands('refresh-git')] == ['SUCCESS'])


async def test_an_action_on_a_host_that_just_went_offline_says_so_without_force(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={'generation': 'b6a4b4d', 'lock_hash': LOCK}, **BEHIND)
    browser = await ui.browser()
    await agent.close()
    await ui.until(lambda: ui.host('web-01')['connection'] == 'offline')

    browser.row_action('web-01', 'pull')  # from a menu opened while it was online

    await browser.see('host_offline')
    await browser.see('web-01 is offline')
    await browser.gone(marker='blocked-force')
