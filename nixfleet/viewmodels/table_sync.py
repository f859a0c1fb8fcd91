"""One browser tab's live state: follows the versioned state stream and turns it into row transactions.

It is the one way a tab follows the state: the page (the sink) gets coalesced transactions (`apply`, `reset`) and
renders every part from them (a page without a host table ignores the rows); a part that needs every single change
(the output panel's lines) registers as a `DeltaFollower` and gets each delta, in version order, from the same
subscription.

The tab keeps the snapshot it rendered (`rendered`; snapshots are immutable and share unchanged host views, so this
costs no copy). Deltas arrive in version order and are coalesced on the given scheduler (an `AsyncIOScheduler` in
the app, a `TestScheduler` in tests): at most one transaction per `window` seconds, the first change after a quiet
window sent at once (so a lone heartbeat is not held back a whole window), later ones together at the window's end;
a flush checks that the versions are contiguous from `rendered.version`, sends only the rows of the hosts they
touched, and advances `rendered`. A gap, a stream that moved without telling us, or more than `limit` queued deltas
turn into one full re-render from the current snapshot instead. While the tab's socket is away nothing is queued;
reattaching catches up by comparing the rendered snapshot with the current one.

The version beacon (`beacons`, the same moments as the `/api/sync` beacon) closes the loop: the tab checks its
rendered version against the server's (a mismatch re-renders), then, when idle, tells the browser which version it
should show, so a browser that lost a transaction asks for a re-render (`BrowserLink.beacon`). No polling.

NiceGUI-free: the sink (the table element, the header and footer) is a small protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from reactivex import Observable
from reactivex.abc import DisposableBase, SchedulerBase
from reactivex.disposable import Disposable

from nixfleet.streams.changes import ChangeType, VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream, guarded
from nixfleet.viewmodels.actions_model import op_label
from nixfleet.viewmodels.outcomes import FAILED_STATUSES, row_failure
from nixfleet.viewmodels.table_view import compartment_score

log = logging.getLogger(__name__)

#: A host as the table shows it: a compact, JSON-ready projection of the host view.
Row = dict[str, Any]

#: Change types that can alter a table row.
_HOST_CHANGES = frozenset({ChangeType.HOST_ADDED, ChangeType.HOST_UPDATED, ChangeType.HOST_REMOVED})
#: Coalescing window for bursts (seconds): a tab gets at most one transaction per window. A change after a quiet
#: window goes out on the next loop iteration (leading edge); changes arriving within the window of the last
#: transaction wait for its end and go out together (trailing edge).
WINDOW = 0.1
#: Deltas a tab may have queued before it is re-rendered from the snapshot instead.
LIMIT = 5000


def _num(value: Any) -> float | None:
    return round(float(value), 1) if isinstance(value, int | float) else None


def host_row(view: Mapping[str, Any]) -> Row:
    """Project a host view onto the fields the table shows (short keys: this is sent per update)."""
    metrics = view.get('metrics') or {}
    compartments = view.get('compartments') or {}
    busy = bool(view.get('busy') or view.get('pending_command'))
    last = view.get('last_outcome') or {}
    return {
        'id': str(view.get('id')),
        'name': view.get('hostname') or view.get('id'),
        'color': view.get('theme_color'),
        'os': view.get('host_type') or '',
        'loc': view.get('location') or '',
        'dev': view.get('device_type') or '',
        'conn': view.get('connection') or 'offline',
        'busy': busy,
        'seen': view.get('last_seen'),
        'hb': view.get('heartbeat_interval'),
        'cpu': _num(metrics.get('cpu')),
        'ram': _num(metrics.get('ram')),
        'swap': _num(metrics.get('swap')),
        'load': metrics.get('load') if isinstance(metrics.get('load'), int | float) else None,
        'agent': view.get('agent_version') or '',
        'outdated': (compartments.get('agent') or {}).get('status') == 'outdated',
        'gen': view.get('generation') or '',
        'bad': compartment_score(compartments),  # > 0: the Not OK chip; the compartments column sorts by it
        'failed': last.get('status') in FAILED_STATUSES,  # the Failed chip
        'fail': None if busy else row_failure(last, op_label),  # why its last command failed (the activity cell)
        'os_ver': view.get('os_version') or '',
        # the action controls (host_table.py adds `run`, the running command's progress)
        'comp': compartments,
        'ops': view.get('available_ops') or [],
        'cmd': view.get('command_id'),
        'cmd_op': view.get('pending_command'),
    }


def host_rows(state: FleetState) -> list[Row]:
    """Rows of every host in a snapshot."""
    return [host_row(view) for view in state.hosts.values()]


def diff_hosts(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]], ids: set[str] | None = None
) -> tuple[list[Row], list[str]]:
    """Rows to upsert and ids to remove to turn `old` into `new` (only `ids` when given).

    Host views are immutable and replaced on change, so identity tells what changed without comparing contents.
    """
    upsert: list[Row] = []
    remove: list[str] = []
    for key in ids if ids is not None else old.keys() | new.keys():
        now, before = new.get(key), old.get(key)
        if now is None:
            if before is not None:
                remove.append(key)
        elif now is not before:
            upsert.append(host_row(now))
    return upsert, remove


class TableSink(Protocol):
    """Where a tab's table updates go."""

    def reset(self, state: FleetState, rows: list[Row]) -> None:
        """Replace everything the tab shows with `rows` at `state.version`."""

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        """Move the tab from version `base` to `state.version` by upserting and removing rows."""


