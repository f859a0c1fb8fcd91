"""Versioned schema migrations (sqlite-utils `Migrations`, recorded in `schema_migrations`).

Tables are created when absent and widened when present, so a database left by the Go dashboard (same table
names, fewer columns) is adopted in place instead of failing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database, Migrations


class NixfleetMigrations(Migrations):
    """Migrations recorded in the `schema_migrations` table."""

    migrations_table = 'schema_migrations'


migrations = NixfleetMigrations('nixfleet')

_HOST_COLUMNS: dict[str, Any] = {
    'id': str,
    'hostname': str,
    'host_type': str,
    'agent_version': str,
    'agent_impl': str,
    'os_version': str,
    'nixpkgs_version': str,
    'generation': str,
    'theme_color': str,
    'theme_color_override': str,
    'location': str,
    'device_type': str,
    'repo_url': str,
    'repo_dir': str,
    'heartbeat_interval': int,
    'source_commit': str,
    'store_path': str,
    'binary_hash': str,
    'lock_hash': str,
    'last_seen': str,
    'status': str,
    'pending_command': str,
    'metrics_json': str,
    'lock_status_json': str,
    'system_status_json': str,
    'tests_status_json': str,
    'tests_generation': str,
    'created_at': str,
    'updated_at': str,
}
_COMMAND_COLUMNS: dict[str, Any] = {
    'id': str,
    'host_id': str,
    'op': str,
    'pipeline_id': str,
    'status': str,
    'created_at': str,
    'started_at': str,
    'finished_at': str,
    'exit_code': int,
    'error': str,
    'output_file': str,
    'agent_command': str,
    'actor': str,
    'stage': int,
    'forced': int,
    'freshness_json': str,
    'progress_json': str,
    'warn_at': str,
    'hard_at': str,
    'updated_at': str,
}
_PIPELINE_COLUMNS: dict[str, Any] = {
    'id': str,
    'name': str,
    'hosts': str,
    'current_stage': int,
    'status': str,
    'created_at': str,
    'finished_at': str,
    'actor': str,
    'options_json': str,
    'host_status_json': str,
    'retry_of': str,
    'updated_at': str,
}
_EVENT_COLUMNS: dict[str, Any] = {
    'id': int,
    'timestamp': str,
    'category': str,
    'level': str,
    'actor': str,
    'host_id': str,
    'action': str,
    'message': str,
    'details': str,
}


def ensure_table(db: Database, name: str, columns: dict[str, Any], pk: str) -> None:
    """Create the table, or add the columns it lacks when it already exists."""
    table = db.table(name)
    if not table.exists():
        table.create(columns, pk=pk)
        return
    present = set(table.columns_dict)
    for column, kind in columns.items():
        if column not in present:
            table.add_column(column, kind)


@migrations()
def m001_core(db: Database) -> None:
    """CORE-003 tables: hosts, commands, pipelines, event_log, state_version, settings."""
    ensure_table(db, 'hosts', _HOST_COLUMNS, 'id')
    ensure_table(db, 'commands', _COMMAND_COLUMNS, 'id')
    ensure_table(db, 'pipelines', _PIPELINE_COLUMNS, 'id')
    if not db.table('event_log').exists():
        db.execute(
            'CREATE TABLE event_log (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, '
            'category TEXT NOT NULL, level TEXT NOT NULL, actor TEXT, host_id TEXT, action TEXT, '
            'message TEXT NOT NULL, details TEXT)'
        )
    ensure_table(db, 'event_log', _EVENT_COLUMNS, 'id')
    if not db.table('state_version').exists():
        db.execute('CREATE TABLE state_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)')
    db.execute('INSERT OR IGNORE INTO state_version (id, version) VALUES (1, 0)')
    ensure_table(db, 'settings', {'key': str, 'value': str}, 'key')
    for sql in (
        'CREATE INDEX IF NOT EXISTS idx_commands_host ON commands (host_id, created_at DESC)',
        'CREATE INDEX IF NOT EXISTS idx_commands_status ON commands (status)',
        'CREATE INDEX IF NOT EXISTS idx_commands_pipeline ON commands (pipeline_id)',
        'CREATE INDEX IF NOT EXISTS idx_pipelines_status ON pipelines (status)',
        'CREATE INDEX IF NOT EXISTS idx_event_log_timestamp ON event_log (timestamp DESC)',
        'CREATE INDEX IF NOT EXISTS idx_event_log_host ON event_log (host_id, timestamp DESC)',
        'CREATE INDEX IF NOT EXISTS idx_event_log_category ON event_log (category, timestamp DESC)',
    ):
        db.execute(sql)


@migrations()
def m002_ops_command_state(db: Database) -> None:
    """Op engine: per-command tracking state (deadlines, kill, reconnect) and the result message."""
    ensure_table(db, 'commands', {**_COMMAND_COLUMNS, 'state_json': str, 'message': str, 'code': str}, 'id')
    db.execute('CREATE INDEX IF NOT EXISTS idx_commands_pipeline_stage ON commands (pipeline_id, stage)')


@migrations()
def m003_tokens(db: Database) -> None:
    """Per-host agent tokens and named API tokens, stored as SHA-256 hashes only (nixfleet.security.tokens)."""
    for table, subject in (('host_tokens', 'hostname'), ('api_tokens', 'name')):
        db.execute(
            f'CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, {subject} TEXT NOT NULL, '
            'token_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT, '
            'last_used_at TEXT, revoked_at TEXT, revoked_by TEXT)'
        )
        db.execute(f'CREATE INDEX IF NOT EXISTS idx_{table}_{subject} ON {table} ({subject})')
    # one active API token per name, so `api:<name>` in the audit trail names exactly one token
    db.execute(
        'CREATE UNIQUE INDEX IF NOT EXISTS idx_api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL'
    )


@migrations()
def m004_compartment_records(db: Database) -> None:
    """Compartments: the dashboard's own records of switch/rollback and test results (nixfleet.compartments)."""
    ensure_table(db, 'hosts', {**_HOST_COLUMNS, 'system_record_json': str, 'tests_record_json': str}, 'id')


