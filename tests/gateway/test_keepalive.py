"""Keepalive with the Go agent's non-echoing pong
(docs/agent-protocol.md#keepalive, issue 2 acceptance).

The Go agent answers every ping with an EMPTY pong instead of echoing the payload. A dashboard keepalive that checks
pong payloads (uvicorn's or websockets' default) would drop such agents after a few periods. Proves that an agent
answering only with empty pongs, and sending no data frame meanwhile, stays connected over more than six of the
dashboard's keepalive periods (a short period keeps this under ~2 s), and that the link still carries frames both
ways afterwards.
"""

from __future__ import annotations

import pytest

from nixfleet import protocol
from nixfleet.config import Settings
from tests.gateway.raw_agent import RawAgent
from tests.support import RunningServer, eventually, heartbeat_payload

PERIOD = 0.3
PERIODS = 6


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default test settings with a short dashboard keepalive period."""
    return settings.model_copy(update={'ws_ping_interval': PERIOD})


async def test_agent_with_empty_pongs_stays_connected(server: RunningServer) -> None:
    agent = await RawAgent(server.port, echo_pongs=False).connect()
    assert (await agent.register('go-agent'))['type'] == 'registered'

    await eventually(lambda: agent.pings > PERIODS or agent.closed.is_set(), timeout=PERIODS * PERIOD + 5)

    assert not agent.closed.is_set(), f'link closed after {agent.pings} pings: {agent.close_events}'
    assert server.dashboard.gateway.is_connected('go-agent')
    # Still a working link in both directions: a heartbeat reaches the state, a command reaches the agent.
    await agent.send('heartbeat', heartbeat_payload(load=0.777))
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts['go-agent'].get('metrics') or {}).get('load') == 0.777)
    assert hosts.value.hosts['go-agent']['connection'] == 'online'
    assert server.dashboard.gateway.send('go-agent', protocol.command('refresh-all'))
    assert await agent.recv_json() == {'type': 'command', 'payload': {'command': 'refresh-all'}}
    await agent.close()
