"""The store: one SQLite connection owned by one thread, so every write is serialized (one writer).

Coroutines hand a function `fn(db)` to `await store.write(fn)`; it runs on the store thread inside a transaction,
and the awaiting coroutine resumes after the commit, so callers emit changes only for what is durable (commit, then
emit). Writes queued at the same moment share one commit (group commit), each in its own savepoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from nixfleet.store.schema import migrations

log = logging.getLogger(__name__)
T = TypeVar('T')


def connect(path: Path) -> Database:
    """Open the database file with NixFleet's pragmas (WAL, foreign keys, busy timeout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    db = Database(conn)
    db.execute('PRAGMA journal_mode=WAL')
    db.execute('PRAGMA synchronous=NORMAL')
    db.execute('PRAGMA busy_timeout=5000')
    db.execute('PRAGMA foreign_keys=ON')
    return db


def immediate(db: Database, fn: Callable[[Database], T]) -> T:
    """Run `fn(db)` in a `BEGIN IMMEDIATE` transaction.

    A deferred transaction that reads first and then writes cannot wait for another process's write lock (SQLite
    reports "database is locked" at once); taking the write lock up front lets `busy_timeout` do its job, e.g.
    while the `nixfleet token` CLI writes to the same file.
    """
    db.execute('BEGIN IMMEDIATE')
    try:
        result = fn(db)
    except BaseException:
        if db.conn.in_transaction:
            db.execute('ROLLBACK')
        raise
    db.execute('COMMIT')
    return result


#: Most writes one commit takes (a burst of registrations after a restart is committed in groups of this size).
GROUP_LIMIT = 256


@dataclass(slots=True)
class _Job:
    """One call for the store thread: `fn(db)`, in a transaction when `atomic`, answered on `future`."""

    fn: Callable[[Any], Any]  # takes the connection (None only for the thread's own open)
    atomic: bool
    future: asyncio.Future[Any] | concurrent.futures.Future[Any]
    loop: asyncio.AbstractEventLoop | None = None  # the awaiting coroutine's loop (None: a blocking caller)

    def abandoned(self) -> bool:
        """Whether the caller stopped waiting before the job ran (it is then skipped, as a cancelled one was)."""
        return self.future.cancelled()


#: Tells the store thread to stop once it has handled everything queued before it.
_STOP = object()


def _settle(outcomes: list[tuple[Any, Any, BaseException | None]]) -> None:
    """Answer waiting callers (a coroutine's future on its loop, a blocking caller's from any thread) with what their
    jobs returned or raised."""
    for future, value, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


