"""`/api/commands`: the journal with filters and paging, and a command's output, optionally followed live.

`GET /api/commands/{id}/output?follow=true` streams the log file as it grows until the command is terminal. The
log file is the truth: change events only wake the reader, which then reads what was appended since its last
offset, so a line is sent exactly once whether it was written before or after the request came in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from nixfleet.api.deps import ApiError, EnvelopeRoute
from nixfleet.api.ops_routes import Actor
from nixfleet.api.schemas import (
    CommandPage,
    check_paging,
    decode_cursor,
    encode_cursor,
    iso_param,
    refusals,
    time_query,
)
from nixfleet.models import CommandStatus, ErrorCode
from nixfleet.ops.commands import Command
from nixfleet.ops.logs import parse_log
from nixfleet.streams.changes import ChangeType, VersionedChange

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

#: How often a followed stream re-checks its command without a change event (and sends an NDJSON keepalive).
KEEPALIVE_SECONDS = 15.0
_WAKING = frozenset({ChangeType.COMMAND_OUTPUT, ChangeType.COMMAND_UPDATED, ChangeType.COMMAND_FINISHED})
NDJSON = 'application/x-ndjson'


class OutputFormat(StrEnum):
    """How output is sent."""

    TEXT = 'text'  #: the log file as it is (`[<UTC>] line`, `[<UTC>] [ERR] line`, `# meta`)
    NDJSON = 'ndjson'  #: one JSON object a line: `line` entries, then a final `status` with the command


router = APIRouter(prefix='/api/commands', tags=['commands'], route_class=EnvelopeRoute)


def _dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard  # type: ignore[no-any-return]


@router.get('', response_model=CommandPage, responses=refusals())
async def list_commands(
    request: Request,
    _: Actor,
    host: Annotated[str | None, Query(description='Only commands of this host.', max_length=256)] = None,
    op: Annotated[str | None, Query(description='Only this op.', max_length=64)] = None,
    status: Annotated[list[CommandStatus] | None, Query(description='Only these statuses (repeatable).')] = None,
    pipeline: Annotated[str | None, Query(description='Only commands of this pipeline run.', max_length=64)] = None,
    since: Annotated[
        str | None,
        time_query('Created at or after'),
    ] = None,
    until: Annotated[str | None, time_query('Created before')] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: Annotated[str | None, Query(description='`next_cursor` of the previous page.', max_length=512)] = None,
) -> dict[str, Any]:
    """Commands, newest first, filtered; page with `cursor` (stable while new commands arrive) or `offset`."""
    check_paging(cursor, offset)
    where: list[str] = []
    params: list[Any] = []
    for column, value in (('host_id', host), ('op', op), ('pipeline_id', pipeline)):
        if value is not None:
            where.append(f'{column} = ?')
            params.append(value)
    if status:
        where.append(f'status IN ({", ".join("?" for _ in status)})')
        params.extend(s.value for s in status)
    if (start := iso_param('since', since)) is not None:
        where.append('created_at >= ?')
        params.append(start)
    if (end := iso_param('until', until)) is not None:
        where.append('created_at < ?')
        params.append(end)
    page_where, page_params = list(where), list(params)
    if cursor is not None:
        created, cid = decode_cursor(cursor, 2)
        page_where.append('(created_at < ? OR (created_at = ? AND id < ?))')
        page_params += [created, created, cid]
    clause = f' WHERE {" AND ".join(where)}' if where else ''
    page_clause = f' WHERE {" AND ".join(page_where)}' if page_where else ''
    page_sql = f'SELECT * FROM commands{page_clause} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?'

    def query(db: Any) -> tuple[int, list[dict[str, Any]]]:
        total = db.execute(f'SELECT COUNT(*) FROM commands{clause}', params).fetchone()[0]
        return int(total), db.execute_returning_dicts(page_sql, [*page_params, limit + 1, offset])

    dashboard = _dashboard(request)
    total, rows = await dashboard.store.read(query)
    active = {c.id: c for c in dashboard.ops.lifecycle.active.values()}
    page = rows[:limit]
    more = len(rows) > limit
    return {
        'commands': [(active.get(r['id']) or Command.from_row(r)).view() for r in page],
        'total': total,
        'limit': limit,
        'offset': offset,
        'next_cursor': encode_cursor(page[-1]['created_at'], page[-1]['id']) if more and page else None,
    }


_OUTPUT_CONTENT = {
    'text/plain': {'schema': {'type': 'string'}},
    NDJSON: {'schema': {'type': 'string', 'description': 'One JSON object per line.'}},
}


@router.get(
    '/{command_id}/output',
    response_class=Response,
    responses={200: {'description': 'The output', 'content': _OUTPUT_CONTENT}, **refusals(404)},
)
async def command_output(
    command_id: str,
    request: Request,
    _: Actor,
    follow: Annotated[bool, Query(description='Keep streaming until the command is terminal.')] = False,
    output_format: Annotated[OutputFormat, Query(alias='format', description='`text` or `ndjson`.')] = (
        OutputFormat.TEXT
    ),
) -> Response:
    """The command's log so far (UTC timestamps); with `follow`, streamed live until the command has ended.

    NDJSON objects: `{"type": "line", "ts", "stream": "stdout" | "stderr" | "meta", "line"}` per line, a
    `{"type": "keepalive"}` while a followed command is quiet, and last `{"type": "status", "command": {...}}`.
    Without `follow`, the status also has `version`: the `/api/sync` state version the lines are exact for (the
    command's `command_output` deltas up to it are in them, later ones are not), so a client that follows deltas
    and reads the log to catch up prints every line once.
    """
    dashboard = _dashboard(request)
    cmd = await dashboard.ops.get_command(command_id)
    if cmd is None:
        raise ApiError(ErrorCode.UNKNOWN_COMMAND, f'there is no command {command_id}')
    if not follow:
        read = await dashboard.ops.read_output_at(command_id)
        if output_format is OutputFormat.TEXT:
            return PlainTextResponse(read.text)
        body = ''.join(_ndjson_lines(read.text)) + _ndjson(
            {'type': 'status', 'command': cmd.view(), 'version': read.version}
        )
        return Response(body, media_type=NDJSON)
    media = 'text/plain; charset=utf-8' if output_format is OutputFormat.TEXT else NDJSON
    return StreamingResponse(_follow(dashboard, cmd, output_format), media_type=media)


def _ndjson(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode() + '\n'


def _ndjson_lines(text: str) -> list[str]:
    return [_ndjson({'type': 'line', **entry}) for entry in parse_log(text)]


def _read_from(path: Path, offset: int) -> tuple[str, int]:
    """Complete lines appended to `path` after `offset`, and the offset after them."""
    try:
        with path.open('rb') as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return '', offset
    end = data.rfind(b'\n') + 1
    return data[:end].decode('utf-8', errors='replace'), offset + end


async def _follow(dashboard: Dashboard, first: Command, output_format: OutputFormat) -> AsyncIterator[str]:
    """Yield the log of a command as it grows, until it is terminal (then the rest, and for NDJSON its status)."""
    engine, cid = dashboard.ops, first.id
    path = engine.logs.path_for(first.host, cid) if first.output_file is not None else None
    wake = asyncio.Event()

    def on_delta(item: VersionedChange) -> None:
        if item.change.id == cid and item.change.type in _WAKING:
            wake.set()

    _, subscription = dashboard.stream.snapshot_and_subscribe(on_delta)
    try:
        offset = 0
        cmd: Command | None = first
        with contextlib.suppress(Exception):
            await engine.logs.flush(cid)
        while True:
            wake.clear()
            cmd = await engine.get_command(cid)
            ended = cmd is None or cmd.terminal
            if path is not None:
                text, offset = await asyncio.to_thread(_read_from, path, offset)
                if text:
                    yield text if output_format is OutputFormat.TEXT else ''.join(_ndjson_lines(text))
            if ended:
                break
            try:
                await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                if output_format is OutputFormat.NDJSON:
                    yield _ndjson({'type': 'keepalive'})
        if output_format is OutputFormat.NDJSON:
            yield _ndjson({'type': 'status', 'command': (cmd or first).view()})
    finally:
        subscription.dispose()
