"""Drop-in for the Go dashboard (docs/architecture.md#store; issue 9 point 4): its database is adopted in place on
first start.

`go_db` writes a database exactly as the Go dashboard leaves one (every table, the hosts columns
its ALTERs added, Go's timestamp texts, its statuses and `ops` category, declared but unenforced foreign keys, a
row violating one). The tests start the real dashboard on it and read everything back through our layers: the
state snapshot, the HTTP API and a reconnecting agent.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nixfleet.config import Settings
from nixfleet.models import CommandStatus, PipelineStatus
from nixfleet.ops.commands import Command
from nixfleet.ops.pipeline_store import PipelineRun
from nixfleet.store import Store
from nixfleet.store.database import connect
from nixfleet.store.go_import import adopt_go_dashboard, iso_z, parse_go_time
from nixfleet.store.schema import migrations
from nixfleet.timeutil import iso
from tests.support import FakeAgent, RunningServer, eventually, send_status, start_server

ISO_Z = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
API_TOKEN = 'go-migration-api-token'
GO_VERSION = 48213
ADOPT = 'm010_adopt_go_dashboard'

#: dashboard/database.go as of v3: CREATE TABLE IF NOT EXISTS for everything, then ALTERs on hosts.
GO_SCHEMA = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, csrf_token TEXT NOT NULL, created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL);
CREATE INDEX idx_sessions_expires ON sessions(expires_at);
CREATE TABLE hosts (id TEXT PRIMARY KEY, hostname TEXT NOT NULL UNIQUE, host_type TEXT NOT NULL, agent_version TEXT,
    os_version TEXT, nixpkgs_version TEXT, generation TEXT, last_seen DATETIME, status TEXT DEFAULT 'unknown',
    pending_command TEXT, comment TEXT, theme_color TEXT DEFAULT '#7aa2f7', metrics_json TEXT,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE command_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, host_id TEXT NOT NULL, command TEXT NOT NULL,
    status TEXT NOT NULL, exit_code INTEGER, message TEXT, started_at DATETIME NOT NULL, completed_at DATETIME,
    FOREIGN KEY (host_id) REFERENCES hosts(id));
CREATE INDEX idx_command_logs_host ON command_logs(host_id);
CREATE INDEX idx_command_logs_started ON command_logs(started_at);
CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, host_id TEXT NOT NULL, cpu REAL, ram REAL, swap REAL,
    load REAL, recorded_at DATETIME DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (host_id) REFERENCES hosts(id));
CREATE INDEX idx_metrics_host_time ON metrics(host_id, recorded_at);
CREATE TABLE reboot_attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, host_id TEXT NOT NULL,
    attempted_at INTEGER NOT NULL, success INTEGER NOT NULL DEFAULT 0, FOREIGN KEY (host_id) REFERENCES hosts(id));
CREATE INDEX idx_reboot_attempts_host_time ON reboot_attempts(host_id, attempted_at);
CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, host_id TEXT,
    user_session TEXT, timestamp INTEGER NOT NULL, success INTEGER NOT NULL DEFAULT 0, details TEXT);
CREATE INDEX idx_audit_log_action_time ON audit_log(action, timestamp);
CREATE INDEX idx_audit_log_host_time ON audit_log(host_id, timestamp);
CREATE TABLE pipelines (id TEXT PRIMARY KEY, name TEXT NOT NULL, hosts TEXT NOT NULL,
    current_stage INTEGER DEFAULT 0, status TEXT NOT NULL, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    finished_at DATETIME);
CREATE INDEX idx_pipelines_status ON pipelines(status);
CREATE TABLE commands (id TEXT PRIMARY KEY, host_id TEXT NOT NULL, op TEXT NOT NULL, pipeline_id TEXT,
    status TEXT NOT NULL, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, started_at DATETIME, finished_at DATETIME,
    exit_code INTEGER, error TEXT, output_file TEXT,
    FOREIGN KEY (host_id) REFERENCES hosts(id), FOREIGN KEY (pipeline_id) REFERENCES pipelines(id));
CREATE INDEX idx_commands_host ON commands(host_id, created_at DESC);
CREATE INDEX idx_commands_status ON commands(status);
CREATE INDEX idx_commands_pipeline ON commands(pipeline_id);
CREATE TABLE event_log (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    category TEXT NOT NULL, level TEXT NOT NULL, actor TEXT, host_id TEXT, action TEXT, message TEXT NOT NULL,
    details TEXT);
CREATE INDEX idx_event_log_timestamp ON event_log(timestamp DESC);
CREATE INDEX idx_event_log_host ON event_log(host_id, timestamp DESC);
CREATE INDEX idx_event_log_category ON event_log(category, timestamp DESC);
CREATE TABLE state_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO state_version (id, version) VALUES (1, 0);
ALTER TABLE hosts ADD COLUMN location TEXT DEFAULT 'home';
ALTER TABLE hosts ADD COLUMN device_type TEXT DEFAULT 'desktop';
ALTER TABLE hosts ADD COLUMN test_progress TEXT;
ALTER TABLE hosts ADD COLUMN repo_url TEXT;
ALTER TABLE hosts ADD COLUMN repo_dir TEXT;
ALTER TABLE hosts ADD COLUMN lock_status_json TEXT;
ALTER TABLE hosts ADD COLUMN system_status_json TEXT;
ALTER TABLE hosts ADD COLUMN tests_status_json TEXT;
ALTER TABLE hosts ADD COLUMN tests_generation TEXT;
ALTER TABLE hosts ADD COLUMN lock_hash TEXT;
"""

