"""Adopt a database left by the Go dashboard (docs/architecture.md#store): its rows rewritten into the forms NixFleet
reads.

The Go dashboard shares our table names, so migration m001 already widened its tables. What is
left is data: timestamps in Go's text forms, its `ops` event category, statuses we do not have, commands it left
running forever, pipelines without our run record, and foreign keys it declared but never enforced (we do, so they
would make removing a host fail), host ids that are not hostnames (adopted under safe ids, nixfleet.store.host_ids)
and theme colours that are not colours. Every step only touches rows still in Go form, so it is a no-op on a database
NixFleet wrote itself, and running it twice changes nothing. Tables only the Go dashboard has (`sessions`,
`audit_log`, `reboot_attempts`, `metrics`, `command_logs`) keep every row; they are rebuilt only to drop their
foreign keys.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from nixfleet.models import TERMINAL, CommandStatus, EventCategory, EventLevel, PipelineStatus
from nixfleet.store.host_ids import journal, safe_host_ids

log = logging.getLogger(__name__)

#: What NixFleet writes (nixfleet.timeutil.iso); anything else in a timestamp column is converted.
_CANONICAL = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$')
#: SQLite `CURRENT_TIMESTAMP` / `datetime('now')` (`2025-12-27 10:15:42`), Go's `time.Time.String()` as the modernc
#: driver stores it (`2025-12-27 10:15:42.123456789 +0100 CET m=+3.000000001`), and RFC 3339 (`…T…Z`, `…+01:00`).
_GO_TIME = re.compile(
    r'^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?'
    r'\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?'
    r'(?:\s+(?P<zone>[A-Za-z][A-Za-z0-9_/+-]*|[+-]\d{2,4}))?'
    r'(?:\s+m=[+-]?\d+(?:\.\d+)?)?\s*$'
)
#: Timestamp columns our code reads, per table (converted where present).
TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    'hosts': ('last_seen', 'created_at', 'updated_at'),
    'commands': ('created_at', 'started_at', 'finished_at', 'updated_at', 'warn_at', 'hard_at'),
    'pipelines': ('created_at', 'finished_at', 'updated_at'),
    'event_log': ('timestamp',),
}
#: Tables only the Go dashboard has, each recognised by its columns (a table of ours by the same name is not one).
GO_ONLY_TABLES: dict[str, frozenset[str]] = {
    'sessions': frozenset({'id', 'csrf_token', 'created_at', 'expires_at'}),
    'command_logs': frozenset({'id', 'host_id', 'command', 'status', 'exit_code', 'message', 'started_at'}),
    'metrics': frozenset({'id', 'host_id', 'cpu', 'ram', 'swap', 'load', 'recorded_at'}),
    'reboot_attempts': frozenset({'id', 'host_id', 'attempted_at', 'success'}),
    'audit_log': frozenset({'id', 'action', 'host_id', 'user_session', 'timestamp', 'success', 'details'}),
}
#: Tables the Go dashboard declared foreign keys on (to `hosts`, `pipelines`); rebuilt without them.
GO_FOREIGN_KEY_TABLES = ('commands', 'command_logs', 'metrics', 'reboot_attempts')
#: The Go dashboard's pipeline registry, to give its runs their stages.
GO_PIPELINE_OPS: dict[str, tuple[str, ...]] = {
    'do-all': ('pull', 'switch', 'test'),
    'merge-deploy': ('merge-pr', 'pull', 'switch', 'test'),
    'update-agent': ('bump-flake', 'pull', 'switch', 'restart'),
    'force-update': ('force-rebuild', 'restart'),
}
_PIPELINE_HOST_STATE = {
    PipelineStatus.COMPLETE: 'done',
    PipelineStatus.FAILED: 'failed',
    PipelineStatus.CANCELLED: 'cancelled',
    PipelineStatus.PARTIAL: 'unknown',  # the Go dashboard kept no per-host outcome
    PipelineStatus.HALTED: 'unknown',  # (the Go dashboard had no waves: never in its journal)
}
_LEVELS = {'warning': EventLevel.WARN, 'debug': EventLevel.INFO, 'fatal': EventLevel.ERROR}
ORPHANED_ERROR = 'the Go dashboard was replaced while this ran: outcome unknown'
INTERRUPTED_MESSAGE = 'interrupted: the Go dashboard was replaced while this ran'


def parse_go_time(value: Any) -> datetime | None:
    """Parse a timestamp the Go dashboard stored (see `_GO_TIME`; numbers are Unix seconds) as aware UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    match = _GO_TIME.match(str(value).strip()) if value is not None else None
    if match is None:
        return None
    try:
        moment = datetime.fromisoformat(f'{match["date"]}T{match["time"]}').replace(tzinfo=UTC)
    except ValueError:
        return None
    if moment.year < 1970:  # Go's zero time `0001-01-01 00:00:00 +0000 UTC`: no time at all
        return moment
    moment += timedelta(microseconds=int((match['frac'] or '0').ljust(9, '0')[:6]))
    offset = match['offset']
    if offset and offset != 'Z':
        digits = offset[1:].replace(':', '').ljust(4, '0')
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
        moment -= delta if offset[0] == '+' else -delta
    return moment


