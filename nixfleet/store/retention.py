"""Retention (docs/architecture.md#retention): delete what is older than the configured number of days, a little at a
time.

- Commands in a terminal state that finished (without a finish time: were created) more than
  `NIXFLEET_CMD_RETENTION_DAYS` ago, and their log files. A non-terminal command is never deleted.
- Pipelines that are no longer running and finished that long ago, unless one of their commands is still active.
- Event-log entries older than `NIXFLEET_LOG_RETENTION_DAYS`.

Every batch of at most `batch` rows is its own short write transaction on the store thread, so the writes of the
running dashboard (registers, facts, events) go in between batches instead of waiting for the whole sweep. Log
files are deleted after their rows are committed, on a worker thread, and only inside the logs directory. The
dashboard runs `job` daily (`schedule`); the in-memory state is not touched: it holds the last hour only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler
from sqlite_utils import Database

from nixfleet.config import Settings
from nixfleet.models import TERMINAL, PipelineStatus
from nixfleet.paths import inside
from nixfleet.scheduling import every
from nixfleet.store.database import Store
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

DAY = 86_400.0
#: Rows deleted per write transaction (a few milliseconds each on a large store).
BATCH = 2_000
#: How often the job runs, and how long after startup it first runs.
INTERVAL = timedelta(days=1)
FIRST_RUN_AFTER = timedelta(minutes=10)

_TERMINAL = tuple(sorted(s.value for s in TERMINAL))
_IN_TERMINAL = f'({", ".join("?" * len(_TERMINAL))})'
#: When a command or pipeline ended: its finish time, else its creation time (never an empty string).
_ENDED = "COALESCE(NULLIF(finished_at, ''), created_at)"


@dataclass(slots=True, kw_only=True)
class RetentionResult:
    """What one sweep deleted, and how long it took."""

    commands: int = 0
    pipelines: int = 0
    events: int = 0
    log_files: int = 0
    seconds: float = 0.0

    @property
    def deleted(self) -> int:
        """Rows deleted in all tables."""
        return self.commands + self.pipelines + self.events


class Retention:
    """Delete old commands (with their log files), pipelines and events in small transactions."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        logs_dir: Path,
        cmd_retention_days: float,
        log_retention_days: float,
        batch: int = BATCH,
    ) -> None:
        self._store = store
        self._clock = clock
        self._logs_dir = logs_dir
        self._cmd_days = cmd_retention_days
        self._log_days = log_retention_days
        self._batch = batch

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, clock: Clock) -> Retention:
        """Retention with the dashboard's settings."""
        return cls(
            store,
            clock,
            logs_dir=settings.logs_dir,
            cmd_retention_days=settings.cmd_retention_days,
            log_retention_days=settings.log_retention_days,
        )

    async def run(self) -> RetentionResult:
        """Sweep once: commands (and their log files), then pipelines, then events."""
        started = time.monotonic()
        now = self._clock()
        result = RetentionResult()
        cmd_cutoff, event_cutoff = iso(now - self._cmd_days * DAY), iso(now - self._log_days * DAY)
        while True:
            count, files = await self._store.write(lambda db: self._delete_commands(db, cmd_cutoff))
            result.commands += count
            result.log_files += await asyncio.to_thread(self._delete_files, files)
            if count < self._batch:
                break
        result.pipelines = await self._in_batches(lambda db: self._delete_pipelines(db, cmd_cutoff))
        result.events = await self._in_batches(lambda db: self._delete_events(db, event_cutoff))
        result.seconds = time.monotonic() - started
        return result

    async def job(self) -> None:
        """The daily job: sweep, and say what went (once, when anything did)."""
        result = await self.run()
        if result.deleted or result.log_files:
            log.info(
                'retention: deleted %d commands (%d log files), %d pipelines, %d events in %.1f s',
                result.commands,
                result.log_files,
                result.pipelines,
                result.events,
                result.seconds,
            )

    def schedule(self, scheduler: BaseScheduler) -> None:
        """Add the daily job (first run `FIRST_RUN_AFTER` after startup, so a restart loop cannot skip it)."""
        every(scheduler, INTERVAL.total_seconds(), self.job, 'retention', first=datetime.now(UTC) + FIRST_RUN_AFTER)

    # -- one batch each (on the store thread) ---------------------------------------------------------------------
    async def _in_batches(self, delete: Callable[[Database], int]) -> int:
        total = 0
        while True:
            count = await self._store.write(delete)
            total += count
            if count < self._batch:
                return total

    def _delete_commands(self, db: Database, cutoff: str) -> tuple[int, list[str]]:
        rows = db.execute(
            f'SELECT id, output_file FROM commands WHERE status IN {_IN_TERMINAL} AND {_ENDED} < ? LIMIT ?',
            [*_TERMINAL, cutoff, self._batch],
        ).fetchall()
        db.conn.executemany('DELETE FROM commands WHERE id = ?', [(row[0],) for row in rows])
        return len(rows), [row[1] for row in rows if row[1]]

    def _delete_pipelines(self, db: Database, cutoff: str) -> int:
        cursor = db.execute(
            f'DELETE FROM pipelines WHERE id IN (SELECT id FROM pipelines p WHERE status != ? AND {_ENDED} < ? '
            f'AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.pipeline_id = p.id AND c.status NOT IN {_IN_TERMINAL})'
            ' LIMIT ?)',
            [PipelineStatus.RUNNING.value, cutoff, *_TERMINAL, self._batch],
        )
        return int(cursor.rowcount or 0)

    def _delete_events(self, db: Database, cutoff: str) -> int:
        cursor = db.execute(
            'DELETE FROM event_log WHERE id IN (SELECT id FROM event_log WHERE timestamp < ? LIMIT ?)',
            [cutoff, self._batch],
        )
        return int(cursor.rowcount or 0)

    # -- log files (worker thread) --------------------------------------------------------------------------------
    def _delete_files(self, paths: list[str]) -> int:
        """Delete the log files of deleted commands (only inside the logs dir); drop host dirs left empty."""
        root = self._logs_dir.resolve()
        deleted = 0
        parents: set[Path] = set()
        for text in paths:
            path = inside(root, text)  # a stored path (a migrated database's too) may point anywhere, or hold a NUL
            if path is None:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning('retention: could not delete %s: %s', path, exc)
                continue
            deleted += 1
            parents.add(path.parent)
        for parent in parents - {root}:
            with contextlib.suppress(OSError):  # not empty: newer logs of the host
                parent.rmdir()
        return deleted