LOCK_OK = '{"status":"ok","message":"Current","checked_at":"2025-12-27T10:15:40Z"}'
METRICS = '{"cpu":12.5,"ram":43.2,"swap":0,"load":0.42}'
# fmt: off
#: (id, host_type, agent, generation, last_seen, status, theme, metrics, location, device, lock json, lock hash)
GO_HOSTS = [
    ('hsb0', 'nixos', '3.1.5', '686f817', '2025-12-27 10:15:42', 'online', '#e0af68', METRICS, 'home', 'server',
     LOCK_OK, '744b04a0'),
    ('imac0', 'macos', '3.1.5', '686f817', '2025-12-27 10:15:40', 'running', '#bb9af7', None, 'home', 'desktop',
     None, None),
    ('gpc0', 'nixos', '3.1.4', '5d1e2a0', '2025-12-20 21:03:11', 'offline', '#7aa2f7', None, 'home', 'gaming',
     None, None),
    ('csb1', 'nixos', '3.0.0', None, None, 'unknown', '#9ece6a', None, 'cloud', 'server', None, None),
]
#: (id, host, op, pipeline, status, created_at, started_at, finished_at, exit_code, error); times are Go's
#: `time.Time.String()` as the modernc driver stores it, monotonic clock reading included.
GO_COMMANDS = [
    ('20251227-101403.512-a1b2', 'hsb0', 'pull', None, 'SUCCESS', '2025-12-27 10:14:03.512345678 +0000 UTC m=+8123.1',
     None, '2025-12-27 10:14:41.000999 +0000 UTC m=+8161.2', 0, None),
    ('20251227-101450.001-c3d4', 'hsb0', 'switch', None, 'EXECUTING', '2025-12-27 11:14:50.001 +0100 CET m=+8170.3',
     None, None, None, None),
    ('20251227-090000.000-e5f6', 'gpc0', 'test', None, 'ERROR', '2025-12-27 09:00:00 +0000 UTC',
     None, '2025-12-27 09:02:10 +0000 UTC', 1, 'tests failed: 2 of 9'),
    ('20251227-091500.250-0a0b', 'gpc0', 'switch', None, 'BLOCKED', '2025-12-27 09:15:00.25 +0000 UTC',
     None, '2025-12-27 09:15:00.26 +0000 UTC', None, 'Git outdated: pull first'),
    ('20251226-230000.000-1c1d', 'imac0', 'pull', None, 'KILLING', '2025-12-26 23:00:00 +0000 UTC',
     None, None, None, None),
    # the host was removed from the Go dashboard; its commands stayed (foreign keys were never enforced)
    ('20251201-080000.000-2e2f', 'oldbox', 'pull', None, 'SUCCESS', '2025-12-01 08:00:00 +0000 UTC',
     None, '2025-12-01 08:00:09 +0000 UTC', 0, None),
]
#: (id, name, hosts, current_stage, status, created_at, finished_at): the Go executor crashed on every run
GO_PIPELINES = [
    ('6f1c9a4e-1b9d-4c1e-9d62-0c5c7a1d2e3f', 'do-all', '["hsb0","gpc0"]', 1, 'RUNNING',
     '2025-12-27 08:30:00.5 +0000 UTC m=+3.0', None),
    ('0b8e2d55-8f3a-4b1c-a7de-5e2f3c4d5a6b', 'do-all', '["hsb0"]', 3, 'COMPLETE',
     '2025-12-26 08:30:00 +0000 UTC', '2025-12-26 08:41:00 +0000 UTC'),
]
#: (timestamp, category, level, actor, host, action, message, details)
GO_EVENTS = [
    ('2025-12-27 10:14:03.6 +0000 UTC m=+8123.2', 'ops', 'info', 'system', 'hsb0', 'op:pull', 'Executing pull',
     None),
    ('2025-12-27 10:14:41.2 +0000 UTC m=+8161.3', 'ops', 'success', 'system', 'hsb0', 'op:pull', 'pull completed',
     '{"exit_code":0}'),
    ('2025-12-27 10:02:10 +0000 UTC', 'ops', 'error', 'system', 'gpc0', 'op:test', 'test failed (exit 1)',
     '{"exit_code":1}'),
    ('2025-12-27 11:15:00.000000001 +0100 CET m=+8180.0', 'audit', 'warn', 'user', 'gpc0', 'op:switch',
     'Blocked: Git outdated', None),
    ('2025-12-27 10:16:00 +0000 UTC', 'system', 'info', 'system', None, 'startup', 'Dashboard started', None),
]
# fmt: on