def iso_z(moment: datetime) -> str:
    """Format an aware datetime as NixFleet stores it: `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC)."""
    m = moment.astimezone(UTC)
    return (
        f'{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.'
        f'{m.microsecond // 1000:03d}Z'
    )


def _table_exists(db: Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone() is not None


def _columns(db: Database, table: str) -> list[str]:
    return [row[1] for row in db.execute(f'PRAGMA table_info("{table}")').fetchall()]


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except (TypeError, ValueError):
        return None


# -- steps ---------------------------------------------------------------------------------------------------------
def drop_go_foreign_keys(db: Database) -> list[str]:
    """Rebuild the Go tables that declare foreign keys without them (rows, indexes and ids kept); return their names.

    `commands.host_id` also loses NOT NULL: fleet-wide commands (merge-pr) have no host."""
    rebuilt = []
    for table in GO_FOREIGN_KEY_TABLES:
        if table != 'commands' and table not in go_only_tables(db):
            continue
        if _table_exists(db, table) and db.execute(f'PRAGMA foreign_key_list("{table}")').fetchall():
            _rebuild(db, table, nullable={'host_id'} if table == 'commands' else set())
            rebuilt.append(table)
    return rebuilt


def _rebuild(db: Database, table: str, nullable: set[str]) -> None:
    """The SQLite 'make other schema changes' procedure: new table, copy, drop, rename, indexes back."""
    create_sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    autoincrement = 'AUTOINCREMENT' in create_sql.upper()
    indexes = [
        sql
        for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]
        ).fetchall()
    ]
    sequence = None
    if autoincrement:
        row = db.execute('SELECT seq FROM sqlite_sequence WHERE name = ?', [table]).fetchone()
        sequence = row[0] if row else None
    definitions, names = [], []
    for _cid, name, kind, notnull, default, pk in db.execute(f'PRAGMA table_info("{table}")').fetchall():
        parts = [f'"{name}"', kind or '']
        if pk:
            parts.append('PRIMARY KEY AUTOINCREMENT' if autoincrement else 'PRIMARY KEY')
        if notnull and not pk and name not in nullable:
            parts.append('NOT NULL')
        if default is not None:
            parts.append(f'DEFAULT ({default})')
        definitions.append(' '.join(p for p in parts if p))
        names.append(f'"{name}"')
    temp = f'_adopt_{table}'
    columns = ', '.join(names)
    db.execute(f'CREATE TABLE "{temp}" ({", ".join(definitions)})')
    db.execute(f'INSERT INTO "{temp}" ({columns}) SELECT {columns} FROM "{table}"')
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
    for sql in indexes:
        db.execute(sql)
    if sequence is not None:
        db.execute('DELETE FROM sqlite_sequence WHERE name IN (?, ?)', [table, temp])
        db.execute('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', [table, sequence])


