"""The host handler: the one writer of host facts and liveness (docs/architecture.md#hosts-and-liveness).

Register and fact changes are written to SQLite and emitted after the commit; heartbeat-only data goes to
LiveState and is emitted at once (flushed in batches). Liveness (online / stale / offline) is derived here from
the link and the heartbeat age, and transitions are logged once.

Derived fields (compartments, available ops, busy state; see `Deriver`) are computed when one of their inputs
changes and kept per host, not recomputed per heartbeat: a change that touches a fact carries every derived field,
a heartbeat-only change (last seen, metrics) carries none because none of them changed.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlite_utils import Database

from nixfleet.config import Settings
from nixfleet.events import EventEntry, EventLog, with_event
from nixfleet.host_returns import HostReturns
from nixfleet.models import DEFAULT_COLOR, DEFAULT_COLOR_MACOS, Connection, EventLevel, is_color
from nixfleet.protocol import HeartbeatPayload, RegisterPayload
from nixfleet.store import Store
from nixfleet.store.host_rows import delete_host, mark_all_offline, update_host, upsert_host
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.live import LiveState
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: Register fields stored as received.
_REGISTER_FIELDS = (
    'host_type',
    'agent_version',
    'agent_impl',
    'os_version',
    'nixpkgs_version',
    'generation',
    'theme_color',
    'location',
    'device_type',
    'repo_url',
    'repo_dir',
    'heartbeat_interval',
    'source_commit',
    'store_path',
    'binary_hash',
)
#: Heartbeat fields that are persisted facts (written only when they change).
_HEARTBEAT_FACTS = ('generation', 'nixpkgs_version', 'lock_hash', 'source_commit', 'store_path', 'binary_hash')
_COMPARTMENT_COLUMNS = {'lock': 'lock_status_json', 'system': 'system_status_json', 'tests': 'tests_status_json'}
#: Columns of `hosts` that clients see as they are.
_VIEW_FIELDS = (
    'hostname',
    'host_type',
    'agent_version',
    'agent_impl',
    'os_version',
    'nixpkgs_version',
    'generation',
    'location',
    'device_type',
    'repo_url',
    'repo_dir',
    'heartbeat_interval',
    'source_commit',
    'store_path',
    'binary_hash',
    'lock_hash',
    'tests_generation',
    'created_at',
    'updated_at',
)

#: Heartbeat-only view fields: they change with every heartbeat and are never an input of a derived field.
_HEARTBEAT_ONLY = frozenset({'last_seen', 'metrics'})

#: Derived fields of a host view (compartments, available ops, busy state) computed by later layers.
#: A deriver sees the host's view without its heartbeat-only fields, plus what the derivers before it returned.
#: Its result may depend only on host facts (persisted columns and the connection), on command state and on
#: fleet-wide state (remote desired state, expected agent versions): HostRegistry computes it when a fact changes
#: and otherwise only when the owner of another input says so (`emit_derived`, `refresh_derived`).
Deriver = Callable[[dict[str, Any]], dict[str, Any]]


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _report_part(text: str | None) -> Any:
    """A stored agent report without the time we received it."""
    stored = _loads(text)
    return {k: v for k, v in stored.items() if k != 'received_at'} if isinstance(stored, dict) else stored


class HostRegistry:
    """Hosts as persisted plus their liveness; builds the host views that go into the fleet state."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        live: LiveState,
        stream: FleetStateStream,
        events: EventLog,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._store = store
        self._live = live
        self._stream = stream
        self._events = events
        self._clock = clock
        self.rows: dict[str, dict[str, Any]] = {}
        self.connection: dict[str, Connection] = {}
        self.derivers: list[Deriver] = []
        #: The derived fields of each host as last computed (and published): recomputed only when an input changed.
        self._derived: dict[str, dict[str, Any]] = {}
        #: Waits for hosts to come back (a resumed pipeline's next stage waits for its hosts after a restart).
        self.returns = HostReturns(clock)
        #: Times each host went offline since the dashboard started (a rollout's soak notices a drop it missed).
        self.disconnects: Counter[str] = Counter()

    # -- views ---------------------------------------------------------------------------------------------------
    def view(self, host: str) -> dict[str, Any]:
        """Return the full client view of one host (its derived fields as last computed)."""
        view = self._base_view(host)
        derived = self._derived.get(host)
        view.update(derived if derived is not None else self._derive(host, view))
        return view

    def _base_view(self, host: str) -> dict[str, Any]:
        """The host's view without derived fields."""
        row = self.rows[host]
        live = self._live.hosts.get(host)
        view: dict[str, Any] = {k: row.get(k) for k in _VIEW_FIELDS}
        view['id'] = host
        view['theme_color'] = self.color(row)
        view['color_source'] = 'dashboard' if row.get('theme_color_override') else 'agent'
        view['connection'] = self.connection.get(host, Connection.OFFLINE).value
        view['last_seen'] = iso(live.last_seen) if live else row.get('last_seen')
        view['metrics'] = live.metrics if live else _loads(row.get('metrics_json'))
        view['update_status'] = {k: _loads(row.get(col)) for k, col in _COMPARTMENT_COLUMNS.items()}
        return view

    def _derive(self, host: str, base: dict[str, Any]) -> dict[str, Any]:
        """Run the derivers on the host's facts and keep the result as the host's derived fields."""
        facts = {k: v for k, v in base.items() if k not in _HEARTBEAT_ONLY}
        derived: dict[str, Any] = {}
        for derive in self.derivers:
            derived.update(derive({**facts, **derived}))
        self._derived[host] = derived
        return derived

    @staticmethod
    def color(row: dict[str, Any]) -> str:
        """Effective theme colour: the dashboard's override, else the agent's, else the OS default — only a valid
        colour (a stored value from before validation, e.g. a migrated database, is passed over)."""
        for candidate in (row.get('theme_color_override'), row.get('theme_color')):
            if is_color(candidate):
                return str(candidate)
        return DEFAULT_COLOR_MACOS if row.get('host_type') == 'macos' else DEFAULT_COLOR

    def all_views(self) -> dict[str, dict[str, Any]]:
        """Views of every known host."""
        return {host: self.view(host) for host in self.rows}

    def _emit_host(self, host: str, fields: dict[str, Any], *, added: bool = False, facts: bool = False) -> None:
        """Publish a change of the host: the whole view when `added`; else `fields`, plus every derived field
        (recomputed) when `facts` says an input of the derived fields changed."""
        if added:
            self._derived.pop(host, None)
            self._stream.emit(Change(ChangeType.HOST_ADDED, id=host, payload=self.view(host)))
        elif facts:
            derived = self._derive(host, self._base_view(host))
            self._stream.emit(Change(ChangeType.HOST_UPDATED, id=host, fields={**fields, **derived}))
        else:
            self._stream.emit(Change(ChangeType.HOST_UPDATED, id=host, fields=fields))

    def emit_derived(self, host: str) -> None:
        """Recompute and publish the host's derived fields (an input of theirs, e.g. its active command, changed)."""
        if host in self.rows:
            self._emit_host(host, {}, facts=True)

    def refresh_derived(self, hosts: Iterable[str] | None = None) -> list[str]:
        """Recompute the derived fields of `hosts` (default: all) after a fleet-wide or time-based input changed;
        publish and return the hosts whose derived fields differ from the last published ones."""
        changed = []
        for host in list(self.rows) if hosts is None else hosts:
            if host not in self.rows:
                continue
            before = self._derived.get(host)
            after = self._derive(host, self._base_view(host))
            if after != before:
                changed.append(host)
                self._stream.emit(Change(ChangeType.HOST_UPDATED, id=host, fields=dict(after)))
        return changed

    # -- dashboard-side changes (called by the op engine's dashboard ops) ----------------------------------------
    async def set_color_override(self, host: str, color: str | None) -> None:
        """Set the dashboard's theme colour for a host (None: back to the agent's colour)."""
        stamp = iso(self._clock())
        fields = {'theme_color_override': color, 'updated_at': stamp}
        await self._store.write(update_host(host, fields))
        self.rows[host].update(fields)
        view = self._base_view(host)
        self._emit_host(host, {k: view[k] for k in ('theme_color', 'color_source', 'updated_at')}, facts=True)

    async def remove(self, host: str) -> None:
        """Delete a host's row and in-memory state (its commands and logs are the op engine's to delete)."""
        await self._store.write(delete_host(host))
        self.rows.pop(host, None)
        self.connection.pop(host, None)
        self._derived.pop(host, None)
        self._live.forget(host)
        self._stream.emit(Change(ChangeType.HOST_REMOVED, id=host))
        log.info('host %s removed', host)

    async def set_records(self, host: str, records: dict[str, Any]) -> None:
        """Persist the compartment service's result records of a host (`system_record_json`, `tests_record_json`,
        `tests_generation`) and publish the host's new compartments."""
        if host not in self.rows:
            return
        fields = {**records, 'updated_at': iso(self._clock())}
        await self._store.write(update_host(host, fields))
        self.rows[host].update(fields)
        self._emit_host(host, {k: v for k, v in fields.items() if k in _VIEW_FIELDS}, facts=True)

    # -- startup -------------------------------------------------------------------------------------------------
    def load(self, db: Database) -> None:
        """Load every stored host as offline (blocking; startup only)."""
        self.rows = {row['id']: row for row in db.table('hosts').rows}
        self.connection = dict.fromkeys(self.rows, Connection.OFFLINE)
        self._derived.clear()
        if self.rows:
            mark_all_offline(db)

    # -- agent messages ------------------------------------------------------------------------------------------
    async def register(self, reg: RegisterPayload) -> bool:
        """Store a registration and mark the host online; return True when the host is new."""
        host = reg.hostname
        now = self._clock()
        stamp = iso(now)
        previous = self.rows.get(host)
        row: dict[str, Any] = {**(previous or {}), 'id': host, 'hostname': host}
        row.update({k: getattr(reg, k) for k in _REGISTER_FIELDS})
        if row.get('theme_color') and not is_color(row['theme_color']):
            log.warning('host %s: theme_color %.40r is not a colour (#rgb/#rrggbb); ignored', host, row['theme_color'])
            row['theme_color'] = ''
        row.update(status='online', last_seen=stamp, updated_at=stamp)
        row.setdefault('created_at', stamp)
        row['created_at'] = row.get('created_at') or stamp

        event = self._register_event(reg, added=previous is None)
        await self._store.write(with_event(upsert_host(row), event))  # one commit: the row and its event
        self.rows[host] = row
        self.connection[host] = Connection.ONLINE
        self._live.seen(host, now)
        if previous is None:
            self._emit_host(host, {}, added=True)
        else:
            self._emit_host(host, {k: v for k, v in self._base_view(host).items() if k != 'id'}, facts=True)
        self._events.publish(event)
        log.info('host %s registered (agent %s %s)', host, reg.agent_impl, reg.agent_version)
        return previous is None

    def _register_event(self, reg: RegisterPayload, *, added: bool) -> EventEntry:
        """The event journaled with a registration: `host_added` the first time, `connect` afterwards."""
        host = reg.hostname
        if added:
            return self._events.entry(
                'host_added',
                f'{host} registered for the first time',
                host=host,
                actor=f'agent:{host}',
                level=EventLevel.SUCCESS,
                details={'agent_version': reg.agent_version, 'host_type': reg.host_type},
            )
        text = f'{host} connected (agent {reg.agent_version or "?"})'
        return self._events.entry('connect', text, host=host, actor=f'agent:{host}')

    def is_online(self, host: str) -> bool:
        """Whether the host is connected and heartbeating now."""
        return self.connection.get(host) is Connection.ONLINE

    async def wait_online(self, host: str, deadline: float) -> bool:
        """Whether the host is online now or registers before `deadline` (on the registry's clock)."""
        if self.connection.get(host) is Connection.ONLINE:
            return True
        return await self.returns.wait(host, deadline)

    async def heartbeat(self, host: str, hb: HeartbeatPayload) -> None:
        """Take a heartbeat: live data in memory, changed facts persisted, one change emitted."""
        row = self.rows.get(host)
        if row is None:
            return
        now = self._clock()
        metrics = hb.metrics.model_dump() if hb.metrics is not None else None
        self._live.beat(host, now, metrics)
        facts = self._changed_facts(row, hb, iso(now))
        fields: dict[str, Any] = {'last_seen': iso(now), 'metrics': metrics}
        if facts:
            facts['updated_at'] = iso(now)
            await self._store.write(update_host(host, facts))
            row.update(facts)
            fields.update({k: v for k, v in self._base_view(host).items() if k in facts or k == 'update_status'})
        recovered = self.connection.get(host) is Connection.STALE
        if recovered:
            self.connection[host] = Connection.ONLINE
            fields['connection'] = Connection.ONLINE.value
            log.info('host %s recovered from stale', host)
        # no fact changed: the derived fields did not either, so the change carries none (the common heartbeat)
        self._emit_host(host, fields, facts=bool(facts) or recovered)

    def _changed_facts(self, row: dict[str, Any], hb: HeartbeatPayload, stamp: str) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        for key in _HEARTBEAT_FACTS:
            value = getattr(hb, key)
            if value in (None, '') and key != 'lock_hash':
                continue
            if row.get(key) != value:
                facts[key] = value
        if hb.update_status is not None:
            for key, column in _COMPARTMENT_COLUMNS.items():
                report = getattr(hb.update_status, key)
                if report is None or not report.status:
                    continue  # the agent forgets its compartments on restart: keep our copy
                reported = report.model_dump()
                if _report_part(row.get(column)) != reported:  # stamped with when we got it: compartments age it
                    facts[column] = json.dumps({**reported, 'received_at': stamp}, sort_keys=True)
        return facts

    async def disconnected(self, host: str, *, journal: bool = True) -> None:
        """Mark a host offline after its registered link closed (`journal`: with a `disconnect` event)."""
        if host not in self.rows or self.connection.get(host) is Connection.OFFLINE:
            return
        self.connection[host] = Connection.OFFLINE
        self.disconnects[host] += 1
        self.rows[host]['status'] = 'offline'
        await self._store.write(update_host(host, {'status': 'offline'}))
        self._emit_host(host, {'connection': Connection.OFFLINE.value}, facts=True)
        if journal:
            await self._events.record(
                'disconnect', f'{host} disconnected', host=host, actor=f'agent:{host}', level=EventLevel.WARN
            )
        log.info('host %s offline', host)

    def check_liveness(self, now: float | None = None) -> list[str]:
        """Mark online hosts without a recent heartbeat stale; return the hosts that just went stale."""
        now = self._clock() if now is None else now
        went_stale = []
        for host, state in self.connection.items():
            if state is not Connection.ONLINE:
                continue
            live = self._live.hosts.get(host)
            interval = self.rows[host].get('heartbeat_interval')
            if live is not None and now - live.last_seen > self._settings.stale_after(interval):
                self.connection[host] = Connection.STALE
                went_stale.append(host)
                log.warning('host %s is stale: no heartbeat for %.0f s', host, now - live.last_seen)
                self._emit_host(host, {'connection': Connection.STALE.value}, facts=True)
        return went_stale
