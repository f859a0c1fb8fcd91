"""Liveness online → stale → offline within the bounds of docs/architecture.md#hosts-and-liveness (issue 2 acceptance).

Time is virtual: the dashboard runs on an injected clock, so "15 s without a heartbeat" takes no wall time. Proves:
- a host stays online until exactly three times its own `heartbeat_interval` has passed without a heartbeat, and
  is stale right after; a heartbeat brings it back online;
- the periodic liveness job applies this by itself (no test calls it), and closes links silent for longer than
  `agent_idle_timeout`, which marks the host offline;
- closing the socket, with a close frame or by a TCP abort, marks the host offline promptly (real time).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from tests.gateway.raw_agent import RawAgent
from tests.support import FakeAgent, ManualClock, RunningServer, eventually, start_server

EPSILON = 0.01


@pytest.fixture
def clock() -> ManualClock:
    """The virtual clock the dashboard under test runs on; starts at the real time so timestamps look normal."""
    return ManualClock(time.time())


@pytest.fixture
async def manual_server(settings: Settings, clock: ManualClock) -> AsyncIterator[RunningServer]:
    """A real server on virtual time whose periodic liveness job never fires during a test (the test drives it)."""
    quiet = settings.model_copy(update={'tick_interval': 3600.0})
    running = await start_server(quiet, Dashboard(quiet, clock=clock))
    yield running
    await running.stop()


@pytest.fixture
async def ticking_server(settings: Settings, clock: ManualClock) -> AsyncIterator[RunningServer]:
    """A real server on virtual time whose periodic liveness job runs every 50 ms of real time."""
    fast = settings.model_copy(update={'tick_interval': 0.05})
    running = await start_server(fast, Dashboard(fast, clock=clock))
    yield running
    await running.stop()


def _connection(server: RunningServer, host: str) -> str:
    return str(server.dashboard.stream.value.hosts[host]['connection'])


async def _beat(server: RunningServer, agent: FakeAgent, load: float) -> None:
    await agent.heartbeat(load=load)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts[agent.hostname].get('metrics') or {}).get('load') == load)


@pytest.mark.parametrize('interval', [1, 5, 60])
async def test_stale_after_exactly_three_missed_intervals(
    manual_server: RunningServer, clock: ManualClock, interval: int
) -> None:
    server, hosts = manual_server, manual_server.dashboard.hosts
    agent = await FakeAgent(server.ws_url, 'web').connect(heartbeat_interval=interval)
    await _beat(server, agent, 0.1)
    assert _connection(server, 'web') == 'online'

    assert hosts.check_liveness(clock.advance(3 * interval - EPSILON)) == []
    assert _connection(server, 'web') == 'online'
    assert hosts.check_liveness(clock.advance(2 * EPSILON)) == ['web']
    assert _connection(server, 'web') == 'stale'
    assert hosts.check_liveness(clock.advance(interval)) == [], 'a stale host goes stale only once'

    await _beat(server, agent, 0.2)
    assert _connection(server, 'web') == 'online'
    assert hosts.check_liveness(clock.advance(3 * interval - EPSILON)) == []
    assert _connection(server, 'web') == 'online'
    await agent.close()
    await eventually(lambda: _connection(server, 'web') == 'offline', timeout=1.0)
    assert hosts.check_liveness(clock.advance(10 * interval)) == [], 'an offline host never turns stale'
    assert _connection(server, 'web') == 'offline'


async def test_each_host_is_judged_by_its_own_interval(manual_server: RunningServer, clock: ManualClock) -> None:
    server = manual_server
    fast = await FakeAgent(server.ws_url, 'fast').connect(heartbeat_interval=2)
    slow = await FakeAgent(server.ws_url, 'slow').connect(heartbeat_interval=10)
    await _beat(server, fast, 0.1)
    await _beat(server, slow, 0.1)
    assert server.dashboard.hosts.check_liveness(clock.advance(6 + EPSILON)) == ['fast']
    assert (_connection(server, 'fast'), _connection(server, 'slow')) == ('stale', 'online')
    await fast.close()
    await slow.close()


async def test_the_liveness_job_marks_stale_then_closes_the_dead_link(
    ticking_server: RunningServer, clock: ManualClock
) -> None:
    server = ticking_server
    agent = await RawAgent(server.port).connect()
    assert (await agent.register('quiet', heartbeat_interval=5))['type'] == 'registered'
    assert _connection(server, 'quiet') == 'online'

    clock.advance(15 + EPSILON)
    await eventually(lambda: _connection(server, 'quiet') == 'stale', timeout=2.0)
    assert not agent.closed.is_set(), 'stale is not offline: the link stays open'

    clock.advance(server.dashboard.settings.agent_idle_timeout)
    assert await agent.wait_closed(timeout=2.0) == 4001
    await eventually(lambda: _connection(server, 'quiet') == 'offline', timeout=2.0)
    row = await server.dashboard.store.read(lambda db: db.table('hosts').get('quiet'))
    assert row['status'] == 'offline'


@pytest.mark.parametrize('how', ['close-frame', 'tcp-abort'])
async def test_closing_the_socket_marks_offline_promptly(manual_server: RunningServer, how: str) -> None:
    # Virtual time stands still and the liveness job never runs: the host can only go offline by its socket's end,
    # so "promptly" means "without waiting for the liveness timeout", whatever the machine's load.
    server = manual_server
    agent = await RawAgent(server.port).connect()
    assert (await agent.register('leaver'))['type'] == 'registered'
    assert _connection(server, 'leaver') == 'online'

    await (agent.close() if how == 'close-frame' else agent.abort())
    await eventually(lambda: _connection(server, 'leaver') == 'offline')
    row = await server.dashboard.store.read(lambda db: db.table('hosts').get('leaver'))
    assert row['status'] == 'offline'
    events = await server.dashboard.store.read(
        lambda db: [r[0] for r in db.execute("SELECT action FROM event_log WHERE host_id = 'leaver' ORDER BY id")]
    )
    assert events[-1] == 'disconnect'