def create_go_database(path: Path) -> None:
    """Write a database in the Go dashboard's schema with realistic rows (what a v3 container leaves in /data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute('PRAGMA journal_mode=WAL')
    conn.executescript(GO_SCHEMA)
    conn.executemany(
        'INSERT INTO hosts (id, hostname, host_type, agent_version, os_version, nixpkgs_version, generation, '
        'last_seen, status, theme_color, metrics_json, location, device_type, lock_status_json, lock_hash, '
        "repo_dir, created_at) VALUES (?, ?, ?, ?, '25.05', '25.05.20250612.abcdef0', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "'/home/mba/Code/nixcfg', '2025-11-02 08:00:00')",
        [(h[0], h[0], *h[1:]) for h in GO_HOSTS],
    )
    conn.execute(
        'UPDATE hosts SET pending_command = \'switch\', tests_status_json = \'{"status":"ok"}\', '
        "tests_generation = '686f817' WHERE id = 'hsb0'"
    )
    conn.executemany(
        'INSERT INTO commands (id, host_id, op, pipeline_id, status, created_at, started_at, finished_at, exit_code, '
        'error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        GO_COMMANDS,
    )
    conn.executemany(
        'INSERT INTO pipelines (id, name, hosts, current_stage, status, created_at, finished_at) '
        'VALUES (?, ?, ?, ?, ?, ?, ?)',
        GO_PIPELINES,
    )
    conn.executemany(
        'INSERT INTO event_log (timestamp, category, level, actor, host_id, action, message, details) '
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        GO_EVENTS,
    )
    conn.execute(
        "INSERT INTO sessions VALUES ('s3cr3t-session', 'csrf-123', '2025-12-27 09:00:00.1 +0000 UTC m=+1.0', "
        "'2025-12-28 09:00:00.1 +0000 UTC m=+86401.0')"
    )
    conn.executemany(
        'INSERT INTO reboot_attempts (host_id, attempted_at, success) VALUES (?, ?, ?)',
        [('gpc0', 1766826000, 0), ('gpc0', 1766826060, 1)],
    )
    conn.execute('DELETE FROM reboot_attempts WHERE id = 1')  # AUTOINCREMENT must not reuse it
    conn.execute(
        'INSERT INTO audit_log (action, host_id, user_session, timestamp, success, details) '
        'VALUES (\'reboot\', \'gpc0\', \'s3cr3t-session\', 1766826060, 1, \'{"reason":"success","ip":"10.0.0.5"}\')'
    )
    conn.execute("INSERT INTO metrics (host_id, cpu, ram, swap, load) VALUES ('hsb0', 1.5, 20.0, 0, 0.1)")
    conn.execute(
        'INSERT INTO command_logs (host_id, command, status, exit_code, started_at) '
        "VALUES ('gpc0', 'pull', 'ok', 0, '2025-10-01 12:00:00')"
    )
    conn.execute('UPDATE state_version SET version = ? WHERE id = 1', [GO_VERSION])
    conn.commit()
    conn.close()


GO_ONLY = ('sessions', 'command_logs', 'metrics', 'reboot_attempts', 'audit_log')


def dump(path: Path, tables: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables, in rowid order."""
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f'SELECT * FROM {t} ORDER BY rowid').fetchall() for t in tables}
    finally:
        conn.close()


