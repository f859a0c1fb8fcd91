"""The event log (docs/architecture.md#event-log): every mutation and every transition a human cares about, journaled
then streamed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from nixfleet.models import EventCategory, EventLevel
from nixfleet.store import Store
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

EVENT_FIELDS = ('id', 'timestamp', 'category', 'level', 'actor', 'host_id', 'action', 'message', 'details')


def event_row(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a stored event row into its wire form (details parsed)."""
    event = {k: row.get(k) for k in EVENT_FIELDS}
    if isinstance(event['details'], str):
        try:
            event['details'] = json.loads(event['details'])
        except ValueError:
            event['details'] = None
    return event


class EventLog:
    """Append events to `event_log` and publish each as an `event` change after it is committed."""

    def __init__(self, store: Store, stream: FleetStateStream, clock: Clock) -> None:
        self._store = store
        self._stream = stream
        self._clock = clock

    def entry(
        self,
        action: str,
        message: str,
        *,
        category: EventCategory = EventCategory.SYSTEM,
        level: EventLevel = EventLevel.INFO,
        actor: str = 'system',
        host: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> EventEntry:
        """An event to journal in the caller's own transaction (`entry.insert`), then `publish`."""
        return EventEntry(
            row={
                'timestamp': iso(self._clock()),
                'category': str(category),
                'level': str(level),
                'actor': actor,
                'host_id': host,
                'action': action,
                'message': message,
                'details': json.dumps(details, default=str) if details else None,
            }
        )

    def publish(self, entry: EventEntry) -> dict[str, Any]:
        """Stream an event whose insert has been committed; return the stored event."""
        event = event_row({**entry.row, 'id': entry.row_id})
        self._stream.emit(Change(ChangeType.EVENT, id=entry.row_id, payload=event))
        return event

    async def record(
        self,
        action: str,
        message: str,
        *,
        category: EventCategory = EventCategory.SYSTEM,
        level: EventLevel = EventLevel.INFO,
        actor: str = 'system',
        host: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Journal one event (its own transaction) and stream it; return the stored event."""
        entry = self.entry(action, message, category=category, level=level, actor=actor, host=host, details=details)
        await self._store.write(entry.insert)
        return self.publish(entry)


@dataclass(slots=True, kw_only=True)
class EventEntry:
    """One event row before it is journaled; `insert` runs inside a store transaction and keeps the row id."""

    row: dict[str, Any]
    row_id: int = 0

    def insert(self, db: Database) -> int:
        """Insert the row (in the caller's transaction); return its id."""
        self.row_id = int(db.table('event_log').insert(self.row).last_rowid or 0)
        return self.row_id


def with_event(write: Callable[[Database], object], event: EventEntry | None) -> Callable[[Database], None]:
    """A store write running `write`, then inserting `event` (if any) in the same transaction."""

    def both(db: Database) -> None:
        write(db)
        if event is not None:
            event.insert(db)

    return both
