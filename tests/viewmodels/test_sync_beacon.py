"""The tab's side of the beacon and its lifetime, on virtual time: a tab checks itself at every beacon, tells the
browser which version it should show, re-renders only when something was really lost, and leaves no subscription
behind when its client goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reactivex.subject import Subject
from reactivex.testing import TestScheduler

from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.viewmodels.lifetime import bind_to_client
from nixfleet.viewmodels.table_sync import HostTableSync, Row, host_row
from tests.viewmodels.streams import LossyStream
from tests.viewmodels.test_lifetime import FakeClient


@dataclass
class LinkedTab:
    """A sink that plays the browser and its link: rows, transactions, beacons and resync notices."""

    rows: dict[str, Row] = field(default_factory=dict)
    version: int | None = None
    resets: int = 0
    beacons: list[int] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)

    def reset(self, state: FleetState, rows: list[Row]) -> None:
        self.rows = {r['id']: r for r in rows}
        self.version = state.version
        self.resets += 1

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        assert base == self.version, f'transaction from {base} applied to a tab at {self.version}'
        self.rows.update({r['id']: r for r in upsert})
        for key in remove:
            self.rows.pop(key, None)
        self.version = state.version

    def beacon(self, version: int) -> None:
        self.beacons.append(version)

    def synced(self, kind: str, reason: str) -> None:
        self.notices.append((kind, reason))


def added(host: str) -> Change:
    return Change(ChangeType.HOST_ADDED, id=host, payload={'id': host, 'hostname': host, 'connection': 'online'})


def updated(host: str, **fields: Any) -> Change:
    return Change(ChangeType.HOST_UPDATED, id=host, fields=fields)


def make(stream: Any) -> tuple[HostTableSync, LinkedTab, TestScheduler, Subject[int]]:
    scheduler = TestScheduler()
    beacons: Subject[int] = Subject()
    tab = LinkedTab()
    sync = HostTableSync(stream, tab, scheduler, beacons=beacons)
    tab.reset(stream.value, sync.render())
    tab.resets = 0
    return sync, tab, scheduler, beacons


def shows_server(tab: LinkedTab, stream: FleetStateStream) -> bool:
    return tab.version == stream.version and tab.rows == {k: host_row(v) for k, v in stream.value.hosts.items()}


def test_idle_tab_in_step_tells_the_browser_its_version_and_never_rerenders() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler, beacons = make(stream)
    sync.attach()
    for i in range(20):
        stream.emit(updated('a', metrics={'cpu': i}))
        scheduler.advance_by(0.1)
        beacons.on_next(stream.version)
    assert tab.beacons == [stream.version - 19 + i for i in range(20)]
    assert tab.resets == 0 and tab.notices == [] and sync.beacons_checked == 20
    assert shows_server(tab, stream)


def test_beacon_while_a_transaction_is_pending_waits_for_it() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler, beacons = make(stream)
    sync.attach()
    stream.emit(updated('a', load=1))
    beacons.on_next(stream.version)  # the flush is 100 ms away: its transaction chains by version anyway
    assert tab.beacons == [] and tab.resets == 0
    scheduler.advance_by(0.1)
    beacons.on_next(stream.version)
    assert tab.beacons == [stream.version] and tab.resets == 0


def test_lost_last_delta_heals_at_the_next_beacon() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler, beacons = make(LossyStream(stream, drop={3}))
    sync.attach()
    stream.emit(updated('a', load=1))
    scheduler.advance_by(0.1)
    stream.emit(updated('a', load=2))  # lost, and nothing follows it: only the beacon can tell
    scheduler.advance_by(10)
    assert tab.version == 2 and tab.resets == 0
    beacons.on_next(stream.version)
    assert tab.resets == 1 and shows_server(tab, stream)
    assert tab.notices == [('resync', 'beacon 3 != tab 2')]


def test_server_version_below_the_tab_rerenders_on_reattach() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'), added('b'))
    sync, tab, _, _ = make(stream)
    handle = sync.attach()
    handle.dispose()
    stream.load(FleetState(version=1, hosts={'a': {'id': 'a', 'hostname': 'a'}}))  # a server that went back
    sync.attach()
    assert tab.resets == 1 and shows_server(tab, stream)
    assert tab.notices == [('resync', 'server version 1 is below the tab version 2')]


def test_reattach_catches_up_and_says_so() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, _, _ = make(stream)
    sync.attach().dispose()
    stream.emit(updated('a', connection='offline'), added('b'))
    sync.attach()
    assert tab.resets == 0 and shows_server(tab, stream)
    assert tab.notices == [('catch_up', 'caught up from version 1 to 3')]
    assert sync.catch_ups == 1


def test_burst_with_beacons_interleaved_loses_no_version() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(*(added(f'h{i}') for i in range(10)))
    sync, tab, scheduler, beacons = make(stream)
    sync.attach()
    for i in range(1000):
        stream.emit(updated(f'h{i % 10}', metrics={'cpu': i}))
        if i % 7 == 0:
            scheduler.advance_by(0.03)
        if i % 50 == 0:
            beacons.on_next(stream.version)
    scheduler.advance_by(0.1)
    beacons.on_next(stream.version)
    assert tab.resets == 0 and sync.resyncs == 0 and shows_server(tab, stream)
    assert 0 < sync.flushes < 1000  # coalesced


def test_tabs_opened_and_closed_many_times_leave_no_subscription() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    beacons: Subject[int] = Subject()
    for _ in range(200):
        client = FakeClient()
        tab = LinkedTab()
        sync = HostTableSync(stream, tab, TestScheduler(), beacons=beacons)
        tab.reset(stream.value, sync.render())
        bind_to_client(client, sync.attach)
        client.fire('connect', socket=True)
        stream.emit(updated('a', load=1))
        assert len(stream.deltas.observers) == 1 and len(beacons.observers) == 1
        client.fire('disconnect', socket=False)  # a reconnect cycle
        client.fire('connect', socket=True)
        assert len(stream.deltas.observers) == 1 and len(beacons.observers) == 1
        client.fire('disconnect', socket=False)
        client.fire('delete', socket=False)
    assert stream.deltas.observers == [] and beacons.observers == []
