"""The store: one SQLite connection owned by one thread, so every write is serialized (one writer).

Coroutines hand a function `fn(db)` to `await store.write(fn)`; it runs on the store thread inside one
transaction (`db.atomic()`), and the awaiting coroutine resumes after the commit, so callers emit changes only
for what is durable (commit, then emit).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

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


class Store:
    """Owner of the SQLite file: migrations at open, then serialized transactions on a dedicated thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._identity: tuple[int, int] | None = None

    @property
    def is_open(self) -> bool:
        """Whether the store thread and its connection are up."""
        return self._executor is not None

    def open(self) -> None:
        """Open the connection on the store thread and apply pending migrations (blocking; call at startup)."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix='nixfleet-store')
        self._submit(self._open_in_thread).result()

    def _open_in_thread(self) -> None:
        db = connect(self.path)
        migrations.apply(db)
        self._local.db = db
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
        if self._executor is None:
            return
        try:
            self._submit(self._close_in_thread).result(timeout=10)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _close_in_thread(self) -> None:
        db: Database | None = getattr(self._local, 'db', None)
        if db is not None:
            db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            db.conn.close()
            self._local.db = None

    def _submit(self, fn: Callable[[], T]):  # type: ignore[no-untyped-def]
        if self._executor is None:
            raise RuntimeError('store is not open')
        return self._executor.submit(fn)

    def _atomic(self, fn: Callable[[Database], T]) -> T:
        return immediate(self._local.db, fn)

    def _plain(self, fn: Callable[[Database], T]) -> T:
        return fn(self._local.db)

    async def write(self, fn: Callable[[Database], T]) -> T:
        """Run `fn(db)` in one transaction on the store thread; return its result after the commit."""
        return await asyncio.wrap_future(self._submit(lambda: self._atomic(fn)))

    async def read(self, fn: Callable[[Database], T]) -> T:
        """Run a read-only `fn(db)` on the store thread."""
        return await asyncio.wrap_future(self._submit(lambda: self._plain(fn)))

    def write_sync(self, fn: Callable[[Database], T]) -> T:
        """Blocking `write`, for startup and shutdown stages only."""
        return self._submit(lambda: self._atomic(fn)).result()

    def read_sync(self, fn: Callable[[Database], T]) -> T:
        """Blocking `read`, for startup stages and the CLI only."""
        return self._submit(lambda: self._plain(fn)).result()
