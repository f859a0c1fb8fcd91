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
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from nixfleet.api.deps import ApiAuth
from nixfleet.api.errors import ApiError, EnvelopeRoute
from nixfleet.api.schemas import (
    CommandPage,
    check_paging,
    decode_cursor,
    encode_cursor,
    iso_param,
    refusals,
    time_query,
)
from nixfleet.journal import CommandFilter, Journal
from nixfleet.models import CommandStatus, ErrorCode
from nixfleet.ops.commands import Command
from nixfleet.ops.engine import OpEngine
from nixfleet.ops.logs import parse_log
from nixfleet.streams.changes import ChangeType, VersionedChange
from nixfleet.streams.state import FleetStateStream

#: How often a followed stream re-checks its command without a change event (and sends an NDJSON keepalive).
KEEPALIVE_SECONDS = 15.0
_WAKING = frozenset({ChangeType.COMMAND_OUTPUT, ChangeType.COMMAND_UPDATED, ChangeType.COMMAND_FINISHED})
NDJSON = 'application/x-ndjson'


class OutputFormat(StrEnum):
    """How output is sent."""

    TEXT = 'text'  #: the log file as it is (`[<UTC>] line`, `[<UTC>] [ERR] line`, `# meta`)
    NDJSON = 'ndjson'  #: one JSON object a line: `line` entries, then a final `status` with the command


_OUTPUT_CONTENT = {
    'text/plain': {'schema': {'type': 'string'}},
    NDJSON: {'schema': {'type': 'string', 'description': 'One JSON object per line.'}},
}


def commands_router(journal: Journal, ops: OpEngine, stream: FleetStateStream, auth: ApiAuth) -> APIRouter:
    """`/api/commands`: the journal's commands, and a command's output (followed live on request)."""
    router = APIRouter(
        prefix='/api/commands', tags=['commands'], route_class=EnvelopeRoute, dependencies=[Depends(auth)]
    )
    _add_list(router, journal, ops)
    _add_output(router, ops, stream)
    return router


def _add_list(router: APIRouter, journal: Journal, ops: OpEngine) -> None:
    """`GET /api/commands`."""

    @router.get('', response_model=CommandPage, responses=refusals())
    async def list_commands(
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
        flt = CommandFilter(
            host=host,
            op=op,
            statuses=[s.value for s in status or ()],
            pipeline=pipeline,
            since=iso_param('since', since),
            until=iso_param('until', until),
        )
        after = decode_cursor(cursor, 2) if cursor is not None else None
        page = await journal.commands(flt, limit=limit, offset=offset, after=after)
        active = {c.id: c for c in ops.lifecycle.active.values()}
        return {
            'commands': [(active.get(r['id']) or Command.from_row(r)).view() for r in page.rows],
            'total': page.total,
            'limit': limit,
            'offset': offset,
            'next_cursor': encode_cursor(*page.next_key) if page.next_key else None,
        }


def _add_output(router: APIRouter, ops: OpEngine, stream: FleetStateStream) -> None:
    """`GET /api/commands/{id}/output`."""

    @router.get(
        '/{command_id}/output',
        response_class=Response,
        responses={200: {'description': 'The output', 'content': _OUTPUT_CONTENT}, **refusals(404)},
    )
    async def command_output(
        command_id: str,
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
        cmd = await ops.get_command(command_id)
        if cmd is None:
            raise ApiError(ErrorCode.UNKNOWN_COMMAND, f'there is no command {command_id}')
        if not follow:
            read = await ops.read_output_at(command_id)
            if output_format is OutputFormat.TEXT:
                return PlainTextResponse(read.text)
            body = ''.join(_ndjson_lines(read.text)) + _ndjson(
                {'type': 'status', 'command': cmd.view(), 'version': read.version}
            )
            return Response(body, media_type=NDJSON)
        media = 'text/plain; charset=utf-8' if output_format is OutputFormat.TEXT else NDJSON
        return StreamingResponse(_follow(ops, stream, cmd, output_format), media_type=media)


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


async def _follow(
    engine: OpEngine, stream: FleetStateStream, first: Command, output_format: OutputFormat
) -> AsyncIterator[str]:
    """Yield the log of a command as it grows, until it is terminal (then the rest, and for NDJSON its status)."""
    cid = first.id
    path = engine.logs.path_for(first.host, cid) if first.output_file is not None else None
    wake = asyncio.Event()

    def on_delta(item: VersionedChange) -> None:
        if item.change.id == cid and item.change.type in _WAKING:
            wake.set()

    _, subscription = stream.snapshot_and_subscribe(on_delta)
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
