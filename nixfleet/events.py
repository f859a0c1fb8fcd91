"""The event log (SPEC §7): every mutation and every transition a human cares about, journaled then streamed."""

from __future__ import annotations

import json
import logging
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
        """Journal one event and stream it; return the stored event."""
        row = {
            'timestamp': iso(self._clock()),
            'category': str(category),
            'level': str(level),
            'actor': actor,
            'host_id': host,
            'action': action,
            'message': message,
            'details': json.dumps(details, default=str) if details else None,
        }

        def insert(db: Database) -> int:
            return int(db.table('event_log').insert(row).last_rowid or 0)

        row_id = await self._store.write(insert)
        event = event_row({**row, 'id': row_id})
        self._stream.emit(Change(ChangeType.EVENT, id=row_id, payload=event))
        return event


def load_recent(db: Database, limit: int) -> list[dict[str, Any]]:
    """Return the newest `limit` events, newest first."""
    rows = db.execute(f'SELECT {", ".join(EVENT_FIELDS)} FROM event_log ORDER BY id DESC LIMIT ?', [limit]).fetchall()
    return [event_row(dict(zip(EVENT_FIELDS, r, strict=True))) for r in rows]
