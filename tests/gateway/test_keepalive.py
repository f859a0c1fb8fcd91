"""Keepalive with the Go agent's non-echoing pong
(docs/agent-protocol.md#keepalive, issue 2 acceptance).

The Go agent answers every ping with an EMPTY pong instead of echoing the payload. A dashboard keepalive that checks
pong payloads (uvicorn's or websockets' default) would drop such agents after a few periods. Proves that an agent
answering only with empty pongs, and sending no data frame meanwhile, stays connected over more than six of the
dashboard's keepalive periods (a short period keeps this under ~2 s), and that the link still carries frames both
ways afterwards.
"""

from __future__ import annotations

import asyncio

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


async def test_a_link_that_talks_is_not_pinged_and_a_silent_one_is(server: RunningServer) -> None:
    """A link that sent a frame within the last ping period needs no keepalive: at 2,000 agents the server's pings
    and their pongs cost 100 frames a second for nothing. Once the agent falls silent, the pings come back."""
    agent = await RawAgent(server.port, echo_pongs=False).connect()
    assert (await agent.register('chatty-01'))['type'] == 'registered'
    talking_until = asyncio.get_running_loop().time() + PERIODS * PERIOD
    while asyncio.get_running_loop().time() < talking_until:
        await agent.send('heartbeat', heartbeat_payload())
        await asyncio.sleep(PERIOD / 6)
    assert agent.pings <= 1, f'{agent.pings} pings while the agent talked for {PERIODS} ping periods'

    await eventually(lambda: agent.pings >= 2)  # silent now: pinged again, every period
    assert server.dashboard.gateway.is_connected('chatty-01')
    await agent.close()