@migrations()
def m005_command_error_line(db: Database) -> None:
    """Commands: the output line that says why a failed command failed (nixfleet.causes)."""
    ensure_table(db, 'commands', {**_COMMAND_COLUMNS, 'error_line': str}, 'id')


@migrations()
def m006_api_token_scope(db: Database) -> None:
    """API tokens: a scope, `read` or `operate` (nixfleet.security.tokens.TokenScope).

    Decision: tokens made before scopes existed become `operate`, what they could do until now, so no script or CI
    job breaks on upgrade; the admin narrows one by creating a `read` token and revoking the old one.
    """
    if 'scope' not in db.table('api_tokens').columns_dict:
        db.execute("ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'operate'")


@migrations()
def m010_adopt_go_dashboard(db: Database) -> None:
    """Go dashboard database: Go timestamps to ISO-8601 Z, its statuses and categories to ours, its unfinished
    commands ORPHANED, its foreign keys dropped; Go-only tables keep their rows (nixfleet.store.go_import).
    A no-op on a database NixFleet created."""
    from nixfleet.store.go_import import adopt_go_dashboard

    adopt_go_dashboard(db)


@migrations()
def m011_safe_host_ids(db: Database) -> None:
    """Hosts whose ids are not hostnames (adopted from a Go database before m010 did this) get safe ids, and stored
    theme colours that are not colours are dropped (nixfleet.store.host_ids); journaled when anything changed."""
    from nixfleet.store.go_import import iso_z
    from nixfleet.store.host_ids import journal, safe_host_ids

    now = iso_z(datetime.now(UTC))
    safe = safe_host_ids(db, now)
    if safe:
        journal(db, now, f'stored hosts made safe: {safe.describe()} (one event each)', details=safe.summary())
