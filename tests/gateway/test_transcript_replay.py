"""Replaying the recorded Go agent 3.1.5 against the real gateway (issue 2 acceptance, docs/agent-protocol.md#tests).

Every agent → dashboard data frame of the transcript is sent, in recorded order, one WebSocket per recorded
connection (sequentially, all as `testhost`, as recorded). Proves that:
- each `register` gets exactly `{"type":"registered","payload":{"host_id":"testhost"}}` as a text frame, and the
  dashboard sends nothing else and never closes the link itself;
- every recorded frame is understood as its type (nothing counted as malformed or dropped as a flood);
- the host row in SQLite and in the versioned state carries the transcript's facts (last register + last heartbeat),
  and the journal has one `host_added`, one `connect` per reconnect and one `disconnect` per connection;
- a second host connected throughout is not disturbed: its link stays open and its state changes only through its own
  heartbeats.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx

from nixfleet.streams.changes import Change, ChangeType
from tests.gateway.raw_agent import RawAgent
from tests.gateway.transcript import agent_connections, transcript_path
from tests.support import FakeAgent, RunningServer, eventually

TRANSCRIPT = transcript_path()

REGISTERED = {'type': 'registered', 'payload': {'host_id': 'testhost'}}
#: Fields that change with every heartbeat, and so are allowed to differ for the undisturbed host.
HEARTBEAT_ONLY = ('last_seen', 'metrics', 'metrics_json')


def _without_heartbeat_data(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in HEARTBEAT_ONLY}


async def _host_row(server: RunningServer, host: str) -> dict[str, Any]:
    return await server.dashboard.store.read(lambda db: dict(db.table('hosts').get(host)))


async def _events_of(server: RunningServer, host: str) -> Counter[str]:
    rows = await server.dashboard.store.read(
        lambda db: db.execute('SELECT action FROM event_log WHERE host_id = ?', [host]).fetchall()
    )
    return Counter(action for (action,) in rows)


async def _beat(agent: FakeAgent, server: RunningServer, load: float) -> None:
    """Send a heartbeat and wait until the dashboard's state shows it (a full round trip)."""
    await agent.heartbeat(load=load)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts[agent.hostname].get('metrics') or {}).get('load') == load)


async def test_replaying_the_go_agent_transcript(server: RunningServer) -> None:
    assert TRANSCRIPT is not None
    connections = agent_connections(TRANSCRIPT)
    messages = [m for c in connections for m in c.parsed]
    last_register = [m for m in messages if m['type'] == 'register'][-1]['payload']
    last_heartbeat = [m for m in messages if m['type'] == 'heartbeat'][-1]['payload']
    dashboard = server.dashboard

    bystander = await FakeAgent(server.ws_url, 'bystander').connect(
        theme_color='#9ece6a', location='home', device_type='desktop'
    )
    await _beat(bystander, server, 0.001)
    bystander_view = _without_heartbeat_data(dict(dashboard.stream.value.hosts['bystander']))
    bystander_row = _without_heartbeat_data(await _host_row(server, 'bystander'))
    bystander_changes: list[Change] = []
    _, subscription = dashboard.stream.snapshot_and_subscribe(
        lambda item: bystander_changes.append(item.change) if item.change.id == 'bystander' else None
    )
    beats = 0
    try:
        for index, connection in enumerate(connections):
            agent = await RawAgent(server.port).connect()
            registers = 0
            for frame, message in zip(connection.frames, connection.parsed, strict=True):
                await agent.send_raw(frame)
                if message['type'] == 'register':
                    registers += 1
                    assert await agent.recv_json() == REGISTERED, f'{connection.run} conn {connection.conn}'
            await agent.close()
            where = f'{connection.run} conn {connection.conn}'
            assert agent.close_code == 1000, f'{where}: the dashboard closed the link ({agent.close_events})'
            assert [json.loads(f) for f in agent.received] == [REGISTERED] * registers, where
            assert all(isinstance(f, str) for f in agent.received), f'{where}: replies must be text frames'
            # The reader handles frames in order, so once the link is gone every frame before the close was handled.
            await eventually(lambda: not dashboard.gateway.is_connected('testhost'))
            await _beat(bystander, server, (index + 2) / 1000)
            beats += 1
    finally:
        subscription.dispose()

    # Every recorded frame was understood as its own type; none was malformed or dropped as a flood.
    assert dashboard.gateway.malformed == Counter()
    expected_frames = Counter(m['type'] for m in messages) + Counter({'register': 1, 'heartbeat': beats + 1})
    assert dashboard.gateway.frames == expected_frames

    # The host row (SQLite) and the host view (versioned state) carry the transcript's facts.
    row = await _host_row(server, 'testhost')
    view = dashboard.stream.value.hosts['testhost']
    facts = {
        'hostname': 'testhost',
        'host_type': last_register['host_type'],
        'agent_version': '3.1.5',
        'os_version': last_register['os_version'],
        'repo_dir': last_register['repo_dir'],
        'heartbeat_interval': last_register['heartbeat_interval'],
        'location': 'cloud',
        'device_type': 'server',
        'generation': last_heartbeat['generation'],
        'source_commit': last_heartbeat['source_commit'],
        'store_path': last_heartbeat['store_path'],
        'binary_hash': last_heartbeat['binary_hash'],
        'lock_hash': last_heartbeat['lock_hash'],
    }
    assert last_register['agent_version'] == '3.1.5'
    assert {k: row[k] for k in facts} == facts
    assert {k: view[k] for k in facts} == facts
    assert row['theme_color'] == view['theme_color'] == last_register['theme_color'] == '#7aa2f7'
    lock = last_heartbeat['update_status']['lock']  # the dashboard may add its own fields (e.g. when received)
    assert {k: v for k, v in json.loads(row['lock_status_json']).items() if k in lock} == lock
    assert {k: v for k, v in view['update_status']['lock'].items() if k in lock} == lock
    assert row['status'] == view['connection'] == 'offline'
    assert await _events_of(server, 'testhost') == Counter(
        {'host_added': 1, 'connect': len(connections) - 1, 'disconnect': len(connections)}
    )

    # The bystander was never disturbed: same link, same facts, changed only by its own heartbeats.
    assert dashboard.gateway.is_connected('bystander')
    assert bystander.ws is not None and bystander.ws.close_code is None
    assert _without_heartbeat_data(dict(dashboard.stream.value.hosts['bystander'])) == bystander_view
    assert _without_heartbeat_data(await _host_row(server, 'bystander')) == bystander_row
    assert [c.type for c in bystander_changes] == [ChangeType.HOST_UPDATED] * beats
    assert all('connection' not in (c.fields or {}) for c in bystander_changes)
    assert await _events_of(server, 'bystander') == Counter({'host_added': 1})

    async with httpx.AsyncClient() as client:
        health = await client.get(f'{server.http}/health')
    assert health.status_code == 200
    assert health.json()['agents_connected'] == 1
    await bystander.close()
