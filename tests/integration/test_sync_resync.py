"""`/api/sync` resync rules against a real server: a gap, a restart (clean and kill -9), and derived counts.

Each test follows the server with a `StateMirror` exactly as a client would and asserts that it ends equal to the
server's state with the resyncs the rules call for, and no others.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from nixfleet.config import Settings
from nixfleet.streams.mirror import StateMirror, Verdict
from tests.support import FakeAgent, RunningServer, eventually, start_server

TOKEN = 'sync-resync-token'


def sync_url(server: RunningServer) -> str:
    server.dashboard.api_tokens['resync'] = TOKEN
    return f'ws://127.0.0.1:{server.port}/api/sync'


def headers() -> dict[str, str]:
    return {'Authorization': f'Bearer {TOKEN}'}


async def follow(
    ws: ClientConnection, mirror: StateMirror, log: list[dict[str, Any]], drop: frozenset[int] = frozenset()
) -> None:
    """Feed every message into the mirror (skipping deltas in `drop`), asking for the state when it says so."""
    async for raw in ws:
        msg = json.loads(raw)
        log.append(msg)
        if msg['type'] == 'delta' and msg['version'] in drop:
            continue
        if mirror.message(msg) is Verdict.RESYNC:
            await ws.send(json.dumps({'type': 'get_state'}))


def in_step(mirror: StateMirror, server: RunningServer) -> bool:
    state = server.dashboard.stream.value
    return mirror.state is not None and mirror.version == state.version and mirror.state.hosts == state.hosts


async def test_gap_makes_the_client_resync_and_it_ends_equal(server: RunningServer) -> None:
    mirror, log = StateMirror(), []
    agents = [await FakeAgent(server.ws_url, f'gap-{i}').connect() for i in range(3)]
    async with connect(sync_url(server), additional_headers=headers()) as ws:
        lost = server.dashboard.stream.version + 2  # a delta in the middle: later deltas reveal the gap at once
        reader = asyncio.create_task(follow(ws, mirror, log, drop=frozenset({lost})))
        for round_ in range(3):
            await asyncio.gather(*(a.heartbeat(load=round_ + i / 10) for i, a in enumerate(agents)))
        await eventually(lambda: in_step(mirror, server) and server.dashboard.stream.version > lost + 3)
        assert mirror.gaps == 1 and mirror.resyncs == 1
        assert mirror.history == [f'gap: have {lost - 1}, got {lost + 1}']
        assert [m['type'] for m in log].count('full_state') == 1
        reader.cancel()
    for agent in agents:
        await agent.close()


async def test_client_resyncs_across_a_clean_restart_and_the_version_continues(settings: Settings) -> None:
    first = await start_server(settings)
    agent = await FakeAgent(first.ws_url, 'survivor').connect()
    await agent.heartbeat(load=1.5)
    mirror, log = StateMirror(), []
    async with connect(sync_url(first), additional_headers=headers()) as ws:
        reader = asyncio.create_task(follow(ws, mirror, log))
        await eventually(lambda: in_step(mirror, first))
        reader.cancel()
    before = mirror.version
    assert before is not None
    await agent.close()
    await first.stop()

    second = await start_server(settings)
    try:
        async with connect(sync_url(second), additional_headers=headers()) as ws:
            reader = asyncio.create_task(follow(ws, mirror, log))  # the same mirror: the client comes back
            await eventually(lambda: in_step(mirror, second))
            reader.cancel()
        assert mirror.resyncs == 1, 'the new init replaced the local copy'
        assert mirror.version is not None and mirror.version >= before
        assert mirror.state is not None and mirror.state.hosts['survivor']['connection'] == 'offline'
    finally:
        await second.stop()


async def test_after_a_crash_the_version_jumps_ahead_never_back(settings: Settings) -> None:
    first = await start_server(settings)
    agent = await FakeAgent(first.ws_url, 'crasher').connect()
    await agent.heartbeat()
    await eventually(lambda: 'crasher' in first.dashboard.stream.value.hosts)
    before = first.dashboard.stream.version
    await agent.close()
    # a crash: the process dies without the shutdown that stores the exact version
    first.dashboard.versions.persist_exact = lambda version: None  # type: ignore[method-assign]
    await first.stop()
    second = await start_server(settings)
    try:
        mirror = StateMirror()
        mirror.load(first.dashboard.stream.value)
        async with connect(sync_url(second), additional_headers=headers()) as ws:
            assert mirror.message(json.loads(await ws.recv())) is Verdict.APPLIED
        assert mirror.version is not None and mirror.version > before
        assert mirror.resyncs == 1
    finally:
        await second.stop()


async def test_beacon_below_the_client_version_makes_it_resync(server: RunningServer) -> None:
    mirror, log = StateMirror(), []
    async with connect(sync_url(server), additional_headers=headers()) as ws:
        reader = asyncio.create_task(follow(ws, mirror, log))
        await eventually(lambda: in_step(mirror, server))
        assert mirror.state is not None
        mirror.state = type(mirror.state)(version=mirror.state.version + 50)  # as if it followed a later server
        await server.dashboard.sync.beacon_all()
        await eventually(lambda: in_step(mirror, server))
        assert mirror.resyncs == 1 and mirror.history[-1].startswith('beacon')
        reader.cancel()


async def test_connection_changes_carry_the_fleet_counts(server: RunningServer) -> None:
    mirror, log = StateMirror(), []
    async with connect(sync_url(server), additional_headers=headers()) as ws:
        reader = asyncio.create_task(follow(ws, mirror, log))
        await eventually(lambda: in_step(mirror, server))
        agents = [await FakeAgent(server.ws_url, f'count-{i}').connect() for i in range(3)]
        await agents[0].heartbeat()
        await agents[1].close()
        await eventually(
            lambda: (
                in_step(mirror, server)
                and server.dashboard.stream.value.hosts['count-1'].get('connection') == 'offline'
            )
        )
        deltas = [m['payload']['change'] for m in log if m['type'] == 'delta']
        host_changes = [c for c in deltas if c['type'].startswith('host_')]
        counted = [c for c in host_changes if 'fleet' in c]
        assert [c['fleet']['counts']['online'] for c in counted] == [1, 2, 3, 2]  # three joined, one left
        assert counted[-1]['fleet']['counts'] == {'online': 2, 'stale': 0, 'offline': 1, 'total': 3}
        heartbeat = next(c for c in host_changes if 'metrics' in (c.get('fields') or {}))
        assert 'fleet' not in heartbeat, 'a heartbeat moves no count'
        assert mirror.state is not None
        assert mirror.state.fleet['counts'] == server.dashboard.stream.value.counts()  # the client never recounts
        assert mirror.resyncs == 0
        reader.cancel()
        for agent in (agents[0], agents[2]):
            await agent.close()
