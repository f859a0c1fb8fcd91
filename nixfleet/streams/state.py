"""The versioned fleet state: immutable snapshots, a reducer, and the observables clients subscribe to.

`FleetStateStream.emit(change)` is the single way the state moves: it bumps the version, reduces the change
into a new snapshot, publishes the versioned delta on `deltas`, and the new snapshot on `state`. Everything runs
synchronously on the event-loop thread, so deltas leave in version order and a client that reads the snapshot and
subscribes in one step (`snapshot_and_subscribe`) can never miss or double-apply a delta.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from reactivex.abc import DisposableBase
from reactivex.subject import BehaviorSubject, Subject

from nixfleet.models import Connection
from nixfleet.streams.changes import Change, ChangeType, VersionedChange

log = logging.getLogger(__name__)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FleetState:
    """One immutable snapshot of everything a client shows, with the version it corresponds to."""

    version: int = 0
    hosts: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    commands: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    pipelines: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY)
    events: tuple[Mapping[str, Any], ...] = ()
    fleet: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    event_limit: int = 100

    def counts(self) -> dict[str, int]:
        """Hosts per connection state, plus the total."""
        counts = {c.value: 0 for c in Connection}
        for host in self.hosts.values():
            counts[host.get('connection', Connection.OFFLINE)] = counts.get(host.get('connection', 'offline'), 0) + 1
        counts['total'] = len(self.hosts)
        return counts

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready `state` of an `init` / `full_state` message."""
        return {
            'hosts': list(self.hosts.values()),
            'commands': list(self.commands.values()),
            'pipelines': list(self.pipelines.values()),
            'events': list(self.events),
            'fleet': dict(self.fleet),
            'counts': self.counts(),
        }