@pytest.fixture
def go_db(settings: Settings) -> Path:
    """The Go dashboard's database at the settings' database path (isolation: the test's own data dir)."""
    create_go_database(settings.database_path)
    return settings.database_path


@pytest.fixture
async def adopted(go_db: Path, settings: Settings) -> AsyncIterator[RunningServer]:
    """A real dashboard started on the Go database (API token `API_TOKEN`); stopped after the test."""
    running = await start_server(settings)
    running.dashboard.api_tokens['ci'] = API_TOKEN
    yield running
    await running.stop()


def api(server: RunningServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http, headers={'Authorization': f'Bearer {API_TOKEN}'})


# -- the whole dashboard on a Go database --------------------------------------------------------------------------
async def test_hosts_are_kept_with_their_fields_and_start_offline(adopted: RunningServer) -> None:
    hosts = adopted.dashboard.stream.value.hosts
    assert set(hosts) == {'hsb0', 'imac0', 'gpc0', 'csb1'}
    hsb0 = hosts['hsb0']
    assert hsb0['hostname'] == 'hsb0' and hsb0['host_type'] == 'nixos' and hsb0['agent_version'] == '3.1.5'
    assert hsb0['generation'] == '686f817' and hsb0['lock_hash'] == '744b04a0'
    assert hsb0['theme_color'] == '#e0af68' and hsb0['location'] == 'home' and hsb0['device_type'] == 'server'
    assert hsb0['repo_dir'] == '/home/mba/Code/nixcfg' and hsb0['tests_generation'] == '686f817'
    assert hsb0['metrics'] == {'cpu': 12.5, 'ram': 43.2, 'swap': 0, 'load': 0.42}
    assert hsb0['update_status']['lock']['status'] == 'ok'
    assert hsb0['last_seen'] == '2025-12-27T10:15:42.000Z'
    assert hsb0['created_at'] == '2025-11-02T08:00:00.000Z'
    assert hosts['imac0']['host_type'] == 'macos' and hosts['gpc0']['device_type'] == 'gaming'
    assert hosts['csb1']['last_seen'] is None and hosts['csb1']['location'] == 'cloud'
    # `online` and `running` described a Go link that no longer exists; nothing is pending after the switch
    assert {h['connection'] for h in hosts.values()} == {'offline'}
    assert not any(h['busy'] for h in hosts.values())


async def test_events_are_kept_with_our_categories_and_iso_timestamps(adopted: RunningServer) -> None:
    events = adopted.dashboard.stream.value.events
    go_messages = [e[6] for e in GO_EVENTS]
    assert [e['message'] for e in reversed(events) if e['message'] in go_messages] == go_messages  # newest first
    for event in events:
        assert ISO_Z.match(event['timestamp']), event
        assert event['category'] in {'audit', 'system', 'error'}
        assert event['level'] in {'info', 'warn', 'error', 'success'}
    by_message = {e['message']: e for e in events}
    executing = by_message['Executing pull']
    assert executing['timestamp'] == '2025-12-27T10:14:03.600Z' and executing['category'] == 'audit'
    assert executing['details'] == {'go_category': 'ops'} and executing['host_id'] == 'hsb0'
    assert by_message['pull completed']['details'] == {'exit_code': 0, 'go_category': 'ops'}
    assert by_message['test failed (exit 1)']['category'] == 'error'
    cet = by_message['Blocked: Git outdated']
    assert cet['timestamp'] == '2025-12-27T10:15:00.000Z' and cet['category'] == 'audit' and cet['details'] is None
    adoption = by_message[next(m for m in by_message if m.startswith('adopted the Go dashboard database'))]
    assert adoption['action'] == 'migrate' and adoption['category'] == 'system'
    assert adoption['details']['commands_orphaned'] == 2 and adoption['details']['state_version'] == GO_VERSION