class Store:
    """Owner of the SQLite file: migrations at open, then serialized transactions on a dedicated thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: Database | None = None  # used on the store thread only
        self._identity: tuple[int, int] | None = None

    @property
    def is_open(self) -> bool:
        """Whether the store thread and its connection are up."""
        return self._thread is not None

    def open(self) -> None:
        """Open the connection on the store thread and apply pending migrations (blocking; call at startup)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._serve, name='nixfleet-store', daemon=True)
        self._thread.start()
        try:
            self._blocking(self._open_in_thread, atomic=False)
        except BaseException:
            self._stop_thread()
            raise

    def _open_in_thread(self, _: Database | None) -> None:
        db = connect(self.path)
        migrations.apply(db)
        self._db = db
        self._identity = self._file_identity()
        log.info('store open: %s (%d migrations applied)', self.path, len(migrations.applied(db)))

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def file_intact(self) -> bool:
        """Whether the database path still names the file the store opened (a deleted or replaced file means every
        write goes to an unlinked inode, lost at the next restart)."""
        return self._identity is not None and self._file_identity() == self._identity

    def close(self) -> None:
        """Checkpoint and close the connection, then stop the store thread."""
        if self._thread is None:
            return
        try:
            self._blocking(self._close_in_thread, atomic=False, timeout=10)
        finally:
            self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread.join()
            self._thread = None

    def _close_in_thread(self, _: Database | None) -> None:
        if self._db is not None:
            self._db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            self._db.conn.close()
            self._db = None

    # -- calls ---------------------------------------------------------------------------------------------------
    async def write(self, fn: Callable[[Database], T]) -> T:
        """Run `fn(db)` in a transaction on the store thread; return its result after the commit."""
        return await self._call(fn, atomic=True)

    async def read(self, fn: Callable[[Database], T]) -> T:
        """Run a read-only `fn(db)` on the store thread."""
        return await self._call(fn, atomic=False)

    def write_sync(self, fn: Callable[[Database], T]) -> T:
        """Blocking `write`, for startup and shutdown stages only."""
        return self._blocking(fn, atomic=True)  # type: ignore[no-any-return]

    def read_sync(self, fn: Callable[[Database], T]) -> T:
        """Blocking `read`, for startup stages and the CLI only."""
        return self._blocking(fn, atomic=False)  # type: ignore[no-any-return]

    async def _call(self, fn: Callable[[Database], T], *, atomic: bool) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(_Job(fn, atomic, future, loop))
        return await future

    def _blocking(self, fn: Callable[[Any], Any], *, atomic: bool, timeout: float | None = None) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._put(_Job(fn, atomic, future))
        return future.result(timeout)

    def _put(self, job: _Job) -> None:
        if self._thread is None:
            raise RuntimeError('store is not open')
        self._jobs.put(job)

    # -- the store thread ----------------------------------------------------------------------------------------
    def _serve(self) -> None:
        """Take jobs in order: a write and the writes queued right behind it commit together; reads run alone."""
        carried: _Job | object | None = None
        while True:
            job = carried if carried is not None else self._jobs.get()
            carried = None
            if not isinstance(job, _Job):
                return
            if not job.atomic:
                self._answer(self._run_plain(job))
                continue
            group = [job]
            while len(group) < GROUP_LIMIT:
                try:
                    queued = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(queued, _Job) or not queued.atomic:
                    carried = queued
                    break
                group.append(queued)
            self._answer(self._run_group([j for j in group if not j.abandoned()]))

    def _run_plain(self, job: _Job) -> list[tuple[_Job, Any, BaseException | None]]:
        if job.abandoned():
            return []
        try:
            return [(job, job.fn(self._db), None)]
        except BaseException as exc:  # handed to the caller, as an executor would
            return [(job, None, exc)]

    def _run_group(self, group: list[_Job]) -> list[tuple[_Job, Any, BaseException | None]]:
        """Run each write in its own savepoint of one `BEGIN IMMEDIATE` transaction: a write that raises is undone
        alone; a failed commit fails them all."""
        db = self._db
        if not group:
            return []
        if db is None:
            return [(job, None, RuntimeError('store is not open')) for job in group]
        if len(group) == 1:
            job = group[0]
            try:
                return [(job, immediate(db, job.fn), None)]
            except BaseException as exc:
                return [(job, None, exc)]
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            db.execute('BEGIN IMMEDIATE')
            for job in group:
                outcomes.append(self._in_savepoint(db, job))
            db.execute('COMMIT')
        except BaseException as exc:
            if db.conn.in_transaction:
                db.execute('ROLLBACK')
            return [(job, None, exc) for job in group]
        return outcomes

    @staticmethod
    def _in_savepoint(db: Database, job: _Job) -> tuple[_Job, Any, BaseException | None]:
        db.execute('SAVEPOINT store_job')
        try:
            value = job.fn(db)
        except BaseException as exc:
            db.execute('ROLLBACK TO store_job')
            db.execute('RELEASE store_job')
            return job, None, exc
        db.execute('RELEASE store_job')
        return job, value, None

    @staticmethod
    def _answer(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
        """Hand results back: blocking callers at once, coroutines with one wake-up of their loop per group."""
        by_loop: dict[asyncio.AbstractEventLoop | None, list[tuple[Any, Any, BaseException | None]]] = {}
        for job, value, error in outcomes:
            by_loop.setdefault(job.loop, []).append((job.future, value, error))
        _settle(by_loop.pop(None, []))  # blocking callers' futures are thread-safe: answered here
        for loop, answers in by_loop.items():
            assert loop is not None
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:  # the caller's loop is closed: nobody waits any more
                log.debug('store results for a closed event loop dropped (%d)', len(answers))
