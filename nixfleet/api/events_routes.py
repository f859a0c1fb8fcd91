"""`GET /api/events`: the event log with filters and paging, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nixfleet.api.deps import ApiAuth
from nixfleet.api.errors import ApiError, EnvelopeRoute
from nixfleet.api.schemas import (
    EventPage,
    check_paging,
    decode_cursor,
    encode_cursor,
    iso_param,
    refusals,
    time_query,
)
from nixfleet.journal import EventFilter, Journal
from nixfleet.models import ErrorCode, EventCategory, EventLevel


def _after(cursor: str | None) -> list[Any] | None:
    """The event id a cursor continues after (422 `invalid_request` when it is no event cursor)."""
    if cursor is None:
        return None
    [before] = decode_cursor(cursor, 1)
    if not isinstance(before, int):
        raise ApiError(ErrorCode.INVALID_REQUEST, 'cursor: not a cursor from a previous page')
    return [before]


def events_router(journal: Journal, auth: ApiAuth) -> APIRouter:
    """`/api/events`: the journal's events."""
    router = APIRouter(prefix='/api/events', tags=['events'], route_class=EnvelopeRoute, dependencies=[Depends(auth)])

    @router.get('', response_model=EventPage, responses=refusals())
    async def list_events(
        host: Annotated[str | None, Query(description='Only events of this host.', max_length=256)] = None,
        category: Annotated[
            list[EventCategory] | None, Query(description='Only these categories (repeatable).')
        ] = None,
        level: Annotated[list[EventLevel] | None, Query(description='Only these levels (repeatable).')] = None,
        action: Annotated[
            str | None,
            Query(
                description='Only this action, e.g. `op:pull`; a trailing `*` matches a prefix (`op:*`).',
                max_length=128,
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
        flt = EventFilter(
            host=host,
            actor=actor,
            categories=[c.value for c in category or ()],
            levels=[v.value for v in level or ()],
            action=action,
            since=iso_param('since', since),
            until=iso_param('until', until),
        )
        page = await journal.events(flt, limit=limit, offset=offset, after=_after(cursor))
        return {
            'events': page.rows,
            'total': page.total,
            'limit': limit,
            'offset': offset,
            'next_cursor': encode_cursor(*page.next_key) if page.next_key else None,
        }

    return router
