"""`GET /api/sync`: the sync protocol over a WebSocket, for browsers (session) and scripts (API token).

A socket opened with a session cookie lives only as long as its session: when the session is logged out (here,
in another tab, or everywhere) or expires, the socket is closed with `CLOSE_SESSION_ENDED` (4401) and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from fastapi import WebSocket, WebSocketDisconnect
from starlette.requests import HTTPConnection

from nixfleet.api.errors import error_response
from nixfleet.models import ErrorCode
from nixfleet.security.links import CLOSE_SESSION_ENDED, EndReason, SessionLinks
from nixfleet.security.sessions import COOKIE_NAME, Session, SessionSigner
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


def opened_with_session(conn: HTTPConnection, signer: SessionSigner) -> Session | None:
    """The session a connection was admitted with (None for a bearer-token client, which is not tied to one)."""
    scheme, _, _ = conn.headers.get('authorization', '').partition(' ')
    return None if scheme.lower() == 'bearer' else signer.verify(conn.cookies.get(COOKIE_NAME))


async def sync_endpoint(
    ws: WebSocket,
    hub: SyncHub,
    authenticate: Authenticate,
    *,
    hold: Hold | None = None,
    links: SessionLinks | None = None,
) -> None:
    """Serve one sync client from upgrade to close; while open it is known to `hold` (an API token's links: closed
    when the token is revoked) and to `links` (a session's links: closed when the session ends)."""
    credential = await authenticate(ws)
    if credential is None:
        await ws.send_denial_response(error_response(ErrorCode.UNAUTHORIZED, 'log in or send an API token', 401))
        return
    await ws.accept()
    peer = f'{ws.client.host}:{ws.client.port}' if ws.client else 'unknown'
    client = hub.attach(ws.send_text, f'{credential.actor}@{peer}')
    writer = asyncio.create_task(client.run(), name=f'sync-send-{peer}')
    release = hold(credential, lambda code, reason: ws.close(code, reason)) if hold is not None else None
    closing: list[asyncio.Task[None]] = []

    def end(reason: EndReason) -> None:
        if not closing:  # the receive loop below then gets the disconnect and returns
            closing.append(asyncio.get_running_loop().create_task(_close(ws, writer, reason), name=f'sync-end-{peer}'))

    session = opened_with_session(ws, links.signer) if links is not None else None
    link = links.attach(session, end, f'sync socket {peer}') if links is not None and session is not None else None
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
        if link is not None:
            link.dispose()
        hub.detach(client)
        writer.cancel()
        for task in (writer, *closing):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _close(ws: WebSocket, writer: asyncio.Task[None], reason: EndReason) -> None:
    """Stop sending state, then close the socket with `CLOSE_SESSION_ENDED` and the reason."""
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await writer
    with contextlib.suppress(Exception):  # the peer may be gone already
        await ws.close(CLOSE_SESSION_ENDED, reason.value)
