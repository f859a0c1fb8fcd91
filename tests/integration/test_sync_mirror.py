"""A sync client's mirror: follows /api/sync exactly, and resyncs on a gap, a beacon mismatch or a restart."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect

from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.mirror import StateMirror, Verdict
from nixfleet.streams.state import FleetState
from tests.support import FakeAgent, RunningServer, eventually, start_server

TOKEN = 'sync-mirror-token'


async def follow(ws: ClientConnection, mirror: StateMirror, *, drop_versions: frozenset[int] = frozenset()) -> None:
    """Feed every message into the mirror (skipping deltas in `drop_versions`), resyncing when it says so."""
    async for raw in ws:
        msg = json.loads(raw)
        if msg['type'] == 'delta' and msg['version'] in drop_versions:
            continue
        if mirror.message(msg) is Verdict.RESYNC:
            await ws.send(json.dumps({'type': 'get_state'}))


def sync_url(server: RunningServer) -> str:
    server.dashboard.api_tokens['mirror'] = TOKEN
    return f'ws://127.0.0.1:{server.port}/api/sync'


def test_mirror_rules_without_a_server() -> None:
    mirror = StateMirror()
    assert mirror.delta(Change(ChangeType.EVENT, payload={}), 1) is Verdict.IGNORED  # nothing loaded yet
    mirror.load(FleetState(version=10))
    assert mirror.delta(Change(ChangeType.HOST_ADDED, id='a', payload={'id': 'a'}), 11) is Verdict.APPLIED
    assert mirror.delta(Change(ChangeType.HOST_ADDED, id='a', payload={'id': 'a'}), 11) is Verdict.IGNORED
    assert mirror.beacon(11) is Verdict.IGNORED
    assert mirror.delta(Change(ChangeType.HOST_ADDED, id='b', payload={'id': 'b'}), 13) is Verdict.RESYNC
    assert mirror.gaps == 1
    mirror.load(FleetState(version=13))
    assert mirror.beacon(12) is Verdict.RESYNC, 'a server version below ours means the server restarted'


async def test_many_agents_concurrently_mirror_matches_server(server: RunningServer) -> None:
    mirror = StateMirror()
    async with connect(sync_url(server), additional_headers={'Authorization': f'Bearer {TOKEN}'}) as ws:
        reader = asyncio.create_task(follow(ws, mirror))
        agents = await asyncio.gather(*(FakeAgent(server.ws_url, f'h{i:02d}').connect() for i in range(20)))
        for round_ in range(5):
            await asyncio.gather(*(a.heartbeat(load=round_ + i / 100) for i, a in enumerate(agents)))
        await eventually(
            lambda: (
                mirror.version == server.dashboard.stream.version
                and mirror.state is not None
                and mirror.state.hosts == server.dashboard.stream.value.hosts
            )
        )
        assert mirror.gaps == 0 and mirror.resyncs == 0
        reader.cancel()
        for agent in agents:
            await agent.close()


async def test_dropped_delta_heals_at_next_beacon(server: RunningServer) -> None:
    mirror = StateMirror()
    async with connect(sync_url(server), additional_headers={'Authorization': f'Bearer {TOKEN}'}) as ws:
        # drop the very last delta the agent's heartbeat produces: no later delta reveals the gap, only the beacon
        agent = await FakeAgent(server.ws_url, 'lonely').connect()
        target = server.dashboard.stream.version + 1
        reader = asyncio.create_task(follow(ws, mirror, drop_versions=frozenset({target})))
        await agent.heartbeat(load=0.77)
        await eventually(lambda: server.dashboard.stream.version == target and mirror.version == target - 1)
        assert mirror.resyncs == 0, 'without a later delta, the drift is invisible until the beacon'
        await server.dashboard.sync.beacon_all()
        await eventually(
            lambda: (
                mirror.version == server.dashboard.stream.version
                and mirror.state is not None
                and mirror.state.hosts['lonely']['metrics']['load'] == 0.77
            )
        )
        assert mirror.resyncs == 1
        reader.cancel()
        await agent.close()


async def test_server_restart_version_continues_and_client_resyncs(settings) -> None:  # type: ignore[no-untyped-def]
    first = await start_server(settings)
    agent = await FakeAgent(first.ws_url, 'survivor').connect()
    await agent.heartbeat()
    await eventually(lambda: 'survivor' in first.dashboard.stream.value.hosts)
    before = first.dashboard.stream.version
    await agent.close()
    await first.stop()
    second = await start_server(settings)
    try:
        mirror = StateMirror()
        async with connect(sync_url(second), additional_headers={'Authorization': f'Bearer {TOKEN}'}) as ws:
            mirror.message(json.loads(await ws.recv()))
        assert mirror.version is not None and mirror.version > before, 'the version never goes backwards'
        assert mirror.state is not None and mirror.state.hosts['survivor']['connection'] == 'offline'
    finally:
        await second.stop()
