"""The journal's listings: commands, events and pipeline runs as API, CLI and UI page through them.

Each function takes the sqlite-utils `Database`, so it runs on the store thread (`Journal` does that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from nixfleet.events import EVENT_FIELDS, event_row
from nixfleet.journal.filters import CommandFilter, EventFilter
from nixfleet.journal.query import Listing, Page, Where, read_page, read_rows
from nixfleet.ops.pipeline_store import PipelineRun

COMMANDS = Listing('commands', None, ('created_at', 'id'))
EVENTS = Listing('event_log', EVENT_FIELDS, ('id',))
PIPELINES = Listing('pipelines', None, ('created_at', 'id'))


def commands_page(
    db: Database, flt: CommandFilter, *, limit: int, offset: int = 0, after: Sequence[Any] | None = None
) -> Page:
    """Commands matching `flt` (whole journal rows), newest first."""
    return read_page(db, COMMANDS, flt.where(), limit=limit, offset=offset, after=after)


def events_page(
    db: Database, flt: EventFilter, *, limit: int, offset: int = 0, after: Sequence[Any] | None = None
) -> Page:
    """Events matching `flt` in their wire form, newest first."""
    page = read_page(db, EVENTS, flt.where(), limit=limit, offset=offset, after=after)
    page.rows = [event_row(row) for row in page.rows]
    return page


def recent_events(db: Database, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` events in their wire form, newest first."""
    return [event_row(row) for row in read_rows(db, EVENTS, Where(), limit=limit)]


def history_hosts(db: Database) -> list[str]:
    """Every host id that has commands or events (also hosts removed since)."""
    rows = db.execute(
        'SELECT host_id FROM commands WHERE host_id IS NOT NULL GROUP BY host_id '
        'UNION SELECT host_id FROM event_log WHERE host_id IS NOT NULL GROUP BY host_id'
    ).fetchall()
    return sorted({str(r[0]) for r in rows})


def host_commands(db: Database, host: str, limit: int) -> list[dict[str, Any]]:
    """The host's newest `limit` commands that have a log file (whole journal rows), oldest first."""
    where = Where().equals('host_id', host).add('output_file IS NOT NULL')
    return read_rows(db, COMMANDS, where, limit=limit)[::-1]


def host_commands_of(db: Database, host: str, ops: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """The host's newest `limit` commands of `ops` (whole journal rows), newest first."""
    return read_rows(db, COMMANDS, Where().equals('host_id', host).among('op', list(ops)), limit=limit)


def pipeline_runs(db: Database, before: str | None = None, limit: int = 20) -> Page:
    """Runs created before `before` (UTC ISO; all when None), newest first, as their client views.

    `total` counts every run before `before`, so `total > len(rows)` means there are older ones still.
    """
    where = Where().add('created_at < ?', before) if before else Where()
    page = read_page(db, PIPELINES, where, limit=limit)
    page.rows = [PipelineRun.from_row(r).view() for r in page.rows if r.get('options_json')]
    return page
