"""Triage in the host table, in process: the view a URL opens, the Failed flag the status chips read, and the
selection bar's Remove of offline hosts (one confirmation) and More menu (every other op and pipeline)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nixfleet.config import Settings
from nixfleet.ui.host_table import HostTable
from tests.support import ManualClock, expect_command, send_status
from tests.ui.conftest import UiServer, fail_on_error_logs, running_ui


@pytest.fixture
async def ui(settings: Settings, caplog: pytest.LogCaptureFixture) -> AsyncIterator[UiServer]:
    """Liveness sweeps off (virtual time stands still), so hosts stay online as long as their link is open."""
    async with running_ui(settings.model_copy(update={'tick_interval': 3600.0}), clock=ManualClock()) as running:
        yield running
    fail_on_error_logs(caplog)


async def offline(ui: UiServer, *hosts: str) -> None:
    """Hosts that registered once and whose agent went away."""
    for host in hosts:
        agent = await ui.agent(host, heartbeat={})
        await agent.close()
    await ui.until(lambda: all(ui.host(h).get('connection') == 'offline' for h in hosts))


async def test_a_shared_url_opens_the_table_with_its_filters_and_sort(ui: UiServer) -> None:
    user = await ui.user()
    await user.open('/?status=offline,failed&q=web&sort=seen&dir=desc')

    table = user.find(HostTable).elements.pop()

    assert table.props['startView'] == {'chips': ['offline', 'failed'], 'text': 'web', 'sort': 'seen', 'desc': True}
    assert [chip['key'] for chip in table.props['chips']] == ['online', 'stale', 'offline', 'busy', 'failed', 'notok']


async def test_a_host_whose_last_command_failed_is_flagged_until_one_succeeds(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()
    assert browser.rows.row('web-01')['failed'] is False

    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await send_status(agent, 'test', 'error', exit_code=1, message='2 tests failed')

    await ui.until(lambda: browser.rows.row('web-01')['failed'] is True)
    assert browser.rows.row('web-02')['failed'] is False
    await ui.until(lambda: 'test' in browser.rows.row('web-01').get('ops', []))
    browser.row_action('web-01', 'test')
    assert await expect_command(agent) == 'test'
    await send_status(agent, 'test', 'ok')
    await ui.until(lambda: browser.rows.row('web-01')['failed'] is False)


async def test_remove_deletes_the_selected_offline_hosts_after_one_confirmation(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={})
    await offline(ui, 'old-01', 'old-02', 'old-03')
    browser = await ui.browser()

    browser.select('web-01', 'old-01', 'old-02', 'old-03')
    await browser.see('Remove 3 offline hosts')
    browser.click('sel-remove')
    await browser.see('Remove 3 offline hosts?')
    for host in ('old-01', 'old-02', 'old-03'):  # the dialog lists every host it deletes, and only those
        await browser.see(host)
    browser.click('dialog-ok')

    await ui.until(lambda: not {'old-01', 'old-02', 'old-03'} & browser.rows.rows.keys())
    assert ui.host('web-01')['connection'] == 'online'  # an online host is never removed
    await browser.see('Remove done on 3 hosts')
    assert [t for t in browser.toasts() if t.startswith('removed')] == []  # one toast, not one per host
    await browser.see('1 host selected')


async def test_remove_shows_only_while_offline_hosts_are_selected(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={})
    await offline(ui, 'old-01')
    browser = await ui.browser()

    browser.select('web-01')
    await browser.see('1 host selected')
    await browser.gone(marker='sel-remove')

    browser.select('web-01', 'old-01')
    await browser.see('Remove 1 offline host')
    assert browser.enabled('sel-do-all')  # the online one still gets the rest


async def test_the_more_menu_runs_a_pipeline_on_the_online_selection_after_asking(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    await offline(ui, 'old-01')
    browser = await ui.browser()
    browser.select('web-01', 'old-01')
    await browser.see('2 selected · 1 online')

    browser.click('sel-more-update-agent')
    await browser.see('Update agent on 1 online host?')
    browser.click('dialog-ok')

    assert await expect_command(agent) == 'update'  # bump-flake, the pipeline's first stage
    runs = await ui.until(lambda: ui.pipelines('update-agent'))
    assert runs[0]['hosts'] == ['web-01']


async def test_the_more_menu_runs_an_op_at_once_where_nothing_needs_asking(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={})
    two = await ui.agent('web-02', heartbeat={})
    browser = await ui.browser()
    browser.select('web-01', 'web-02')
    await browser.see('2 hosts selected')

    browser.click('sel-more-check-version')

    assert await expect_command(one) == 'check-version'
    assert await expect_command(two) == 'check-version'
    await browser.see('Check version started on 2 hosts')


async def test_more_menu_items_are_off_while_no_selected_host_can_take_them(ui: UiServer) -> None:
    await offline(ui, 'old-01')
    browser = await ui.browser()

    browser.select('old-01')

    await browser.see('1 selected · 0 online')
    assert not browser.enabled('sel-more-force-update')
    assert browser.enabled('sel-more-set-color')  # a colour can be set on an offline host
