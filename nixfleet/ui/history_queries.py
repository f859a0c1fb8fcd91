"""Read-only queries behind the History and Pipelines views and the output panel's restore (run on the store thread).

Each function takes the sqlite-utils `Database` so callers pass it to `await store.read(...)`. Filters are plain
values; paging is by offset with a total count (the views show "page N of M").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from nixfleet.events import EVENT_FIELDS, event_row
from nixfleet.ops.pipeline_store import PipelineRun

COMMAND_FIELDS = (
    'id',
    'host_id',
    'op',
    'status',
    'actor',
    'pipeline_id',
    'stage',
    'created_at',
    'started_at',
    'finished_at',
    'exit_code',
    'code',
    'error',
    'message',
    'error_line',
    'output_file',
)


@dataclass(slots=True, kw_only=True)
class CommandFilter:
    """Which commands the History view lists (None or empty: any)."""

    host: str | None = None
    op: str | None = None
    statuses: Sequence[str] = ()
    since: str | None = None  #: UTC ISO, inclusive
    until: str | None = None  #: UTC ISO, exclusive


@dataclass(slots=True, kw_only=True)
class EventFilter:
    """Which events the History view lists (None or empty: any)."""

    host: str | None = None
    op: str | None = None  #: matches the action `op:<op>` and `pipeline:<op>`
    levels: Sequence[str] = ()
    since: str | None = None
    until: str | None = None


@dataclass(slots=True)
class Page:
    """One page of rows plus the number of rows all pages hold."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def _where(clauses: list[str]) -> str:
    return f' WHERE {" AND ".join(clauses)}' if clauses else ''


def _in(column: str, values: Sequence[str], clauses: list[str], params: list[Any]) -> None:
    if values:
        clauses.append(f'{column} IN ({", ".join("?" for _ in values)})')
        params.extend(values)


def _time(column: str, since: str | None, until: str | None, clauses: list[str], params: list[Any]) -> None:
    if since:
        clauses.append(f'{column} >= ?')
        params.append(since)
    if until:
        clauses.append(f'{column} < ?')
        params.append(until)


def commands_page(db: Database, flt: CommandFilter, offset: int = 0, limit: int = 50) -> Page:
    """Commands matching `flt`, newest first."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.host:
        clauses.append('host_id = ?')
        params.append(flt.host)
    if flt.op:
        clauses.append('op = ?')
        params.append(flt.op)
    _in('status', flt.statuses, clauses, params)
    _time('created_at', flt.since, flt.until, clauses, params)
    where = _where(clauses)
    total = db.execute(f'SELECT COUNT(*) FROM commands{where}', params).fetchone()[0]
    rows = db.execute_returning_dicts(
        f'SELECT {", ".join(COMMAND_FIELDS)} FROM commands{where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?',
        [*params, limit, offset],
    )
    return Page(rows, int(total))


def events_page(db: Database, flt: EventFilter, offset: int = 0, limit: int = 50) -> Page:
    """Events matching `flt`, newest first."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.host:
        clauses.append('host_id = ?')
        params.append(flt.host)
    if flt.op:
        clauses.append('action IN (?, ?)')
        params.extend([f'op:{flt.op}', f'pipeline:{flt.op}'])
    _in('level', flt.levels, clauses, params)
    _time('timestamp', flt.since, flt.until, clauses, params)
    where = _where(clauses)
    total = db.execute(f'SELECT COUNT(*) FROM event_log{where}', params).fetchone()[0]
    raw = db.execute(
        f'SELECT {", ".join(EVENT_FIELDS)} FROM event_log{where} ORDER BY id DESC LIMIT ? OFFSET ?',
        [*params, limit, offset],
    ).fetchall()
    return Page([event_row(dict(zip(EVENT_FIELDS, r, strict=True))) for r in raw], int(total))


def history_hosts(db: Database) -> list[str]:
    """Every host id that has commands or events (also hosts removed since)."""
    rows = db.execute(
        'SELECT host_id FROM commands WHERE host_id IS NOT NULL GROUP BY host_id '
        'UNION SELECT host_id FROM event_log WHERE host_id IS NOT NULL GROUP BY host_id'
    ).fetchall()
    return sorted({str(r[0]) for r in rows})


def host_commands(db: Database, host: str, limit: int) -> list[dict[str, Any]]:
    """The host's newest `limit` commands that have a log file, oldest first."""
    rows = db.execute_returning_dicts(
        f'SELECT {", ".join(COMMAND_FIELDS)} FROM commands WHERE host_id = ? AND output_file IS NOT NULL '
        'ORDER BY created_at DESC, id DESC LIMIT ?',
        [host, limit],
    )
    return rows[::-1]


def pipeline_runs(db: Database, before: str | None = None, limit: int = 20) -> Page:
    """Runs created before `before` (UTC ISO; all when None), newest first, as their client views.

    `total` counts every run before `before`, so `total > len(rows)` means there are older ones still.
    """
    where, params = ('WHERE created_at < ?', [before]) if before else ('', [])
    total = db.execute(f'SELECT COUNT(*) FROM pipelines {where}', params).fetchone()[0]
    rows = db.execute_returning_dicts(
        f'SELECT * FROM pipelines {where} ORDER BY created_at DESC, id DESC LIMIT ?', [*params, limit]
    )
    return Page([PipelineRun.from_row(r).view() for r in rows if r.get('options_json')], int(total))


def pipeline_commands(db: Database, pipeline_id: str) -> list[dict[str, Any]]:
    """Every command of a run (its grid cells), in creation order."""
    return db.execute_returning_dicts(
        f'SELECT {", ".join(COMMAND_FIELDS)} FROM commands WHERE pipeline_id = ? ORDER BY created_at, id',
        [pipeline_id],
    )