async def test_state_version_continues_upward_from_the_go_value(adopted: RunningServer) -> None:
    start = adopted.dashboard.stream.version
    assert start >= GO_VERSION
    agent = await FakeAgent(adopted.ws_url, 'hsb0').connect()
    try:
        await eventually(lambda: adopted.dashboard.stream.value.hosts['hsb0']['connection'] == 'online')
        assert adopted.dashboard.stream.version > start
    finally:
        await agent.close()


async def test_commands_and_pipelines_are_readable_through_the_api(adopted: RunningServer) -> None:
    async with api(adopted) as client:
        commands = {c['id']: c for c in (await client.get('/api/commands', params={'limit': 50})).json()['commands']}
        assert set(commands) == {c[0] for c in GO_COMMANDS}
        pull = commands['20251227-101403.512-a1b2']
        assert pull['status'] == 'SUCCESS' and pull['success'] is True and pull['exit_code'] == 0
        assert pull['created_at'] == '2025-12-27T10:14:03.512Z' and pull['finished_at'] == '2025-12-27T10:14:41.000Z'
        failed = commands['20251227-090000.000-e5f6']
        assert failed['status'] == 'ERROR' and failed['error'] == 'tests failed: 2 of 9' and failed['exit_code'] == 1
        assert commands['20251227-091500.250-0a0b']['status'] == 'BLOCKED'
        # left EXECUTING / KILLING forever by the Go dashboard: ORPHANED (docs/architecture.md#restart-recovery), not
        # blocking the host
        for cid in ('20251227-101450.001-c3d4', '20251226-230000.000-1c1d'):
            assert commands[cid]['status'] == 'ORPHANED' and commands[cid]['terminal'] is True
            assert ISO_Z.match(commands[cid]['finished_at'])
        assert commands['20251227-101450.001-c3d4']['created_at'] == '2025-12-27T10:14:50.001Z'  # +0100 CET
        assert commands['20251201-080000.000-2e2f']['host_id'] == 'oldbox'
        one = (await client.get('/api/commands/20251227-101403.512-a1b2')).json()
        assert one['op'] == 'pull' and one['host_id'] == 'hsb0'

        pipelines = {p['id']: p for p in (await client.get('/api/pipelines')).json()['pipelines']}
        assert set(pipelines) == {p[0] for p in GO_PIPELINES}
        crashed, complete = pipelines[GO_PIPELINES[0][0]], pipelines[GO_PIPELINES[1][0]]
        assert crashed['status'] == 'CANCELLED' and crashed['hosts'] == ['hsb0', 'gpc0']
        assert crashed['ops'] == ['pull', 'switch', 'test'] and crashed['current_stage'] == 1
        assert crashed['created_at'] == '2025-12-27T08:30:00.500Z' and ISO_Z.match(crashed['finished_at'])
        assert complete['status'] == 'COMPLETE' and complete['finished_at'] == '2025-12-26T08:41:00.000Z'
        assert complete['host_state'] == {'hsb0': {'state': 'done'}}


async def test_a_go_agent_reconnects_as_the_same_host_and_runs_ops(adopted: RunningServer) -> None:
    agent = await FakeAgent(adopted.ws_url, 'hsb0').connect()
    try:
        await agent.heartbeat()
        await eventually(
            lambda: any(
                e['action'] == 'connect' and e['host_id'] == 'hsb0' for e in adopted.dashboard.stream.value.events
            )
        )
        assert not any(e['action'] == 'host_added' for e in adopted.dashboard.stream.value.events)  # a known host
        async with api(adopted) as client:
            await eventually(lambda: adopted.dashboard.stream.value.hosts['hsb0'].get('connection') == 'online')
            # not busy: the switch the Go dashboard left EXECUTING is ORPHANED, and nothing is pending
            body = (await client.post('/api/dispatch', json={'op': 'test', 'hosts': ['hsb0']})).json()
            cid = body['results'][0]['command_id']
            assert (await agent.expect('command'))['payload']['command'] == 'test'
            await send_status(agent, 'test')
            done = await eventually(lambda: _status(client, cid, 'SUCCESS'))
            assert done['host_id'] == 'hsb0'
    finally:
        await agent.close()


async def test_a_host_with_go_rows_in_go_only_tables_can_be_removed(adopted: RunningServer) -> None:
    async with api(adopted) as client:
        body = (await client.post('/api/dispatch', json={'op': 'remove', 'hosts': ['gpc0']})).json()
        cid = body['results'][0]['command_id']
        await eventually(lambda: _status(client, cid, 'SUCCESS'))
    await eventually(lambda: 'gpc0' not in adopted.dashboard.stream.value.hosts)


