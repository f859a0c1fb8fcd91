"""The History view with simulated browsers: filters by host, op, status and time, paging, the URL, logs."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ElementFilter, ui
from nicegui.testing.user import User
from sqlite_utils import Database

from nixfleet.timeutil import iso
from nixfleet.viewmodels.history_query import Query
from tests.support import eventually, expect_command, send_output, send_status
from tests.ui.conftest import UiServer, panel_of

HOUR = 3600.0


def find(user: User, marker: str) -> Any:
    with user:
        [element] = ElementFilter(marker=marker, local_scope=False)
    return element


def shown(user: User, key: str = 'data-command') -> list[str]:
    """Ids of the rows on the page, top to bottom."""
    rows = find(user, 'history-rows')
    return [str(child.props[key]) for child in rows.default_slot.children if key in child.props]


def choose(user: User, marker: str, label: str) -> None:
    """Pick an option of a filter the way a user does: open it, click the option."""
    user.find(marker=marker).click()
    user.find(label, marker=marker).click()  # type: ignore[call-overload]  # an option of that filter


async def journal(ui_server: UiServer, rows: list[dict[str, Any]]) -> None:
    """Commands from earlier days (as the journal holds them)."""

    def insert(db: Database) -> None:
        db.table('commands').insert_all(rows)

    await ui_server.dashboard.store.write(insert)


def command(cid: str, host: str, op: str, status: str, age: float, now: float) -> dict[str, Any]:
    created = now - age
    return {
        'id': cid,
        'host_id': host,
        'op': op,
        'status': status,
        'actor': 'user',
        'created_at': iso(created),
        'started_at': iso(created + 1),
        'finished_at': iso(created + 63),
        'exit_code': 0 if status == 'SUCCESS' else 1,
        'updated_at': iso(created + 63),
    }


async def test_commands_filter_by_host_op_status_and_time(ui_server: UiServer) -> None:
    now = ui_server.dashboard.clock()
    await journal(
        ui_server,
        [
            command('c-1', 'web-a', 'pull', 'SUCCESS', 0.2 * HOUR, now),
            command('c-2', 'web-a', 'switch', 'ERROR', 2 * HOUR, now),
            command('c-3', 'web-b', 'pull', 'PARTIAL', 50 * HOUR, now),
            command('c-4', 'web-b', 'test', 'TIMEOUT', 10 * 24 * HOUR, now),
            command('c-5', 'web-c', 'pull', 'SKIPPED', 0.5 * HOUR, now),
        ],
    )
    user = await ui_server.user()
    await user.open('/history')
    await eventually(lambda: shown(user) == ['c-1', 'c-5', 'c-2', 'c-3', 'c-4'])  # newest first
    await user.should_see('5 commands')
    await user.should_see('1–5 of 5 · page 1 of 1')

    choose(user, 'history-host', 'web-a')  # hosts known only to the journal are offered too
    await eventually(lambda: shown(user) == ['c-1', 'c-2'])
    choose(user, 'history-op', 'switch')
    await eventually(lambda: shown(user) == ['c-2'])
    user.find(marker='history-reset').click()
    await eventually(lambda: len(shown(user)) == 5)
    choose(user, 'history-status', 'Failed')  # ERROR and TIMEOUT (not PARTIAL, not SKIPPED)
    await eventually(lambda: shown(user) == ['c-2', 'c-4'])
    choose(user, 'history-range', 'Last 24 hours')
    await eventually(lambda: shown(user) == ['c-2'])
    choose(user, 'history-status', 'Skipped / cancelled')
    await eventually(lambda: shown(user) == ['c-5'])
    choose(user, 'history-range', 'Last hour')
    choose(user, 'history-status', 'Partial / suspicious')
    await eventually(lambda: shown(user) == [])
    await user.should_see('Nothing matches these filters')


async def test_the_host_filter_takes_typed_text_and_enter(ui_server: UiServer) -> None:
    now = ui_server.dashboard.clock()
    await journal(
        ui_server,
        [
            command('c-1', 'web-a', 'pull', 'SUCCESS', 0.2 * HOUR, now),
            command('c-2', 'web-b', 'pull', 'SUCCESS', 0.3 * HOUR, now),
            command('c-3', 'db-c', 'pull', 'SUCCESS', 0.4 * HOUR, now),
        ],
    )
    user = await ui_server.user()
    await user.open('/history')
    await eventually(lambda: shown(user) == ['c-1', 'c-2', 'c-3'])
    host_filter = user.find(marker='history-host')
    host_filter.trigger('keydown.enter', 'WEB-B')  # what the browser sends: the text typed in the filter
    await eventually(lambda: shown(user) == ['c-2'])
    assert find(user, 'history-host').value == 'web-b'  # the filter shows the host the text named
    host_filter.trigger('keydown.enter', 'db')  # part of one host's name is enough
    await eventually(lambda: shown(user) == ['c-3'])
    host_filter.trigger('keydown.enter', 'web')
    await eventually(lambda: '2 hosts match “web”: pick one from the list' in user.notify.messages)
    host_filter.trigger('keydown.enter', 'mail')
    await eventually(lambda: 'No host matches “mail”' in user.notify.messages)
    assert shown(user) == ['c-3']  # an ambiguous or unknown name changes nothing


async def test_two_quick_picks_settle_on_the_last_choice(ui_server: UiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    now = ui_server.dashboard.clock()
    await journal(ui_server, [command('c-1', 'web-a', 'pull', 'SKIPPED', 0.5 * HOUR, now)])
    user = await ui_server.user()
    await user.open('/history?status=muted')
    await eventually(lambda: shown(user) == ['c-1'])
    urls: list[str] = []
    monkeypatch.setattr(user.navigate.history, 'replace', urls.append)  # the address bar
    choose(user, 'history-range', 'Last hour')  # two picks before the view applied the first
    choose(user, 'history-status', 'Partial / suspicious')
    await user.should_see('Nothing matches these filters')
    # each pick is applied once: the view's own re-set of a filter is no pick (it was: an endless muted/partial flip)
    assert urls == ['/history?status=muted&range=1h', '/history?status=partial&range=1h']
    assert (find(user, 'history-status').value, find(user, 'history-range').value) == ('partial', '1h')
    user.find(marker='history-reset').click()  # the view sets the filters itself: they show it, and nothing follows
    await eventually(lambda: shown(user) == ['c-1'])
    assert urls[2:] == ['/history']
    filters = ('host', 'op', 'status', 'level', 'range')
    assert [find(user, f'history-{f}').value for f in filters] == [None, None, None, None, 'all']


async def test_events_page_through_and_filters_round_trip_through_the_url(ui_server: UiServer) -> None:
    now = ui_server.dashboard.clock()
    events = [
        {
            'timestamp': iso(now - 3 * HOUR + i),
            'category': 'system',
            'level': 'warn' if i % 10 == 0 else 'info',
            'actor': 'system',
            'host_id': 'db-01' if i % 2 else 'db-02',
            'action': 'connect',
            'message': f'event number {i:03d}',
        }
        for i in range(120)
    ]
    await ui_server.dashboard.store.write(lambda db: db.table('event_log').insert_all(events))
    user = await ui_server.user()
    await user.open('/history?kind=events&host=db-01')  # 60 events of db-01 (plus none of its own yet)
    await user.should_see('1–50 of 60 · page 1 of 2')
    await user.should_see('event number 119')
    assert not find(user, 'history-prev').enabled
    user.find(marker='history-next').click()
    await user.should_see('51–60 of 60 · page 2 of 2')
    await user.should_see('event number 001')
    assert not find(user, 'history-next').enabled
    user.find(marker='history-prev').click()
    await user.should_see('1–50 of 60 · page 1 of 2')

    choose(user, 'history-level', 'Warn')  # i % 10 == 0 are warnings, and all of those are even: db-02's
    await user.should_see('Nothing matches these filters')
    user.find(marker='history-host').clear()
    await user.should_see('1–12 of 12 · page 1 of 1')
    assert len(shown(user, 'data-event')) == 12

    await user.open('/history?kind=events&page=3')  # a link to page 3 opens page 3
    await user.should_see('101–', retries=20)
    find(user, 'history-kind').set_value('commands')  # the Commands | Events toggle
    await user.should_see('0 commands')
    await user.should_see('No commands yet')  # nothing filtered: an empty journal, not a filter that hides rows
    assert Query.from_params({'kind': 'events', 'page': '3', 'host': 'x'}).url() == '/history?kind=events&host=x&page=3'
    assert Query.from_params({'kind': 'nope', 'status': 'nope', 'page': 'x'}) == Query()
    # "No events yet" vs "Nothing matches these filters": only the shown kind's filters narrow the list
    assert not Query.from_params({'kind': 'events', 'status': 'ok'}).filtered
    assert Query.from_params({'kind': 'events', 'level': 'warn'}).filtered
    assert Query.from_params({'status': 'ok'}).filtered and Query.from_params({'range': '24h'}).filtered


async def test_the_first_page_follows_new_commands_and_a_log_opens_and_downloads(ui_server: UiServer) -> None:
    agent = await ui_server.agent('web-07')
    user = await ui_server.user()
    await user.open('/history')
    await user.should_see('0 commands')
    [result] = await ui_server.dashboard.ops.dispatch('check-version', ['web-07'])
    cid = str(result.command_id)
    assert await expect_command(agent) == 'check-version'
    await send_output(agent, 'agent 3.1.5 is current')
    await send_status(agent, 'check-version')
    await eventually(lambda: shown(user) == [cid], timeout=6)  # no reload: the first page re-queries
    await eventually(lambda: find(user, 'history-rows').default_slot.children[0].props.get('data-command') == cid)

    user.find(marker=f'history-view-{cid}').click()
    log_view = await eventually(lambda: _log_view(user))
    assert 'agent 3.1.5 is current' in [line['x'] for line in log_view.props['initial']['lines']]
    user.find(marker='history-log-download').click()  # the dialog's Download
    response = await user.download.next()
    assert response.status_code == 200 and 'agent 3.1.5 is current' in response.text
    user.find(marker='history-log-follow').click()  # and its way to the host's live tab
    panel = panel_of(user.client) if user.client is not None else None
    assert panel is not None and panel.active == 'web-07'
    assert _log_view(user) is None  # the dialog is gone
    user.find(marker=f'history-download-{cid}').click()  # the row's Download
    response = await user.download.next()
    assert response.status_code == 200 and 'agent 3.1.5 is current' in response.text


def _log_view(user: User) -> ui.element | None:
    with user:
        found = list(ElementFilter(marker='history-log', local_scope=False))
    return found[0] if found else None
