"""The per-tab host table follows the versioned stream: coalesced, in version order, resynced on gaps (virtual time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reactivex.testing import TestScheduler

from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.viewmodels.table_sync import HostTableSync, Row, host_row
from tests.viewmodels.streams import LossyStream


@dataclass
class RecordingTab:
    """A sink that plays the browser: applies transactions to its own rows and checks their versions chain."""

    rows: dict[str, Row] = field(default_factory=dict)
    version: int | None = None
    resets: int = 0
    applies: list[tuple[int, int, list[str], list[str]]] = field(default_factory=list)

    def reset(self, state: FleetState, rows: list[Row]) -> None:
        self.rows = {r['id']: r for r in rows}
        self.version = state.version
        self.resets += 1

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        assert base == self.version, f'transaction from {base} applied to a tab at {self.version}'
        for row in upsert:
            self.rows[row['id']] = row
        for key in remove:
            self.rows.pop(key, None)
        self.version = state.version
        self.applies.append((base, state.version, [r['id'] for r in upsert], remove))


def view(host: str, **fields: Any) -> dict[str, Any]:
    return {'id': host, 'hostname': host, 'connection': 'online', 'theme_color': '#7aa2f7', **fields}


def added(host: str, **fields: Any) -> Change:
    return Change(ChangeType.HOST_ADDED, id=host, payload=view(host, **fields))


def updated(host: str, **fields: Any) -> Change:
    return Change(ChangeType.HOST_UPDATED, id=host, fields=fields)


def event() -> Change:
    return Change(ChangeType.EVENT, id=1, payload={'id': 1, 'message': 'x'})


def make(stream: Any, **kwargs: Any) -> tuple[HostTableSync, RecordingTab, TestScheduler]:
    scheduler = TestScheduler()
    tab = RecordingTab()
    sync = HostTableSync(stream, tab, scheduler, **kwargs)
    tab.reset(stream.value, sync.render())  # what the page build sends
    return sync, tab, scheduler


def expected_rows(stream: FleetStateStream) -> dict[str, Row]:
    return {k: host_row(v) for k, v in stream.value.hosts.items()}


def test_burst_is_coalesced_into_one_transaction_in_version_order() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(stream)
    sync.attach()
    for i in range(50):
        stream.emit(updated('a', metrics={'cpu': i}), added(f'h{i}') if i % 10 == 0 else event())
    assert tab.applies == []  # nothing before the window closes
    scheduler.advance_by(0.1)
    assert len(tab.applies) == 1
    base, version, upsert, removed = tab.applies[0]
    assert (base, version, removed) == (1, stream.version, [])
    assert sorted(upsert) == sorted(['a', 'h0', 'h10', 'h20', 'h30', 'h40'])
    assert tab.rows == expected_rows(stream)
    assert tab.rows['a']['cpu'] == 49
    assert sync.version == stream.version


def test_a_change_after_a_quiet_window_goes_out_at_once_and_later_ones_wait_for_the_window() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(stream)
    sync.attach()
    stream.emit(updated('a', metrics={'cpu': 1}))
    scheduler.advance_by(0.001)  # the next loop iteration, not a whole window later
    assert [a[2] for a in tab.applies] == [['a']] and tab.rows['a']['cpu'] == 1
    scheduler.advance_by(0.019)
    stream.emit(updated('a', metrics={'cpu': 2}))
    stream.emit(updated('a', metrics={'cpu': 3}))
    scheduler.advance_by(0.079)  # 99 ms after the first transaction: still inside its window
    assert len(tab.applies) == 1
    scheduler.advance_by(0.002)
    assert len(tab.applies) == 2 and tab.rows['a']['cpu'] == 3  # both, in one transaction
    scheduler.advance_by(0.5)  # quiet again
    stream.emit(updated('a', metrics={'cpu': 4}))
    scheduler.advance_by(0.001)
    assert len(tab.applies) == 3 and tab.rows['a']['cpu'] == 4


def test_removal_and_event_only_changes_advance_the_version() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'), added('b'))
    sync, tab, scheduler = make(stream)
    sync.attach()
    stream.emit(Change(ChangeType.HOST_REMOVED, id='b'))
    scheduler.advance_by(0.1)
    stream.emit(event())
    scheduler.advance_by(0.1)
    assert [a[3] for a in tab.applies] == [['b'], []]
    assert tab.version == stream.version and set(tab.rows) == {'a'}


def test_nothing_is_queued_before_the_socket_attaches_and_attach_catches_up() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'), added('b'))
    sync, tab, scheduler = make(stream)
    stream.emit(updated('a', connection='offline'), added('c'), Change(ChangeType.HOST_REMOVED, id='b'))
    scheduler.advance_by(1)
    assert tab.applies == []
    sync.attach()
    [(base, version, upsert, removed)] = tab.applies
    assert (base, version, sorted(upsert), removed) == (2, 5, ['a', 'c'], ['b'])
    assert tab.rows == expected_rows(stream) and tab.version == stream.version


def test_detached_tab_catches_up_on_reattach_without_a_full_render() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(*(added(f'h{i}') for i in range(20)))
    sync, tab, scheduler = make(stream)
    handle = sync.attach()
    stream.emit(updated('h1', connection='stale'))
    handle.dispose()  # socket dropped: the pending delta is dropped too
    scheduler.advance_by(1)
    stream.emit(updated('h2', connection='offline'))
    assert not sync.attached
    sync.attach()
    scheduler.advance_by(0.1)
    assert tab.resets == 1  # only the page build
    assert sorted(tab.applies[-1][2]) == ['h1', 'h2']
    assert tab.rows == expected_rows(stream)


def test_gap_in_versions_rerenders_from_the_snapshot() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(LossyStream(stream, drop={2}))  # type: ignore[arg-type]
    sync.attach()
    stream.emit(updated('a', cpu=1), updated('a', cpu=2))
    scheduler.advance_by(0.1)
    assert tab.resets == 2 and sync.resyncs == 1 and tab.applies == []
    assert tab.rows == expected_rows(stream) and tab.version == stream.version


def test_lost_last_delta_is_noticed_at_the_flush() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(LossyStream(stream, drop={3}))  # type: ignore[arg-type]
    sync.attach()
    stream.emit(updated('a', cpu=1), added('b'))
    scheduler.advance_by(0.1)
    assert sync.resyncs == 1
    assert tab.rows == expected_rows(stream) and tab.version == stream.version


def test_repeated_deltas_are_applied_once() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(LossyStream(stream, repeat=True))  # type: ignore[arg-type]
    sync.attach()
    stream.emit(updated('a', cpu=1), added('b'))
    scheduler.advance_by(0.1)
    assert sync.resyncs == 0 and len(tab.applies) == 1
    assert tab.rows == expected_rows(stream) and tab.version == stream.version


def test_overflow_becomes_one_rerender() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(stream, limit=10)
    sync.attach()
    for i in range(100):
        stream.emit(updated('a', metrics={'cpu': i}))
    scheduler.advance_by(0.1)
    assert tab.resets == 2 and tab.applies == []
    assert tab.rows == expected_rows(stream) and tab.version == stream.version
    stream.emit(updated('a', metrics={'cpu': 1}))
    scheduler.advance_by(0.1)
    assert len(tab.applies) == 1  # back to incremental updates


def test_beacon_check_resyncs_only_on_mismatch() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, _ = make(stream)
    sync.attach()
    assert sync.check(stream.version)
    assert tab.resets == 1
    assert not sync.check(stream.version + 5)
    assert tab.resets == 2


def test_failing_sink_does_not_end_the_subscription() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(added('a'))
    sync, tab, scheduler = make(stream)
    sync.attach()
    calls = {'n': 0}
    original = tab.apply

    def flaky(*args: Any) -> None:
        calls['n'] += 1
        if calls['n'] == 1:
            raise RuntimeError('browser went away mid-update')
        original(*args)

    tab.apply = flaky  # type: ignore[method-assign]
    stream.emit(updated('a', cpu=1))
    scheduler.advance_by(0.1)
    assert tab.resets == 2  # the failed flush fell back to a re-render
    stream.emit(updated('a', cpu=2))
    scheduler.advance_by(0.1)
    assert tab.rows == expected_rows(stream) and sync.attached


def test_row_projection() -> None:
    metrics = {'cpu': 12.345, 'ram': 50, 'swap': 'x', 'load': 0.5}
    row = host_row(view('web-01', host_type='macos', metrics=metrics, generation='abc'))
    assert row['name'] == 'web-01' and row['os'] == 'macos'
    assert (row['cpu'], row['ram'], row['swap'], row['load']) == (12.3, 50.0, None, 0.5)
    assert host_row({'id': 'x'})['conn'] == 'offline'
