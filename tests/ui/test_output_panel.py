"""The output panel with simulated browsers: live output, restore from the log file, and every tool button."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from nicegui.testing.user import User

from nixfleet.ui.output_panel import OutputPanel
from nixfleet.viewmodels.output_buffer import LOG_TAB
from tests.support import FakeAgent, eventually, expect_command, send_output, send_status
from tests.ui.conftest import UiServer, actions_of, panel_of


def texts(panel: OutputPanel, tab: str) -> list[str]:
    return [line['x'] for line in panel.lines(tab)]


def shows(panel: OutputPanel, tab: str, expected: list[str]) -> bool:
    """Whether the tab's lines with the expected lines' first words are exactly those."""
    return output_of(panel, tab, tuple(line.split()[0] for line in expected)) == expected


def contains(panel: OutputPanel, tab: str, text: str) -> bool:
    return text in texts(panel, tab)


def output_of(panel: OutputPanel, tab: str, prefix: str | tuple[str, ...]) -> list[str]:
    return [text for text in texts(panel, tab) if text.startswith(prefix)]


async def open_panel(ui_server: UiServer, path: str = '/') -> tuple[User, OutputPanel]:
    user = await ui_server.user()
    client = await user.open(path)
    panel = panel_of(client)
    assert panel is not None
    return user, panel


async def start_command(ui_server: UiServer, agent: FakeAgent) -> str:
    """Start `check-version` on the agent's host (it ends on the agent's status, no post-check to wait for)."""
    [result] = await ui_server.dashboard.ops.dispatch('check-version', [agent.hostname])
    assert result.command_id is not None
    assert await expect_command(agent) == 'check-version'
    return result.command_id


async def test_output_streams_live_into_every_browsers_host_tab(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-01')
    alice, alice_panel = await open_panel(ui_server)
    _bob, bob_panel = await open_panel(ui_server, '/pipelines')
    await start_command(ui_server, agent)
    await send_output(agent, 'fetching origin', 'HEAD is now at abc1234')
    await send_output(agent, 'warning: dirty tree', stream='stderr')
    expected = ['fetching origin', 'HEAD is now at abc1234', 'warning: dirty tree']
    for panel in (alice_panel, bob_panel):  # a started command opens its host's tab in every browser
        await eventually(partial(shows, panel, 'web-01', expected))
        assert [line['k'] for line in panel.lines('web-01') if line['x'].startswith('warning')] == ['err']
        assert panel.active == LOG_TAB  # opened, not focused: the user's view does not jump
    chip = alice.find(marker='output-chip-web-01').elements.pop()
    await eventually(lambda: 'is-unread' in chip.classes)
    await send_status(agent, 'check-version')
    await eventually(lambda: any(line['x'].startswith('Finished: ') for line in alice_panel.lines('web-01')))
    alice.find(marker='output-tab-web-01').click()
    assert alice_panel.active == 'web-01' and 'is-unread' not in chip.classes and 'is-active' in chip.classes
    assert any('check-version started on web-01' in text for text in texts(alice_panel, LOG_TAB))  # the System Log


async def test_a_tab_opened_after_the_command_started_is_restored_from_its_log(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-02')
    cid = await start_command(ui_server, agent)
    await send_output(agent, *[f'early {i}' for i in range(5)])
    await eventually(lambda: _has(ui_server, cid, 'early 4'))
    user, panel = await open_panel(ui_server)
    assert 'web-02' not in panel.open_tabs  # started before this page: nothing opened it
    user.find(marker='output-open-host').click()
    user.find('web-02').click()
    assert panel.active == 'web-02'
    await send_output(agent, 'late 1', 'late 2')
    early_and_late = [*(f'early {i}' for i in range(5)), 'late 1', 'late 2']
    await eventually(lambda: output_of(panel, 'web-02', ('early', 'late')) == early_and_late)
    assert texts(panel, 'web-02')[0] == f'Command: check-version ({cid})'
    await send_status(agent, 'check-version', status='error', exit_code=1, message='git failed')
    await eventually(lambda: panel.lines('web-02')[-1]['k'] == 'fail')
    assert output_of(panel, 'web-02', ('early', 'late')) == early_and_late  # each line exactly once


async def _has(ui_server: UiServer, command_id: str, text: str) -> bool:
    return text in await ui_server.dashboard.ops.read_output(command_id)


async def test_copy_clear_font_size_and_collapse_and_they_are_kept_per_browser(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-03')
    user, panel = await open_panel(ui_server)
    await start_command(ui_server, agent)
    await send_output(agent, 'one', 'two', 'three')
    await eventually(lambda: output_of(panel, 'web-03', ('one', 'two', 'three')) == ['one', 'two', 'three'])
    user.find(marker='output-tab-web-03').click()
    count = len(panel.lines('web-03'))

    user.find(marker='output-copy').click()
    await user.should_see(f'Copied {count} lines from web-03')
    user.find(marker='output-clear').click()
    await user.should_see(f'Cleared {count} lines from web-03')
    assert panel.lines('web-03') == []
    user.find(marker='output-copy').click()
    await user.should_see('Nothing to copy from web-03')
    await send_output(agent, 'four')  # clearing only empties the view: new output still arrives
    await eventually(lambda: texts(panel, 'web-03') == ['four'])

    for _ in range(2):
        user.find(marker='output-font-up').click()
    await user.should_see('15px')
    for _ in range(20):
        user.find(marker='output-font-down').click()
    await user.should_see('9px')  # the smallest
    user.find(marker='output-toggle').click()
    view = user.find(marker='output-panel').elements.pop()
    assert view.props['collapsed'] is True and view.props['font'] == 9

    again, reloaded = await open_panel_as(user, '/history')  # another page of the same browser
    assert reloaded.collapsed and reloaded.font == 9
    assert reloaded.open_tabs == [LOG_TAB, 'web-03'] and reloaded.active == 'web-03'
    again.find(marker='output-tab-web-03').click()  # choosing a tab shows the panel again
    assert not reloaded.collapsed
    _other, fresh = await open_panel(ui_server)  # another browser keeps its own settings
    assert not fresh.collapsed and fresh.font == 13 and fresh.active == LOG_TAB


async def test_a_narrow_screen_starts_the_panel_collapsed_until_the_browser_chooses(ui_server: UiServer) -> None:
    def view(user: User) -> Any:
        return user.find(marker='output-panel').elements.pop()

    user, panel = await open_panel(ui_server)
    assert not panel.collapsed and view(user).props['autocollapse'] is True  # open, unless the screen is narrow
    user.find(marker='output-panel').trigger('narrow')  # what the browser says on a phone
    await eventually(lambda: panel.collapsed)
    assert view(user).props['collapsed'] is True and view(user).props['autocollapse'] is False

    _, phone = await open_panel_as(user, '/history')  # not a choice: the next page asks the screen again
    assert not phone.collapsed and view(user).props['autocollapse'] is True
    user.find(marker='output-panel').trigger('narrow')
    await eventually(lambda: phone.collapsed)
    user.find(marker='output-toggle').click()  # the user opens it: that is kept, even on a phone
    assert not phone.collapsed

    _, chosen = await open_panel_as(user, '/')
    assert view(user).props['autocollapse'] is False
    user.find(marker='output-panel').trigger('narrow')  # handled at once: nothing to wait for
    assert not chosen.collapsed


async def open_panel_as(user: User, path: str) -> tuple[User, OutputPanel]:
    client = await user.open(path)
    panel = panel_of(client)
    assert panel is not None
    return user, panel


async def test_download_the_system_log_and_a_hosts_command_log(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-04')
    user, panel = await open_panel(ui_server)
    user.find(marker='output-download').click()  # the System Log as shown
    response = await user.download.next()
    assert 'web-04 registered' in response.text

    cid = await start_command(ui_server, agent)
    await send_output(agent, 'downloadable line')
    await send_status(agent, 'check-version')
    await eventually(lambda: any(line['x'].startswith('Finished: ') for line in panel.lines('web-04')))
    user.find(marker='output-tab-web-04').click()
    user.find(marker='output-download').click()
    response = await user.download.next()  # the browser saves it as web-04-check-version-<id>.log
    assert response.status_code == 200 and response.headers['content-type'].startswith('text/plain')
    assert response.text.startswith(f'# Command: check-version ({cid})') and 'downloadable line' in response.text


async def test_tabs_close_switch_by_number_and_open_from_other_components(ui_server: UiServer) -> None:
    a, b = await ui_server.agent('web-05'), await ui_server.agent('web-06')
    user, panel = await open_panel(ui_server)
    actions = actions_of(user.client)  # other components reach the panel through the tab's events only
    assert actions is not None
    actions.events.view_output.emit('web-05')  # the row menu's "View output"
    assert panel.active == 'web-05'
    panel.open('web-06', focus=False)
    assert panel.open_tabs == [LOG_TAB, 'web-05', 'web-06']
    actions.events.output_tab.emit(3)  # Ctrl+3
    assert panel.active == 'web-06'
    actions.events.output_tab.emit(1)
    assert panel.active == LOG_TAB
    assert not panel.select_index(4)  # no 4th tab: nothing changes
    actions.events.output_tab.emit(4)
    assert panel.active == LOG_TAB
    user.find(marker='output-tab-web-05').click()
    user.find(marker='output-close-web-05').click()
    assert panel.open_tabs == [LOG_TAB, 'web-06'] and panel.active == 'web-06'
    await start_command(ui_server, a)  # a command on a host whose tab was closed opens it again
    await eventually(lambda: 'web-05' in panel.open_tabs)
    assert panel.active == 'web-06'
    assert b.hostname in panel.open_tabs


async def test_output_arriving_while_a_tab_restores_is_neither_lost_nor_doubled(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-08')
    cid = await start_command(ui_server, agent)
    _user, panel = await open_panel(ui_server)
    expected = [f'n {i:03d}' for i in range(400)]

    async def produce() -> None:
        for start in range(0, len(expected), 10):
            await send_output(agent, *expected[start : start + 10])
            await asyncio.sleep(0.002)  # pace the agent so restores interleave with its output

    producing = asyncio.create_task(produce())
    await eventually(lambda: _has(ui_server, cid, 'n 040'))
    reopened = 0
    while not producing.done():  # every reopen restores from the file while lines keep arriving
        panel.open('web-08')
        await eventually(lambda: not panel.tabs['web-08'].loading)
        await send_output(agent, f'marker {reopened}')  # the lines that arrived during the restore came before it
        await eventually(partial(contains, panel, 'web-08', f'marker {reopened}'))
        shown = output_of(panel, 'web-08', 'n ')
        assert shown == expected[: len(shown)]  # contiguous from the first line: nothing lost, nothing twice
        panel.close('web-08')
        reopened += 1
    await producing
    panel.open('web-08')
    await eventually(lambda: output_of(panel, 'web-08', 'n ') == expected)
    await send_output(agent, 'after')  # and the tab follows the live output again
    await eventually(lambda: texts(panel, 'web-08')[-1] == 'after')
    assert output_of(panel, 'web-08', 'n ') == expected and reopened > 1


async def test_a_removed_hosts_tab_closes_in_every_browser(ui_server: UiServer) -> None:
    gone, kept = await ui_server.agent('web-07'), await ui_server.agent('web-08')
    _user, panel = await open_panel(ui_server)
    _other, watching = await open_panel(ui_server)
    for each in (panel, watching):
        each.open('web-07')
        each.open('web-08', focus=False)
    assert watching.active == 'web-07'
    await gone.close()
    await ui_server.until(lambda: ui_server.host('web-07').get('connection') == 'offline')
    [result] = await ui_server.dashboard.ops.dispatch('remove', ['web-07'])
    assert result.started, result
    await eventually(lambda: panel.open_tabs == watching.open_tabs == [LOG_TAB, 'web-08'])
    assert watching.active == 'web-08'  # the tab shown went: its neighbour is shown instead
    assert kept.hostname in panel.open_tabs
