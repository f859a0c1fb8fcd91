"""Once a host has a per-host token, only that token may register it (issue 15 item 4), on a real server.

Proves that the shared token registering as such a host is refused at its `register` frame with close 4403 (the
agent names its host only there), that the host's live link stays up and its facts untouched, that the refusal is
journaled and logged without any token in it, and that the shared token works again once the host's per-host
tokens are revoked.
"""

from __future__ import annotations

import logging

import pytest

from tests.security.helpers import admin_client, create_token
from tests.support import AGENT_TOKEN, FakeAgent, RunningServer, eventually, register_payload


def _refusals(server: RunningServer) -> list[dict]:
    return [e for e in server.dashboard.stream.value.events if e.get('action') == 'agent_refused']


async def _load_arrives(server: RunningServer, agent: FakeAgent, load: float) -> None:
    await agent.heartbeat(load=load)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts[agent.hostname].get('metrics') or {}).get('load') == load)


async def test_the_shared_token_cannot_register_a_host_that_has_its_own_token(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    own = await create_token(server, kind='agent', hostname='web1')
    owner = await FakeAgent(server.ws_url, 'web1', token=own['token']).connect()
    await _load_arrives(server, owner, 1.5)

    intruder = FakeAgent(server.ws_url, 'web1')  # the shared token
    await intruder.connect(register=False)
    await intruder.send('register', register_payload('web1', agent_version='99.0.0', theme_color='#ff0000'))

    assert await intruder.closed() == 4403
    assert intruder.received.empty(), 'no registered reply'
    await _load_arrives(server, owner, 2.5)  # the real link is still the host's link
    view = server.dashboard.stream.value.hosts['web1']
    assert view['connection'] == 'online' and view['agent_version'] == '3.1.5' and view['theme_color'] != '#ff0000'
    [event] = await eventually(lambda: _refusals(server))
    assert event['host_id'] == 'web1' and event['level'] == 'warn'
    assert 'shared token may not register web1, which has its own agent token' in event['message']
    assert (event['details']['token_kind'], event['details']['reason']) == ('shared', 'host_has_token')
    logged = [r.getMessage() for r in caplog.records if 'has its own agent token' in r.getMessage()]
    assert len(logged) == 1 and '127.0.0.1' in logged[0]
    everything = caplog.text + str(server.dashboard.stream.value.events)
    assert AGENT_TOKEN not in everything and own['token'] not in everything
    await owner.close()


async def test_the_shared_token_registers_the_host_again_once_its_tokens_are_revoked(server: RunningServer) -> None:
    own = await create_token(server, kind='agent', hostname='web1')
    refused = FakeAgent(server.ws_url, 'web1')
    await refused.connect(register=False)
    await refused.send('register', register_payload('web1'))
    assert await refused.closed() == 4403

    async with admin_client(server) as client:
        assert (await client.delete(f'/api/tokens/agent/{own["id"]}')).status_code == 200
    agent = await FakeAgent(server.ws_url, 'web1').connect()  # registered: `connect` awaits the reply
    assert server.dashboard.gateway.is_connected('web1')
    await agent.close()
