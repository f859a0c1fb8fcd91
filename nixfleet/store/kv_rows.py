"""Small key/value rows in plain SQL: the stored state version and the `settings` table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sqlite_utils import Database


def read_version(db: Database) -> int:
    """The stored state version (0 before the first start)."""
    row = db.execute('SELECT version FROM state_version WHERE id = 1').fetchone()
    return int(row[0]) if row else 0


def write_version(version: int) -> Callable[[Database], None]:
    """A store write setting the stored state version."""

    def write(db: Database) -> None:
        db.execute('INSERT OR REPLACE INTO state_version (id, version) VALUES (1, ?)', [version])

    return write


def read_settings(db: Database, keys: Iterable[str]) -> dict[str, str]:
    """The values of these `settings` keys that exist."""
    wanted = list(keys)
    marks = ', '.join('?' for _ in wanted)
    rows = db.execute(f'SELECT key, value FROM settings WHERE key IN ({marks})', wanted).fetchall()
    return {str(k): str(v) for k, v in rows}


def write_settings(db: Database, values: Mapping[str, str]) -> None:
    """Set `settings` keys (inside the caller's transaction)."""
    db.conn.executemany(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
        list(values.items()),
    )