async def _status(client: httpx.AsyncClient, cid: str, status: str) -> dict[str, Any] | None:
    command = (await client.get(f'/api/commands/{cid}')).json()
    return command if command.get('status') == status else None


# -- the database itself -------------------------------------------------------------------------------------------
@pytest.fixture
def store(go_db: Path) -> Iterator[Store]:
    """Our store opened on the Go database (migrations applied); closed after the test."""
    store = Store(go_db)
    store.open()
    yield store
    store.close()


def test_go_only_tables_keep_every_row(settings: Settings) -> None:
    create_go_database(settings.database_path)
    before = dump(settings.database_path, GO_ONLY)
    store = Store(settings.database_path)
    store.open()
    store.close()
    assert dump(settings.database_path, GO_ONLY) == before
    conn = sqlite3.connect(settings.database_path)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert {'idx_reboot_attempts_host_time', 'idx_audit_log_host_time', 'idx_sessions_expires'} <= indexes
    conn.execute('INSERT INTO reboot_attempts (host_id, attempted_at) VALUES (?, ?)', ['hsb0', 1766900000])
    assert conn.execute('SELECT MAX(id) FROM reboot_attempts').fetchone()[0] == 3  # AUTOINCREMENT id not reused
    conn.close()


def test_the_go_schema_quirks_are_gone(store: Store) -> None:
    def check(db: Any) -> None:
        for table in ('commands', 'command_logs', 'metrics', 'reboot_attempts'):
            assert db.execute(f'PRAGMA foreign_key_list({table})').fetchall() == []
        host_id = next(c for c in db.execute('PRAGMA table_info(commands)').fetchall() if c[1] == 'host_id')
        assert host_id[3] == 0  # fleet-wide commands (merge-pr) have no host
        assert db.execute('PRAGMA foreign_key_check').fetchall() == []
        assert db.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
        stamps = db.execute(
            'SELECT last_seen FROM hosts UNION ALL SELECT created_at FROM commands UNION ALL '
            'SELECT timestamp FROM event_log UNION ALL SELECT created_at FROM pipelines'
        ).fetchall()
        assert all(s is None or ISO_Z.match(s) for (s,) in stamps)
        assert db.execute('SELECT version FROM state_version').fetchone()[0] == GO_VERSION

    store.read_sync(check)


def test_adoption_runs_once_and_a_restart_changes_nothing(go_db: Path) -> None:
    store = Store(go_db)
    store.open()
    store.close()
    tables = ('hosts', 'commands', 'pipelines', 'event_log', 'state_version', *GO_ONLY)
    first = dump(go_db, tables)
    store = Store(go_db)
    store.open()
    names = store.read_sync(lambda db: [m.name for m in migrations.applied(db)])
    store.close()
    assert names.count(ADOPT) == 1
    assert dump(go_db, tables) == first
    db = connect(go_db)
    with db.atomic():
        summary = adopt_go_dashboard(db)  # a second run finds nothing in Go form
    db.conn.close()
    assert summary['commands_adopted'] == 0 and summary['pipelines_adopted'] == 0 and summary['events_mapped'] == 0
    assert summary['timestamps_converted'] == {} and summary['foreign_keys_dropped'] == []
    assert dump(go_db, tables) == first  # not even a second `migrate` event


