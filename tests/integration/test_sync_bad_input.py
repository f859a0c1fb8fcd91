"""Bad input on `/api/sync`: garbage gets an error reply, a huge frame closes that socket, a client that does not
read costs a bounded queue and one resync; the server and its other clients carry on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nixfleet.streams.mirror import StateMirror, Verdict
from nixfleet.streams.sync import ERROR_REPLIES, SyncClient
from tests.support import FakeAgent, RunningServer, eventually

TOKEN = 'sync-bad-input-token'


def sync_url(server: RunningServer) -> str:
    server.dashboard.api_tokens['bad'] = TOKEN
    return f'ws://127.0.0.1:{server.port}/api/sync'


def headers() -> dict[str, str]:
    return {'Authorization': f'Bearer {TOKEN}'}


async def next_of(ws: ClientConnection, mtype: str) -> dict[str, Any]:
    while (msg := json.loads(await asyncio.wait_for(ws.recv(), 5)))['type'] != mtype:
        pass
    return msg


def only_client(server: RunningServer) -> SyncClient:
    [client] = server.dashboard.sync.clients
    return client


@pytest.mark.parametrize(
    ('raw', 'message'),
    [
        ('{not json', 'message is not JSON'),
        (b'\xff\xfe\x00', 'message is not JSON'),
        ('[1, 2, 3]', "unknown message type 'None'"),
        ('42', "unknown message type 'None'"),
        ('{"kind": "get_state"}', "unknown message type 'None'"),
        ('{"type": "drop_table"}', "unknown message type 'drop_table'"),
        ('{"type": "' + 'x' * 5000 + '"}', "unknown message type '" + 'x' * 40 + "'"),
        (json.dumps({'type': 'junk', 'pad': 'y' * 400_000}), "unknown message type 'junk'"),
    ],
    ids=['not-json', 'binary', 'array', 'number', 'no-type', 'unknown-type', 'long-type', 'large-frame'],
)
async def test_garbage_gets_an_error_reply_and_the_stream_goes_on(
    server: RunningServer, raw: str | bytes, message: str
) -> None:
    async with connect(sync_url(server), additional_headers=headers(), max_size=None) as ws:
        init = await next_of(ws, 'init')
        await ws.send(raw)
        error = await next_of(ws, 'error')
        assert error['payload'] == {'code': 'invalid_request', 'message': message}
        agent = await FakeAgent(server.ws_url, 'after-garbage').connect()  # deltas still flow
        delta = await next_of(ws, 'delta')
        assert delta['version'] == init['version'] + 1
        await ws.send(json.dumps({'type': 'get_state'}))
        assert (await next_of(ws, 'full_state'))['payload']['state']['hosts'][0]['id'] == 'after-garbage'
        await agent.close()


async def test_a_frame_above_the_limit_closes_that_socket_only(server: RunningServer) -> None:
    limit = server.dashboard.settings.max_frame_bytes
    async with connect(sync_url(server), additional_headers=headers()) as bystander:
        await next_of(bystander, 'init')
        async with connect(sync_url(server), additional_headers=headers(), max_size=None) as ws:
            await next_of(ws, 'init')
            await ws.send('{"type": "' + 'z' * (limit + 1) + '"}')
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        agent = await FakeAgent(server.ws_url, 'still-served').connect()
        assert (await next_of(bystander, 'delta'))['payload']['change']['id'] == 'still-served'
        await agent.close()
    await eventually(lambda: not server.dashboard.sync.clients)


async def test_a_garbage_flood_gets_bounded_replies(server: RunningServer) -> None:
    async with connect(sync_url(server), additional_headers=headers()) as ws:
        await next_of(ws, 'init')
        for i in range(ERROR_REPLIES * 3):
            await ws.send(f'garbage {i}')
        await ws.send(json.dumps({'type': 'get_state'}))
        errors = 0
        while (msg := json.loads(await asyncio.wait_for(ws.recv(), 5)))['type'] != 'full_state':
            errors += msg['type'] == 'error'
        assert errors == ERROR_REPLIES
        assert only_client(server).bad_messages == ERROR_REPLIES * 3


async def test_repeated_get_state_without_reading_costs_one_pending_state(server: RunningServer) -> None:
    agents = [await FakeAgent(server.ws_url, f'big-{i}').connect() for i in range(50)]
    async with connect(sync_url(server), additional_headers=headers(), max_queue=1) as ws:
        await next_of(ws, 'init')
        for _ in range(2000):
            await ws.send('{"type": "get_state"}')
        client = only_client(server)
        await eventually(lambda: client.states_requested == 2000)
        assert client.queued_bytes < 100_000, 'one pending flag, not 2,000 snapshots'
        mirror = StateMirror()
        async for raw in ws:  # now read: the client gets full states and ends in step
            mirror.message(json.loads(raw))
            if mirror.version == server.dashboard.stream.version and client.queued == 0:
                break
        assert mirror.state is not None and set(mirror.state.hosts) == {f'big-{i}' for i in range(50)}
    for agent in agents:
        await agent.close()


def client_frame(text: str) -> bytes:
    """One masked text frame, as a browser would send it (payloads under 126 bytes)."""
    payload = text.encode()
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def never_reading_client(server: RunningServer) -> tuple[asyncio.StreamWriter, int]:
    """A WebSocket upgrade on a raw socket that then never reads (tiny kernel buffers at both ends, paused reader).

    The server's end gets a small send buffer too: left to itself, Linux grows a loopback socket's send buffer to
    megabytes, and how far it grew before the pipe counted as full depended on the machine's load.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ('127.0.0.1', server.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    writer.write(
        (
            'GET /api/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
            f'Authorization: Bearer {TOKEN}\r\n\r\n'
        ).encode()
    )
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b'HTTP/1.1 101'), status
    port = sock.getsockname()[1]
    ours = next(c for c in server.server.server_state.connections if c.client[1] == port)
    ours.transport.get_extra_info('socket').setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return writer, port


