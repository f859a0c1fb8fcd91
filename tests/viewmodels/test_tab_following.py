"""One subscription per tab: the parts that need every delta (the output panel) get them from the tab's sync, and
the output panel's tabs and a tab's command reports behave as the page expects (virtual time, no NiceGUI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nixfleet.ops.dispatch import DispatchResult
from nixfleet.streams.changes import Change, ChangeType, VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.viewmodels.command_reports import CommandReports
from nixfleet.viewmodels.output_buffer import LOG_TAB, TabBuffer
from nixfleet.viewmodels.output_feed import OutputFeed
from tests.viewmodels.test_table_sync import added, make, updated


@dataclass
class Follower:
    """Records what a delta follower is told."""

    told: list[Any] = field(default_factory=list)

    def attached(self, snapshot: FleetState) -> None:
        self.told.append(('attached', snapshot.version))

    def delta(self, item: VersionedChange) -> None:
        self.told.append(('delta', item.version))

    def detached(self) -> None:
        self.told.append(('detached',))


def test_a_follower_gets_every_delta_from_the_tabs_one_subscription() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(stream)
    follower = Follower()
    sync.follow(follower)
    handle = sync.attach()
    assert len(stream.deltas.observers) == 1  # the table and the follower share it
    stream.emit(updated('a', metrics={'cpu': 1}), updated('a', metrics={'cpu': 2}))
    assert follower.told == [('attached', 1), ('delta', 2), ('delta', 3)]  # each one, before the coalesced flush
    scheduler.advance_by(0.1)
    assert tab.version == 3
    handle.dispose()
    assert follower.told[-1] == ('detached',) and not stream.deltas.observers


def test_a_failing_follower_does_not_stop_the_table() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(stream)

    class Broken(Follower):
        def delta(self, item: VersionedChange) -> None:
            raise RuntimeError('boom')

    sync.follow(Broken())
    sync.attach()
    stream.emit(updated('a', metrics={'cpu': 7}))
    scheduler.advance_by(0.1)
    assert tab.rows['a']['cpu'] == 7


def versioned(change: Change, version: int = 1) -> VersionedChange:
    return VersionedChange(version=version, change=change)


def test_output_feed_routes_lines_events_and_started_commands() -> None:
    feed = OutputFeed(FleetState())
    feed.tabs['web-01'] = TabBuffer(cap=10)
    lines = [{'ts': None, 'stream': 'stdout', 'line': 'hello'}]
    assert feed.take(
        versioned(Change(ChangeType.COMMAND_OUTPUT, id='c1', payload={'host_id': 'web-01', 'lines': lines})), {}
    )
    assert [line['x'] for line in feed.tabs['web-01'].lines] == ['hello']
    started = Change(ChangeType.COMMAND_STARTED, id='c2', payload={'host_id': 'web-02', 'op': 'pull'})
    assert feed.take(versioned(started), {}) and feed.auto_open == ['web-02']  # its tab opens at the next flush
    assert feed.take(versioned(Change(ChangeType.EVENT, payload={'id': 5, 'message': 'm'})), {})
    assert feed.tabs[LOG_TAB].last_event == 5
    other = Change(ChangeType.COMMAND_UPDATED, id='c3', fields={'host_id': 'web-09'})
    assert not feed.take(versioned(other), {})  # a host without a tab: nothing to flush


def test_output_feed_holds_lines_of_a_tab_being_restored() -> None:
    feed = OutputFeed(FleetState())
    tab = feed.tabs['web-01'] = TabBuffer(cap=10)
    tab.loading = True
    lines = [{'ts': None, 'stream': 'stdout', 'line': 'held'}]
    feed.take(versioned(Change(ChangeType.COMMAND_OUTPUT, id='c1', payload={'host_id': 'web-01', 'lines': lines})), {})
    assert not tab.lines and tab.held == {'c1': lines}


async def test_command_reports_toast_a_group_once_when_its_last_command_ends() -> None:
    stream = FleetStateStream(FleetState())
    toasts: list[tuple[str, str]] = []

    def toast(message: str, kind: str = 'info', *, sticky: bool = False) -> None:
        toasts.append((message, kind))

    async def get_command(cid: str) -> Any:
        return None

    reports = CommandReports(lambda: stream.value, get_command, toast)
    results = [DispatchResult(h, True, command_id=f'c-{h}', command_status='EXECUTING') for h in ('a', 'b')]
    reports.started('pull', results, forced=False)
    assert toasts[-1][1] == 'info' and 'started on' in toasts[-1][0]
    for cid in ('c-a', 'c-b'):
        stream.emit(Change(ChangeType.COMMAND_STARTED, id=cid, payload={'id': cid, 'status': 'EXECUTING'}))
    assert reports.running_here('pull', ['a', 'b', 'c']) == ['a', 'b']
    stream.emit(Change(ChangeType.COMMAND_FINISHED, id='c-a', fields={'status': 'SUCCESS', 'host_id': 'a'}))
    reports.follow(stream.value)
    assert len(toasts) == 1  # b still runs
    stream.emit(Change(ChangeType.COMMAND_FINISHED, id='c-b', fields={'status': 'SUCCESS', 'host_id': 'b'}))
    reports.follow(stream.value)
    assert toasts[-1] == ('Pull succeeded on 2 hosts', 'positive')
    assert reports.running_here('pull', ['a', 'b']) == []
