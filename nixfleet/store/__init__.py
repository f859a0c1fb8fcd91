"""SQLite store: schema migrations, the single writer, queries and command log files."""

from nixfleet.store.database import Store

__all__ = ['Store']