async def test_a_client_that_never_reads_is_bounded_then_resynced_once(server: RunningServer) -> None:
    hub = server.dashboard.sync
    hub.limit, hub.limit_bytes = 200, 64 * 1024
    healthy_mirror = StateMirror()
    async with contextlib.AsyncExitStack() as stack:  # a failing run closes its sockets too
        healthy = await stack.enter_async_context(connect(sync_url(server), additional_headers=headers()))
        reader = asyncio.create_task(follow(healthy, healthy_mirror))
        stack.callback(reader.cancel)
        writer, port = await never_reading_client(server)
        stack.callback(writer.close)
        slow = await eventually(lambda: next((c for c in hub.clients if c.name.endswith(f':{port}')), None))
        agents = [await FakeAgent(server.ws_url, f'load-{i}').connect() for i in range(10)]
        for agent in agents:
            stack.push_async_callback(agent.close)
        for _ in range(300):  # it asks for the state again and again (and reads none): the pipe to it fills up
            writer.write(client_frame('{"type": "get_state"}'))
            await writer.drain()
            await asyncio.sleep(0.001)
        peak_messages = peak_bytes = rounds = 0
        while slow.resyncs == 0 or rounds < 100:  # and more load after that: nothing more is queued for it
            rounds += 1
            assert rounds < 2000, 'the client that never reads never fell behind'
            await asyncio.gather(*(a.heartbeat(load=(rounds + i) / 7) for i, a in enumerate(agents)))
            await asyncio.sleep(0.01)  # the agents' own pace (20 frames/s each is the gateway's limit)
            peak_messages = max(peak_messages, slow.queued)
            peak_bytes = max(peak_bytes, slow.queued_bytes)
        assert 0 < peak_messages <= hub.limit and peak_bytes <= hub.limit_bytes
        assert slow.resyncs == 1, 'one resync pending, however much more happened'
        assert slow.queued == 0, 'while a resync is pending nothing is queued'

        writer.close()  # it goes away: its client and subscription go with it
        await eventually(lambda: slow not in hub.clients)
        await eventually(lambda: healthy_mirror.version == server.dashboard.stream.version)
        assert healthy_mirror.state is not None
        assert healthy_mirror.state.hosts == server.dashboard.stream.value.hosts
        assert healthy_mirror.resyncs == 0 and healthy_mirror.gaps == 0, 'the other client never noticed'


async def follow(ws: ClientConnection, mirror: StateMirror) -> None:
    """Read continuously into `mirror`, asking for the state when it says so."""
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            if mirror.message(json.loads(raw)) is Verdict.RESYNC:
                await ws.send(json.dumps({'type': 'get_state'}))