def _merged(items: Mapping[str, Mapping[str, Any]], key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    updated = dict(items)
    updated[key] = {**items.get(key, {}), **fields}
    return updated


def _without(items: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, Any]:
    updated = dict(items)
    updated.pop(key, None)
    return updated


def reduce(state: FleetState, change: Change, version: int) -> FleetState:
    """Apply one change to a snapshot, returning a new snapshot at `version` (the old one stays valid)."""
    key = str(change.id) if change.id is not None else ''
    kind = change.type
    if change.fleet:
        state = replace(state, fleet={**state.fleet, **change.fleet})
    if kind in (ChangeType.HOST_ADDED, ChangeType.HOST_UPDATED):
        return replace(state, version=version, hosts=_merged(state.hosts, key, change.fields or change.payload or {}))
    if kind is ChangeType.HOST_REMOVED:  # its commands go with it (the journal deleted them)
        commands = {k: c for k, c in state.commands.items() if c.get('host_id') != key}
        return replace(state, version=version, hosts=_without(state.hosts, key), commands=commands)
    if kind in (ChangeType.COMMAND_STARTED, ChangeType.COMMAND_UPDATED, ChangeType.COMMAND_FINISHED):
        return replace(
            state, version=version, commands=_merged(state.commands, key, change.fields or change.payload or {})
        )
    if kind is ChangeType.PIPELINE_UPDATED:
        return replace(state, version=version, pipelines=_merged(state.pipelines, key, change.payload or {}))
    if kind is ChangeType.EVENT:
        events = (change.payload, *state.events)[: state.event_limit]
        return replace(state, version=version, events=events)
    if kind is ChangeType.FLEET_UPDATED:
        return replace(state, version=version, fleet={**state.fleet, **(change.fields or {})})
    if kind is ChangeType.PRUNED:
        payload = change.payload or {}
        return replace(without(state, payload.get('commands') or (), payload.get('pipelines') or ()), version=version)
    return replace(state, version=version)  # COMMAND_OUTPUT: streamed, not kept in the snapshot


def with_counts(state: FleetState, change: Change) -> Change:
    """`change`, carrying the fleet's new host `counts` in `fleet` when it moves them (applied to `state`).

    Only a change that adds or removes a host or carries its `connection` can move them, and then by one host, so
    this costs O(1), and nothing for a heartbeat.
    """
    kind = change.type
    if kind is ChangeType.HOST_UPDATED:
        if not change.fields or 'connection' not in change.fields:
            return change
    elif kind not in (ChangeType.HOST_ADDED, ChangeType.HOST_REMOVED):
        return change
    old = state.hosts.get(str(change.id))
    was = None if old is None else str(old.get('connection') or Connection.OFFLINE)
    now = None
    if kind is not ChangeType.HOST_REMOVED:
        new = {**(old or {}), **(change.fields or change.payload or {})}
        now = str(new.get('connection') or Connection.OFFLINE)
    if was == now:
        return change
    counts = dict(state.fleet.get('counts') or state.counts())
    if was is not None:
        counts[was] = counts.get(was, 0) - 1
        counts['total'] -= 1
    if now is not None:
        counts[now] = counts.get(now, 0) + 1
        counts['total'] += 1
    return replace(change, fleet={**(change.fleet or {}), 'counts': counts})


def without(state: FleetState, commands: Iterable[str] = (), pipelines: Iterable[str] = ()) -> FleetState:
    """`state` without the named commands and pipelines (the reduction of a `pruned` change; version unchanged)."""
    return replace(state, commands=_dropped(state.commands, commands), pipelines=_dropped(state.pipelines, pipelines))


def _dropped(items: Mapping[str, Mapping[str, Any]], keys: Iterable[str]) -> Mapping[str, Mapping[str, Any]]:
    drop = set(keys)
    return {k: v for k, v in items.items() if k not in drop} if drop else items


class FleetStateStream:
    """Owner of the current snapshot and the version counter; publisher of `state` and `deltas`."""

    def __init__(self, initial: FleetState, on_version: Callable[[int], None] | None = None) -> None:
        self._current = initial
        self._on_version = on_version
        self.state: BehaviorSubject[FleetState] = BehaviorSubject(initial)
        self.deltas: Subject[VersionedChange] = Subject()

    def load(self, state: FleetState) -> None:
        """Install the snapshot loaded at startup (before anyone subscribes)."""
        state = replace(state, fleet={**state.fleet, 'counts': state.counts()})
        self._current = state
        self.state.on_next(state)

    @property
    def value(self) -> FleetState:
        """The current snapshot."""
        return self._current

    @property
    def version(self) -> int:
        """The current version."""
        return self._current.version

    def emit(self, *changes: Change) -> int:
        """Apply changes in order, publish one delta per change and the final snapshot; return the last version."""
        if not changes:
            return self._current.version
        published: list[VersionedChange] = []
        state = self._current
        for change in changes:
            version = state.version + 1
            change = with_counts(state, change)  # counts travel with the change that moved them
            state = reduce(state, change, version)
            published.append(VersionedChange(version, change))
        self._current = state
        for item in published:
            self.deltas.on_next(item)
        self.state.on_next(state)
        if self._on_version is not None:
            self._on_version(state.version)
        return state.version

    def replace_quietly(self, state: FleetState) -> None:
        """Swap in a snapshot with the same version (housekeeping such as pruning old commands)."""
        if state.version != self._current.version:
            raise ValueError('replace_quietly must keep the version')
        self._current = state
        self.state.on_next(state)

    def snapshot_and_subscribe(
        self, on_delta: Callable[[VersionedChange], None], on_error: Callable[[Exception], None] | None = None
    ) -> tuple[FleetState, DisposableBase]:
        """Read the snapshot and subscribe to later deltas in one synchronous step (no delta can fall between)."""
        snapshot = self._current
        subscription = self.deltas.subscribe(guarded(on_delta), on_error or _log_stream_error)
        return snapshot, subscription


def guarded(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap a subscriber so its failure is logged instead of ending the stream for everyone."""

    def call(item: Any) -> None:
        try:
            fn(item)
        except Exception:
            log.exception('subscriber %s failed; the stream continues', getattr(fn, '__qualname__', fn))

    return call


def _log_stream_error(exc: Exception) -> None:
    log.error('state stream subscriber failed: %r', exc)
