"""`GET /api/sync`: the sync protocol over a WebSocket, for browsers (session) and scripts (API token)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from nixfleet.streams.sync import SyncHub

log = logging.getLogger(__name__)

#: Resolve who is connecting (an actor such as `user` or `api:ci`), or None when not authenticated.
Authenticate = Callable[[HTTPConnection], Awaitable[str | None]]


async def sync_endpoint(ws: WebSocket, hub: SyncHub, authenticate: Authenticate) -> None:
    """Serve one sync client from upgrade to close."""
    actor = await authenticate(ws)
    if actor is None:
        await ws.send_denial_response(
            JSONResponse(
                {'error': {'code': 'unauthorized', 'message': 'log in or send an API token'}},
                status_code=401,
                headers={'WWW-Authenticate': 'Bearer'},
            )
        )
        return
    await ws.accept()
    peer = f'{ws.client.host}:{ws.client.port}' if ws.client else 'unknown'
    client = hub.attach(ws.send_text, f'{actor}@{peer}')
    writer = asyncio.create_task(client.run(), name=f'sync-send-{peer}')
    try:
        while True:
            message = await ws.receive()
            if message['type'] == 'websocket.disconnect':
                return
            if writer.done():
                return
            hub.handle_incoming(client, message.get('text') or message.get('bytes') or b'')
    except WebSocketDisconnect:
        return
    finally:
        hub.detach(client)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
