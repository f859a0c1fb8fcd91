"""Writes of the `hosts` table in plain SQL, for the host registry (the one writer of host facts) and LiveState."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlite_utils import Database


def update_host(host: str, fields: Mapping[str, Any]) -> Callable[[Database], None]:
    """A store write setting `fields` (our own column names) of one host row.

    Plain SQL: sqlite-utils' `update` first reads the table's schema and the row (about 110 µs a call against 15 µs
    here), and the store thread's Python time is what the event loop waits for the GIL behind.
    """
    sql = f'UPDATE hosts SET {", ".join(f"[{name}] = ?" for name in fields)} WHERE id = ?'
    params = [*fields.values(), host]

    def write(db: Database) -> None:
        db.execute(sql, params)

    return write


def upsert_host(row: Mapping[str, Any]) -> Callable[[Database], None]:
    """A store write inserting a host row, or setting its columns when it exists (what sqlite-utils' `upsert` does,
    without its schema reads: 140 µs a call against 15 µs; a registration storm writes one per host)."""
    columns = [name for name in row if name != 'id']
    sql = (
        f'INSERT INTO hosts ([id], {", ".join(f"[{name}]" for name in columns)}) VALUES (?{", ?" * len(columns)}) '
        f'ON CONFLICT(id) DO UPDATE SET {", ".join(f"[{name}] = excluded.[{name}]" for name in columns)}'
    )
    params = [row['id'], *(row[name] for name in columns)]

    def write(db: Database) -> None:
        db.execute(sql, params)

    return write


def delete_host(host: str) -> Callable[[Database], None]:
    """A store write deleting one host row (its commands and logs are the op engine's to delete)."""

    def write(db: Database) -> None:
        db.execute('DELETE FROM hosts WHERE id = ?', [host])

    return write


def mark_all_offline(db: Database) -> None:
    """Mark every stored host offline (at startup: no agent is connected yet)."""
    db.execute("UPDATE hosts SET status = 'offline' WHERE status != 'offline' OR status IS NULL")


def update_live(rows: list[tuple[str, str | None, str]]) -> Callable[[Database], None]:
    """A store write of heartbeat-only data in one batch: `(last_seen, metrics_json, host)` per row."""

    def write(db: Database) -> None:
        db.conn.executemany('UPDATE hosts SET last_seen = ?, metrics_json = ? WHERE id = ?', rows)

    return write
