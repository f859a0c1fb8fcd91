"""The walking skeleton end to end: an agent registers, heartbeats, and shows up in the state and the store."""

from __future__ import annotations

import httpx

from tests.support import FakeAgent, RunningServer, eventually


async def test_agent_registers_and_heartbeats(server: RunningServer) -> None:
    agent = await FakeAgent(server.ws_url, 'web-01').connect()
    await agent.heartbeat(load=0.123456)
    state = server.dashboard.stream
    await eventually(
        lambda: (
            (state.value.hosts.get('web-01') or {}).get('metrics', {})
            and state.value.hosts['web-01']['metrics']['load'] == 0.123456
        )
    )
    assert state.value.hosts['web-01']['connection'] == 'online'
    async with httpx.AsyncClient() as client:
        health = (await client.get(f'{server.http}/health')).json()
    assert health['agents_connected'] == 1
    await agent.close()
    await eventually(lambda: state.value.hosts['web-01']['connection'] == 'offline')