def normalize_timestamps(db: Database) -> Counter[str]:
    """Rewrite Go-format timestamps to ISO-8601 `Z`; Go's zero time becomes NULL where the column allows it."""
    converted: Counter[str] = Counter()
    for table, wanted in TIME_COLUMNS.items():
        if not _table_exists(db, table):
            continue
        present = [c for c in wanted if c in _columns(db, table)]
        for column in present:
            rows = db.execute(
                f'SELECT rowid, "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
                f' AND NOT (typeof("{column}") = \'text\' AND "{column}" GLOB'
                " '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z')"
            ).fetchall()
            for rowid, value in rows:
                if isinstance(value, str) and _CANONICAL.match(value):
                    continue
                moment = parse_go_time(value)
                if moment is None:
                    log.warning(
                        'adopt: %s.%s of row %s is not a timestamp: %r (left as is)', table, column, rowid, value
                    )
                    continue
                new = None if moment.year < 1970 and column != 'timestamp' else iso_z(moment)
                db.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?', [new, rowid])
                converted[table] += 1
    return converted


def adopt_hosts(db: Database) -> int:
    """Hosts start offline with nothing pending (the Go `running`/`online`/`unknown` meant a live link)."""
    cursor = db.execute(
        "UPDATE hosts SET status = 'offline', pending_command = NULL, "
        'updated_at = COALESCE(updated_at, last_seen, created_at) '
        "WHERE status IS NULL OR status != 'offline' OR pending_command IS NOT NULL OR updated_at IS NULL"
    )
    return int(cursor.rowcount or 0)


def adopt_commands(db: Database, now: str) -> tuple[int, int]:
    """Give Go commands our record fields; unfinished or unknown statuses become ORPHANED
    (docs/architecture.md#restart-recovery).

    Returns (commands adopted, of which orphaned). A Go row is one without our `state_json`."""
    known = {s.value for s in CommandStatus}
    terminal = {s.value for s in TERMINAL}
    rows = db.execute(
        'SELECT id, status, error, finished_at, started_at, created_at FROM commands WHERE state_json IS NULL'
    ).fetchall()
    orphaned = 0
    for cid, status, error, finished_at, started_at, created_at in rows:
        fields: dict[str, Any] = {'state_json': '{}', 'freshness_json': '{}', 'progress_json': '{}'}
        if status not in known or status not in terminal:
            orphaned += 1
            fields.update(
                status=CommandStatus.ORPHANED.value,
                error=error or ORPHANED_ERROR,
                message=f'was {status} in the Go dashboard',
                finished_at=finished_at or now,
            )
        fields['updated_at'] = fields.get('finished_at') or finished_at or started_at or created_at
        assignments = ', '.join(f'"{k}" = ?' for k in fields)
        db.execute(f'UPDATE commands SET {assignments} WHERE id = ?', [*fields.values(), cid])
    return len(rows), orphaned


def adopt_pipelines(db: Database, now: str) -> tuple[int, int]:
    """Give Go pipeline rows our run record (ops from the Go registry); unfinished runs become CANCELLED.

    Returns (runs adopted, of which interrupted). A Go row is one without our `options_json`."""
    rows = db.execute(
        'SELECT id, name, hosts, status, finished_at, created_at FROM pipelines WHERE options_json IS NULL'
    ).fetchall()
    interrupted = 0
    for pid, name, hosts_json, status, finished_at, created_at in rows:
        hosts = _loads(hosts_json)
        hosts = [str(h) for h in hosts] if isinstance(hosts, list) else []
        message = 'adopted from the Go dashboard'
        if status in {s.value for s in PipelineStatus} and status != PipelineStatus.RUNNING:
            final = PipelineStatus(status)
        else:  # RUNNING, IDLE, STAGE-N: the Go run never finished (its executor crashed), it cannot resume here
            final, finished_at, message = PipelineStatus.CANCELLED, finished_at or now, INTERRUPTED_MESSAGE
            interrupted += 1
        state = {
            'hosts': {h: {'state': _PIPELINE_HOST_STATE[final]} for h in hosts},
            'cells': {},
            'cancel_requested': False,
            'message': message,
        }
        db.execute(
            'UPDATE pipelines SET status = ?, finished_at = ?, updated_at = ?, hosts = ?, options_json = ?, '
            'host_status_json = ? WHERE id = ?',
            [
                final.value,
                finished_at,
                finished_at or created_at,
                json.dumps(hosts),
                json.dumps({'ops': list(GO_PIPELINE_OPS.get(name, ())), 'go_status': status}),
                json.dumps(state),
                pid,
            ],
        )
    return len(rows), interrupted


