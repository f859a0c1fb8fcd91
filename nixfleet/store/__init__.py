"""SQLite store: the single writer thread, schema migrations, retention, host-row writes and the Go import."""

from nixfleet.store.database import Store

__all__ = ['Store']
