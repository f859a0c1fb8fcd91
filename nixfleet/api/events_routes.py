"""`GET /api/events`: the event log (SPEC §7) with filters and paging, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from nixfleet.api.deps import ApiError, EnvelopeRoute
from nixfleet.api.ops_routes import Actor
from nixfleet.api.schemas import (
    EventPage,
    check_paging,
    decode_cursor,
    encode_cursor,
    iso_param,
    refusals,
    time_query,
)
from nixfleet.events import EVENT_FIELDS, event_row
from nixfleet.models import ErrorCode, EventCategory, EventLevel

router = APIRouter(prefix='/api/events', tags=['events'], route_class=EnvelopeRoute)


def _escape_like(text: str) -> str:
    return text.replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')


@router.get('', response_model=EventPage, responses=refusals())
async def list_events(
    request: Request,
    _: Actor,
    host: Annotated[str | None, Query(description='Only events of this host.', max_length=256)] = None,
    category: Annotated[list[EventCategory] | None, Query(description='Only these categories (repeatable).')] = None,
    level: Annotated[list[EventLevel] | None, Query(description='Only these levels (repeatable).')] = None,
    action: Annotated[
        str | None,
        Query(
            description='Only this action, e.g. `op:pull`; a trailing `*` matches a prefix (`op:*`).', max_length=128
        ),
    ] = None,
    actor: Annotated[
        str | None, Query(description='Only events by this actor (`user`, `api:ci`, ...).', max_length=128)
    ] = None,
    since: Annotated[str | None, time_query('At or after')] = None,
    until: Annotated[str | None, time_query('Before')] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: Annotated[str | None, Query(description='`next_cursor` of the previous page.', max_length=512)] = None,
) -> dict[str, Any]:
    """Events, newest first, filtered; page with `cursor` (stable while new events arrive) or `offset`."""
    check_paging(cursor, offset)
    where: list[str] = []
    params: list[Any] = []
    for column, value in (('host_id', host), ('actor', actor)):
        if value is not None:
            where.append(f'{column} = ?')
            params.append(value)
    for column, values in (('category', category), ('level', level)):
        if values:
            where.append(f'{column} IN ({", ".join("?" for _ in values)})')
            params.extend(v.value for v in values)
    if action is not None:
        if action.endswith('*'):
            where.append("action LIKE ? ESCAPE '\\'")
            params.append(_escape_like(action[:-1]) + '%')
        else:
            where.append('action = ?')
            params.append(action)
    if (start := iso_param('since', since)) is not None:
        where.append('timestamp >= ?')
        params.append(start)
    if (end := iso_param('until', until)) is not None:
        where.append('timestamp < ?')
        params.append(end)
    page_where, page_params = list(where), list(params)
    if cursor is not None:
        [before] = decode_cursor(cursor, 1)
        if not isinstance(before, int):
            raise ApiError(ErrorCode.INVALID_REQUEST, 'cursor: not a cursor from a previous page')
        page_where.append('id < ?')
        page_params.append(before)
    clause = f' WHERE {" AND ".join(where)}' if where else ''
    page_clause = f' WHERE {" AND ".join(page_where)}' if page_where else ''
    page_sql = f'SELECT {", ".join(EVENT_FIELDS)} FROM event_log{page_clause} ORDER BY id DESC LIMIT ? OFFSET ?'

    def query(db: Any) -> tuple[int, list[tuple[Any, ...]]]:
        total = db.execute(f'SELECT COUNT(*) FROM event_log{clause}', params).fetchone()[0]
        return int(total), db.execute(page_sql, [*page_params, limit + 1, offset]).fetchall()

    total, rows = await request.app.state.dashboard.store.read(query)
    events = [event_row(dict(zip(EVENT_FIELDS, row, strict=True))) for row in rows[:limit]]
    more = len(rows) > limit
    return {
        'events': events,
        'total': total,
        'limit': limit,
        'offset': offset,
        'next_cursor': encode_cursor(events[-1]['id']) if more and events else None,
    }
