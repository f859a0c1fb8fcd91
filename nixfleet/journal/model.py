"""`Journal`: the read model of the journal (commands, events, pipeline runs) that API, CLI and UI query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nixfleet.journal import reads
from nixfleet.journal.filters import CommandFilter, EventFilter
from nixfleet.journal.query import Page
from nixfleet.store import Store


class Journal:
    """Read commands, events and pipeline runs from the journal, each query on the store thread.

    Pages are newest first and carry the number of matching rows; page by `offset` (page numbers) or by `after`,
    the `Page.next_key` of the previous page (stable while new rows arrive).
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    async def commands(
        self, flt: CommandFilter, *, limit: int, offset: int = 0, after: Sequence[Any] | None = None
    ) -> Page:
        """Commands matching `flt`, as whole journal rows."""
        return await self._store.read(lambda db: reads.commands_page(db, flt, limit=limit, offset=offset, after=after))

    async def events(
        self, flt: EventFilter, *, limit: int, offset: int = 0, after: Sequence[Any] | None = None
    ) -> Page:
        """Events matching `flt`, in their wire form."""
        return await self._store.read(lambda db: reads.events_page(db, flt, limit=limit, offset=offset, after=after))

    async def pipeline_runs(self, before: str | None = None, limit: int = 20) -> Page:
        """Pipeline runs created before `before` (all when None), as their client views."""
        return await self._store.read(lambda db: reads.pipeline_runs(db, before, limit))

    async def host_commands(self, host: str, limit: int) -> list[dict[str, Any]]:
        """The host's newest `limit` commands that have a log file, oldest first."""
        return await self._store.read(lambda db: reads.host_commands(db, host, limit))

    async def host_commands_of(self, host: str, ops: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """The host's newest `limit` commands of `ops`, newest first (e.g. its switches: its generation history)."""
        return await self._store.read(lambda db: reads.host_commands_of(db, host, ops, limit))

    async def hosts(self) -> list[str]:
        """Every host id that has commands or events (also hosts removed since)."""
        return await self._store.read(reads.history_hosts)
