"""The journal records the op engine reads back: unfinished and recent commands and runs, one of them by id.

Each function takes the sqlite-utils `Database`, so it runs on the store thread.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from nixfleet.journal.query import Where, read_rows
from nixfleet.journal.reads import COMMANDS, PIPELINES
from nixfleet.models import NOT_RUN, TERMINAL
from nixfleet.ops.commands import Command
from nixfleet.ops.pipeline_store import PipelineRun
from nixfleet.timeutil import parse_iso


def command_row(db: Database, command_id: str) -> dict[str, Any] | None:
    """One command row by id."""
    rows = read_rows(db, COMMANDS, Where().equals('id', command_id), limit=1)
    return rows[0] if rows else None


def active_commands(db: Database) -> list[Command]:
    """Commands the journal says have not ended, oldest first."""
    where = Where().add(f'status NOT IN ({", ".join("?" for _ in TERMINAL)})', *(s.value for s in TERMINAL))
    return [Command.from_row(r) for r in reversed(read_rows(db, COMMANDS, where, limit=-1))]


def last_outcomes(db: Database) -> dict[str, Command]:
    """Each host's agent command that ended last, `NOT_RUN` ones passed over (`ran_on_agent`): one query at startup."""
    skipped = ', '.join('?' for _ in NOT_RUN)
    rows = db.execute(  # SQLite takes a bare column of a MAX() aggregate from the row holding the maximum
        f'SELECT *, MAX(finished_at) AS _last FROM {COMMANDS.table} WHERE host_id IS NOT NULL '
        f'AND agent_command IS NOT NULL AND finished_at IS NOT NULL AND status NOT IN ({skipped}) GROUP BY host_id',
        [s.value for s in NOT_RUN],
    )
    names = [d[0] for d in rows.description]
    commands = (Command.from_row(dict(zip(names, row, strict=True))) for row in rows.fetchall())
    return {str(cmd.host): cmd for cmd in commands}


def recent_commands(db: Database, since: str, limit: int = -1) -> list[Command]:
    """The newest `limit` (default: all) commands created since `since` (ISO), oldest first."""
    rows = read_rows(db, COMMANDS, Where().between('created_at', since, None), limit=limit)
    return [Command.from_row(r) for r in reversed(rows)]


def latest_commands(db: Database, host: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` command rows, newest first, of one host (of all when None)."""
    return read_rows(db, COMMANDS, Where().equals('host_id', host), limit=limit)


def run_records(db: Database, pipeline_id: str) -> dict[tuple[int, str | None], tuple[str, str]]:
    """(stage, host) → (command id, status) of every command of a run (host None for fleet-wide stages)."""
    rows = reversed(read_rows(db, COMMANDS, Where().equals('pipeline_id', pipeline_id), limit=-1))
    return {(int(r['stage']), r['host_id']): (r['id'], r['status']) for r in rows if r['stage'] is not None}


def get_run(db: Database, pipeline_id: str) -> PipelineRun | None:
    """One run by id."""
    rows = read_rows(db, PIPELINES, Where().equals('id', pipeline_id), limit=1)
    return PipelineRun.from_row(rows[0]) if rows else None


def running_runs(db: Database) -> list[PipelineRun]:
    """Runs the journal says are still RUNNING, oldest first."""
    rows = reversed(read_rows(db, PIPELINES, Where().equals('status', 'RUNNING'), limit=-1))
    return [PipelineRun.from_row(r) for r in rows if r.get('options_json')]


def recent_runs(db: Database, since: str, limit: int = 200) -> list[PipelineRun]:
    """Runs created since `since` (ISO), newest first."""
    rows = read_rows(db, PIPELINES, Where().between('created_at', since, None), limit=limit)
    return [PipelineRun.from_row(r) for r in rows if r.get('options_json')]


def finished_since(db: Database, since: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Commands and pipeline runs (not RUNNING) that finished at or after `since`: their rows."""
    commands = read_rows(db, COMMANDS, Where().between('finished_at', since, None), limit=-1)
    where = Where().between('finished_at', since, None).add("status != 'RUNNING'")
    return commands, read_rows(db, PIPELINES, where, limit=-1)


def last_command_ends(db: Database) -> dict[str, float]:
    """When each host's last command ended (read once at startup, for the compartments)."""
    rows = db.execute('SELECT host_id, MAX(finished_at) FROM commands WHERE finished_at IS NOT NULL GROUP BY host_id')
    return {host: at for host, text in rows.fetchall() if host and (at := parse_iso(text)) is not None}
