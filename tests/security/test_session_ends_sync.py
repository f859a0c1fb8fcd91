"""A session's `/api/sync` sockets end with it (issue 15 item 5), on a real server with real WebSockets.

Proves that logging out closes every sync socket of that session within a second with close code 4401 and a reason
saying why, while sockets of other sessions and of API tokens stay open; that "log out everywhere" closes every
session's sockets; and that expiry closes them at the dashboard's next tick after the session's end on its clock
(virtual time), not before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.security.links import CLOSE_SESSION_ENDED
from tests.security.helpers import ADMIN_TOKEN, admin_client, log_in
from tests.support import ManualClock, RunningServer, start_server

#: Acceptance bound: a socket of an ended session is closed within this many seconds.
ENDED_WITHIN = 1.0


@asynccontextmanager
async def sync_socket(server: RunningServer, **headers: str) -> AsyncIterator[ClientConnection]:
    """An `/api/sync` client (with these headers) that has received its `init`."""
    async with connect(f'ws://127.0.0.1:{server.port}/api/sync', additional_headers=headers) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))['type'] == 'init'
        yield ws


async def closed_with(ws: ClientConnection, timeout: float = ENDED_WITHIN) -> tuple[int | None, str | None]:
    """Read until the server closes the socket (within `timeout`); return the close code and reason it sent."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return (frame.code, frame.reason) if frame is not None else (None, None)


async def still_open(ws: ClientConnection) -> bool:
    """Whether the socket still answers: a `get_state` gets its `full_state`."""
    await ws.send('{"type": "get_state"}')
    async with asyncio.timeout(5):
        while json.loads(await ws.recv())['type'] != 'full_state':
            pass
    return True


async def _logout(server: RunningServer, cookie: str, **form: str) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.post('/logout', headers={'Cookie': cookie}, data=form)).status_code == 303


async def test_logout_closes_the_sessions_sync_sockets_and_no_other(server: RunningServer) -> None:
    mine, other = await log_in(server), await log_in(server)
    async with (
        sync_socket(server, Cookie=mine) as first,
        sync_socket(server, Cookie=mine) as second,
        sync_socket(server, Cookie=other) as elsewhere,
        admin_client(server),  # registers the in-memory API token
        sync_socket(server, Authorization=f'Bearer {ADMIN_TOKEN}') as script,
    ):
        await _logout(server, mine)
        assert await closed_with(first) == (CLOSE_SESSION_ENDED, 'session ended: logged out')
        assert await closed_with(second) == (CLOSE_SESSION_ENDED, 'session ended: logged out')
        assert await still_open(elsewhere) and await still_open(script)
    assert server.dashboard.security.links.count == 0  # nothing kept for closed sockets


async def test_log_out_everywhere_closes_every_sessions_sync_sockets(server: RunningServer) -> None:
    laptop, phone = await log_in(server), await log_in(server)
    async with sync_socket(server, Cookie=laptop) as on_laptop, sync_socket(server, Cookie=phone) as on_phone:
        await _logout(server, phone, scope='all')
        assert await closed_with(on_laptop) == (CLOSE_SESSION_ENDED, 'session ended: logged out')
        assert await closed_with(on_phone) == (CLOSE_SESSION_ENDED, 'session ended: logged out')


async def test_expiry_closes_the_sync_socket_at_the_next_tick(settings: Settings) -> None:
    clock = ManualClock()
    configured = settings.model_copy(update={'session_duration': 3600.0})
    server = await start_server(configured, Dashboard(configured, clock))
    try:
        cookie = await log_in(server)
        async with sync_socket(server, Cookie=cookie) as ws:
            clock.advance(3599)
            await server.dashboard.tick()
            assert await still_open(ws)
            clock.advance(1)
            await server.dashboard.tick()
            assert await closed_with(ws) == (CLOSE_SESSION_ENDED, 'session ended: expired')
    finally:
        await server.stop()