def _schema_and_rows(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
    conn = sqlite3.connect(path)
    try:
        schema = conn.execute('SELECT type, name, sql FROM sqlite_master ORDER BY type, name').fetchall()
        tables = [n for t, n, _ in schema if t == 'table' and n not in ('schema_migrations', 'sqlite_sequence')]
        return schema, {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
    finally:
        conn.close()


def test_a_fresh_database_is_unaffected(tmp_path: Path) -> None:
    without, with_adopt = tmp_path / 'without.db', tmp_path / 'with.db'
    db = connect(without)
    migrations.apply(db, stop_before=ADOPT)
    db.conn.close()
    db = connect(with_adopt)
    migrations.apply(db)
    db.conn.close()
    assert _schema_and_rows(with_adopt) == _schema_and_rows(without)


def test_a_nixfleet_database_written_before_the_migration_is_unaffected(tmp_path: Path) -> None:
    path = tmp_path / 'ours.db'
    db = connect(path)
    migrations.apply(db, stop_before=ADOPT)
    now = 1_800_000_000.0
    db.table('hosts').insert(
        {
            'id': 'web-01',
            'hostname': 'web-01',
            'host_type': 'nixos',
            'status': 'offline',
            'last_seen': iso(now),
            'created_at': '2027-01-15T08:00:00.000Z',
            'updated_at': '2027-01-15T08:00:00.000Z',
        }
    )
    running = Command(
        id='c1',
        host='web-01',
        op='pull',
        agent_command='pull',
        status=CommandStatus.EXECUTING,
        actor='user',
        created_at=now,
        started_at=now,
    )
    fleet = Command(
        id='c2',
        host=None,
        op='merge-pr',
        agent_command=None,
        status=CommandStatus.SUCCESS,
        actor='api:ci',
        created_at=now,
        finished_at=now + 2,
    )
    for cmd in (running, fleet):
        db.table('commands').insert(cmd.row())
    run = PipelineRun(
        id='p1',
        name='do-all',
        ops=['pull', 'switch', 'test'],
        hosts=['web-01'],
        actor='user',
        created_at=now,
        status=PipelineStatus.RUNNING,
    )
    db.table('pipelines').insert(run.row())
    db.table('event_log').insert(
        {
            'timestamp': '2027-01-15T08:00:00.000Z',
            'category': 'audit',
            'level': 'info',
            'actor': 'user',
            'host_id': 'web-01',
            'action': 'op:pull',
            'message': 'pull started',
        }
    )
    db.conn.close()
    before = _schema_and_rows(path)
    db = connect(path)
    migrations.apply(db)
    assert ADOPT in [m.name for m in migrations.applied(db)]
    db.conn.close()
    assert _schema_and_rows(path) == before


@pytest.mark.parametrize(
    ('text', 'expected'),
    [
        ('2025-12-27 10:15:42', '2025-12-27T10:15:42.000Z'),  # CURRENT_TIMESTAMP, datetime('now')
        ('2025-12-27 10:15:42.123456789 +0000 UTC', '2025-12-27T10:15:42.123Z'),  # time.Time.String()
        ('2025-12-27 10:15:42.5 +0000 UTC m=+3600.000000001', '2025-12-27T10:15:42.500Z'),  # with monotonic clock
        ('2025-12-27 11:15:42 +0100 CET', '2025-12-27T10:15:42.000Z'),
        ('2025-12-27 05:45:42.9999 -0430 -0430', '2025-12-27T10:15:42.999Z'),
        ('2025-12-27 10:15:42.123-07:00', '2025-12-27T17:15:42.123Z'),  # the driver's alternative write format
        ('2025-12-27T10:15:42Z', '2025-12-27T10:15:42.000Z'),  # RFC 3339
        ('2025-12-27T12:15:42.25+02:00', '2025-12-27T10:15:42.250Z'),
    ],
)
def test_go_timestamps_parse_to_iso_z(text: str, expected: str) -> None:
    moment = parse_go_time(text)
    assert moment is not None and iso_z(moment) == expected


@pytest.mark.parametrize('text', ['', 'yesterday', '2025-13-40 99:00:00', '27.12.2025 10:15'])
def test_non_timestamps_are_not_parsed(text: str) -> None:
    assert parse_go_time(text) is None


def test_go_zero_time_becomes_null(settings: Settings) -> None:
    create_go_database(settings.database_path)
    conn = sqlite3.connect(settings.database_path)
    conn.execute("UPDATE commands SET started_at = '0001-01-01 00:00:00 +0000 UTC'")
    conn.commit()
    conn.close()
    store = Store(settings.database_path)
    store.open()
    started = store.read_sync(lambda db: {r[0] for r in db.execute('SELECT started_at FROM commands').fetchall()})
    store.close()
    assert started == {None}


def test_event_details_that_are_not_json_are_kept(settings: Settings) -> None:
    create_go_database(settings.database_path)
    conn = sqlite3.connect(settings.database_path)
    conn.execute("UPDATE event_log SET details = 'not json' WHERE message = 'Executing pull'")
    conn.commit()
    conn.close()
    store = Store(settings.database_path)
    store.open()
    details = store.read_sync(
        lambda db: db.execute("SELECT details FROM event_log WHERE message = 'Executing pull'").fetchone()[0]
    )
    store.close()
    assert json.loads(details) == {'go_details': 'not json', 'go_category': 'ops'}