def _category(category: str, level: str) -> EventCategory:
    if level == EventLevel.ERROR:
        return EventCategory.ERROR
    # `ops` (the Go lifecycle) and `command` record what someone ran: that is our audit trail
    return EventCategory.AUDIT if category in ('ops', 'command') else EventCategory.SYSTEM


def adopt_events(db: Database) -> int:
    """Map Go event categories (`ops` …) and levels to ours; the original category stays in `details.go_category`."""
    categories = [c.value for c in EventCategory]
    levels = [lv.value for lv in EventLevel]
    marks = ', '.join('?' for _ in categories)
    level_marks = ', '.join('?' for _ in levels)
    rows = db.execute(
        f'SELECT id, category, level, details FROM event_log WHERE category NOT IN ({marks})'
        f' OR level NOT IN ({level_marks}) OR category IS NULL OR level IS NULL',
        [*categories, *levels],
    ).fetchall()
    for eid, category, level, details in rows:
        new_level = level if level in levels else _LEVELS.get(str(level).lower(), EventLevel.INFO)
        new_category = category if category in categories else _category(str(category), str(new_level))
        if new_category != category:
            parsed = _loads(details)
            extra = parsed if isinstance(parsed, dict) else ({'go_details': details} if details else {})
            details = json.dumps({**extra, 'go_category': category})
        db.execute(
            'UPDATE event_log SET category = ?, level = ?, details = ? WHERE id = ?',
            [str(new_category), str(new_level), details, eid],
        )
    return len(rows)


def go_only_tables(db: Database) -> list[str]:
    """Tables of the Go dashboard NixFleet does not use (kept, never read)."""
    return [
        name
        for name, columns in GO_ONLY_TABLES.items()
        if _table_exists(db, name) and columns <= set(_columns(db, name))
    ]


def adopt_go_dashboard(db: Database) -> dict[str, Any]:
    """Run every step; when anything was in Go form, journal one `migrate` event. Returns what was done."""
    now = iso_z(datetime.now(UTC))
    rebuilt = drop_go_foreign_keys(db)
    timestamps = normalize_timestamps(db)  # first: the steps below compare and copy timestamps
    hosts = adopt_hosts(db)
    commands, orphaned = adopt_commands(db, now)
    pipelines, interrupted = adopt_pipelines(db, now)
    events = adopt_events(db)
    safe = safe_host_ids(db, now)  # last: it moves commands, events and runs adopted above to the safe ids
    legacy = go_only_tables(db)
    summary: dict[str, Any] = {
        'hosts': db.execute('SELECT COUNT(*) FROM hosts').fetchone()[0],
        'commands_adopted': commands,
        'commands_orphaned': orphaned,
        'pipelines_adopted': pipelines,
        'pipelines_interrupted': interrupted,
        'events_mapped': events,
        'timestamps_converted': dict(timestamps),
        'foreign_keys_dropped': rebuilt,
        'go_only_tables': legacy,
        **safe.summary(),
        'state_version': (db.execute('SELECT version FROM state_version WHERE id = 1').fetchone() or [0])[0],
    }
    if not (rebuilt or timestamps or commands or pipelines or events or safe):
        return summary  # nothing in Go form (any more): a database NixFleet created, or adopted already
    message = (
        f'adopted the Go dashboard database: {summary["hosts"]} hosts, {commands} commands '
        f'({orphaned} unfinished marked ORPHANED), {pipelines} pipelines ({interrupted} interrupted), '
        f'state version {summary["state_version"]}'
    )
    if safe:
        message += f'; {safe.describe()} (one event each)'
    journal(db, now, message, details=summary)
    log.info('%s (hosts: %d set offline)', message, hosts)
    return summary
