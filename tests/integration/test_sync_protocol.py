"""`/api/sync`: init, deltas in version order, get_state, auth."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nixfleet.gateway.fair_ws import FairWSProtocol
from nixfleet.streams.changes import Change, ChangeType
from tests.support import FakeAgent, RunningServer

API_TOKEN = 'api-token-for-sync-tests'


async def test_sync_requires_auth(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f'ws://127.0.0.1:{server.port}/api/sync'):
            pass
    assert info.value.response.status_code == 401


async def test_init_then_deltas_in_version_order(server: RunningServer) -> None:
    server.dashboard.api_tokens['tests'] = API_TOKEN
    headers = {'Authorization': f'Bearer {API_TOKEN}'}
    async with connect(f'ws://127.0.0.1:{server.port}/api/sync', additional_headers=headers) as ws:
        init = json.loads(await ws.recv())
        assert init['type'] == 'init'
        version = init['version']
        assert init['payload']['state']['hosts'] == []
        agents = [await FakeAgent(server.ws_url, f'host-{i}').connect() for i in range(3)]
        await asyncio.gather(*(a.heartbeat(load=0.5 + i / 1000) for i, a in enumerate(agents)))
        seen: set[str] = set()
        while len(seen) < 3:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert msg['type'] == 'delta'
            assert msg['version'] == version + 1, 'deltas arrive in version order without gaps'
            version = msg['version']
            change = msg['payload']['change']
            if change['type'] == 'host_updated' and 'metrics' in change.get('fields', {}):
                seen.add(change['id'])
        await ws.send(json.dumps({'type': 'get_state'}))
        while (msg := json.loads(await asyncio.wait_for(ws.recv(), 5)))['type'] != 'full_state':
            pass
        assert {h['id'] for h in msg['payload']['state']['hosts']} == {'host-0', 'host-1', 'host-2'}
        assert msg['version'] == server.dashboard.stream.version
        for agent in agents:
            await agent.close()


async def test_deltas_of_a_burst_leave_in_a_few_socket_writes_whole_and_in_order(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 changes made in one go reach a sync client as 200 deltas, in version order, in a handful of socket writes
    (one per drain), not one write per delta."""
    writes: list[int] = []
    made = FairWSProtocol.connection_made

    def counting(protocol: FairWSProtocol, transport: Any) -> None:
        made(protocol, transport)
        write = transport.write
        transport.write = lambda data: (writes.append(len(data)), write(data))

    server.dashboard.api_tokens['tests'] = API_TOKEN
    headers = {'Authorization': f'Bearer {API_TOKEN}'}
    monkeypatch.setattr(FairWSProtocol, 'connection_made', counting)
    async with connect(f'ws://127.0.0.1:{server.port}/api/sync', additional_headers=headers) as ws:
        version = json.loads(await ws.recv())['version']
        writes.clear()
        for n in range(200):
            server.dashboard.stream.emit(Change(ChangeType.EVENT, id=n, payload={'id': n, 'message': f'burst {n}'}))
        versions = []
        while len(versions) < 200:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if msg['type'] == 'delta':
                versions.append(msg['version'])
    assert versions == list(range(version + 1, version + 201))
    assert len(writes) <= 10, f'{len(writes)} socket writes for 200 deltas'