class DeltaFollower(Protocol):
    """A part of a tab that needs every delta (not only the coalesced rows), from the tab's one subscription."""

    def attached(self, snapshot: FleetState) -> None:
        """The tab (re)attached at `snapshot`; deltas after it follow."""

    def delta(self, item: VersionedChange) -> None:
        """One change, in version order."""

    def detached(self) -> None:
        """The tab stopped following (its socket went); the next `attached` starts afresh."""


@runtime_checkable
class BrowserLink(Protocol):
    """What a sink may also do: check the browser against a beacon, and show that the tab resynced."""

    def beacon(self, version: int) -> None:
        """Tell the browser the version it should show now (it asks for a re-render when it shows another)."""

    def synced(self, kind: str, reason: str) -> None:
        """The tab was re-rendered (`resync`) or caught up after its socket came back (`catch_up`)."""


class HostTableSync:
    """Keeps one tab (its table, chrome and views) in step with the fleet state stream."""

    def __init__(
        self,
        stream: FleetStateStream,
        sink: TableSink,
        scheduler: SchedulerBase,
        *,
        window: float = WINDOW,
        limit: int = LIMIT,
        beacons: Observable[int] | None = None,
    ) -> None:
        self._stream = stream
        self._sink = sink
        self._link = sink if isinstance(sink, BrowserLink) else None
        self._beacons = beacons
        self._beacon_subscription: DisposableBase | None = None
        self._attaches = 0
        self._scheduler = scheduler
        self._window = window
        self._limit = limit
        self._pending: list[VersionedChange] = []
        self._overflow = False
        self._flush_handle: DisposableBase | None = None
        self._last_flush: datetime | None = None
        self._subscription: DisposableBase | None = None
        self._followers: list[DeltaFollower] = []
        #: The snapshot the tab shows.
        self.rendered: FleetState = stream.value
        self.resyncs = 0
        self.catch_ups = 0
        self.flushes = 0
        self.beacons_checked = 0

    @property
    def version(self) -> int:
        """Version of the state the tab shows."""
        return self.rendered.version

    @property
    def attached(self) -> bool:
        """Whether the tab currently follows the stream."""
        return self._subscription is not None

    def follow(self, follower: DeltaFollower) -> None:
        """Give `follower` every delta this tab receives (from its next attach on; register before the socket)."""
        self._followers.append(follower)

    def render(self) -> list[Row]:
        """Take the current snapshot for the first render of the page; return its rows."""
        self.rendered = self._stream.value
        return host_rows(self.rendered)

    def attach(self) -> DisposableBase:
        """Subscribe (snapshot and subscription in one step) and catch up with what happened since `rendered`."""
        self._attaches += 1
        snapshot, self._subscription = self._stream.snapshot_and_subscribe(self._on_delta, self._on_error)
        for follower in self._followers:
            self._tell(follower.attached, snapshot)
        if self._beacons is not None:
            self._beacon_subscription = self._beacons.subscribe(guarded(self._on_beacon), self._on_error)
        if snapshot.version < self.rendered.version:
            self.resync(f'server version {snapshot.version} is below the tab version {self.rendered.version}')
        elif snapshot.version > self.rendered.version:
            base, old = self.rendered.version, self.rendered
            upsert, remove = diff_hosts(old.hosts, snapshot.hosts)
            self.rendered = snapshot
            self._sink.apply(snapshot, base, upsert, remove)
            if self._attaches > 1:  # a reconnect, not the page's first connect
                self.catch_ups += 1
                if self._link is not None:
                    self._link.synced('catch_up', f'caught up from version {base} to {snapshot.version}')
        return Disposable(self.detach)

    def detach(self) -> None:
        """Stop following the stream and drop anything queued (reattach catches up)."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None
        if self._beacon_subscription is not None:
            self._beacon_subscription.dispose()
            self._beacon_subscription = None
        if self._flush_handle is not None:
            self._flush_handle.dispose()
            self._flush_handle = None
        self._pending.clear()
        self._overflow = False
        for follower in self._followers:
            self._tell(follower.detached)

    @staticmethod
    def _tell(call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except Exception:  # one failing part must not stop the others, nor the table
            log.exception('a delta follower failed')

    def resync(self, reason: str = 'asked by the browser') -> None:
        """Re-render the whole table from the current snapshot."""
        self._pending.clear()
        self._overflow = False
        self.rendered = self._stream.value
        self.resyncs += 1
        self._sink.reset(self.rendered, host_rows(self.rendered))
        if self._link is not None:
            self._link.synced('resync', reason)

    def check(self, version: int) -> bool:
        """Compare a version beacon with the rendered one; resync on a mismatch. Return True if in step."""
        if self._pending or self._flush_handle is not None or version == self.rendered.version:
            return True
        log.info('tab at version %d, beacon says %d: resyncing', self.rendered.version, version)
        self.resync(f'beacon {version} != tab {self.rendered.version}')
        return False

    def _on_beacon(self, version: int) -> None:
        self.beacons_checked += 1
        if not self.check(version) or self._link is None:
            return  # re-rendered: the new snapshot carries its version
        if not self._pending and self._flush_handle is None:  # else the next transaction chains by version
            self._link.beacon(self.rendered.version)

    # -- stream side ---------------------------------------------------------------------------------------------
    def _on_delta(self, item: VersionedChange) -> None:
        for follower in self._followers:
            self._tell(follower.delta, item)
        if self._overflow:
            return
        if len(self._pending) >= self._limit:
            log.warning('tab fell %d changes behind; it will be re-rendered', self._limit)
            self._pending.clear()
            self._overflow = True
        else:
            self._pending.append(item)
        if self._flush_handle is None:
            wait = 0.0
            if self._last_flush is not None:
                wait = max(0.0, self._window - (self._scheduler.now - self._last_flush).total_seconds())
            self._flush_handle = self._scheduler.schedule_relative(wait, self._scheduled_flush)

    def _on_error(self, exc: Exception) -> None:
        log.error('host table stream failed: %r', exc)

    def _scheduled_flush(self, _scheduler: Any = None, _state: Any = None) -> None:
        self._flush_handle = None
        self._last_flush = self._scheduler.now
        try:
            self.flush()
        except Exception:
            log.exception('host table flush failed; re-rendering')
            try:
                self.resync('a flush failed')
            except Exception:
                log.exception('host table re-render failed')

    def flush(self) -> None:
        """Apply the queued deltas now (normally called by the coalescing timer)."""
        pending, self._pending = self._pending, []
        if self._overflow:
            self.resync(f'more than {self._limit} changes queued')
            return
        expected = self.rendered.version + 1
        touched: set[str] = set()
        for item in pending:
            if item.version < expected:
                continue  # already part of the snapshot the tab caught up to
            if item.version != expected:
                log.warning('tab expected version %d, got %d: re-rendering', expected, item.version)
                self.resync(f'gap: expected version {expected}, got {item.version}')
                return
            expected += 1
            if item.change.type in _HOST_CHANGES and item.change.id is not None:
                touched.add(str(item.change.id))
        current = self._stream.value
        if current.version != expected - 1:
            log.warning('stream at %d, deltas reached %d: re-rendering', current.version, expected - 1)
            self.resync(f'gap: stream at {current.version}, deltas reached {expected - 1}')
            return
        if current.version == self.rendered.version:
            return
        base = self.rendered.version
        upsert, remove = diff_hosts(self.rendered.hosts, current.hosts, touched)
        self.rendered = current
        self.flushes += 1
        self._sink.apply(current, base, upsert, remove)
