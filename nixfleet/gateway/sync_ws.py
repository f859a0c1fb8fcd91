"""`GET /api/sync`: the sync protocol over a WebSocket, for browsers (session) and scripts (API token)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from nixfleet.security.tokens import Credential
from nixfleet.streams.sync import SyncHub

log = logging.getLogger(__name__)

#: Resolve who is connecting (an actor such as `user` or `api:ci`, its scope, its token), or None when not
#: authenticated.
Authenticate = Callable[[HTTPConnection], Awaitable[Credential | None]]
#: Close a connection with a code and a reason.
Close = Callable[[int, str], Awaitable[None]]
#: Keep an open connection findable by its credential (to close it when that credential ends); returns the release.
Hold = Callable[[Credential, Close], Callable[[], None]]


async def sync_endpoint(ws: WebSocket, hub: SyncHub, authenticate: Authenticate, hold: Hold | None = None) -> None:
    """Serve one sync client from upgrade to close (`hold`: registered while open, e.g. to close it on revoke)."""
    credential = await authenticate(ws)
    if credential is None:
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
    client = hub.attach(ws.send_text, f'{credential.actor}@{peer}')
    writer = asyncio.create_task(client.run(), name=f'sync-send-{peer}')
    release = hold(credential, lambda code, reason: ws.close(code, reason)) if hold is not None else None
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
        if release is not None:
            release()
        hub.detach(client)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
