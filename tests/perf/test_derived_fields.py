"""Derived host fields (compartments, available ops, busy state) are computed when one of their inputs changes,
never per heartbeat, and a registration costs the same whatever the fleet's size. These tests assert behaviour
(which hosts are derived, what a change carries), never a timing; a counting deriver in `hosts.derivers` (the
registry's extension point) sees every derivation."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from nixfleet.streams.changes import ChangeType, VersionedChange
from tests.support import Dashboards, FakeAgent, InProcess, eventually

DERIVED = {'compartments', 'available_ops', 'busy', 'pending_command', 'command_id', 'command_status'}


@pytest.fixture
def server(inproc: InProcess) -> InProcess:
    """The dashboard in-process (no socket): these tests are about what it does, not the network edge."""
    return inproc


@pytest.fixture
def derived(server: Dashboards) -> Counter[str]:
    """Derivations per host from now on (a deriver that counts its calls and adds nothing)."""
    calls: Counter[str] = Counter()

    def count(view: dict[str, Any]) -> dict[str, Any]:
        calls[view['id']] += 1
        return {}

    server.dashboard.hosts.derivers.append(count)
    return calls


@pytest.fixture
async def agents(server: Dashboards) -> AsyncIterator[Callable[..., Any]]:
    """Connect fake agents (closed after the test)."""
    connected: list[FakeAgent] = []

    async def connect(host: str, **register: Any) -> FakeAgent:
        agent = await server.agent(host).connect(**register)
        connected.append(agent)
        return agent

    yield connect
    for agent in connected:
        await agent.close()


def host_updates(server: Dashboards) -> tuple[list[VersionedChange], Callable[[], None]]:
    seen: list[VersionedChange] = []
    _, subscription = server.dashboard.stream.snapshot_and_subscribe(
        lambda item: seen.append(item) if item.change.type is ChangeType.HOST_UPDATED else None
    )
    return seen, subscription.dispose


def host(server: Dashboards, name: str) -> dict[str, Any]:
    return dict(server.dashboard.stream.value.hosts.get(name) or {})


async def test_a_heartbeat_that_changes_no_fact_derives_nothing_and_carries_no_derived_field(
    server: Dashboards, derived: Counter[str], agents: Callable[..., Any]
) -> None:
    agent = await agents('web-01')
    await agent.heartbeat()  # the first heartbeat brings facts the register did not (lock hash, reports)
    await eventually(lambda: (host(server, 'web-01').get('metrics') or {}).get('load') == 0.42)
    derived.clear()
    seen, stop = host_updates(server)
    for load in (0.5, 0.6, 0.7):
        await agent.heartbeat(load=load)
    await eventually(lambda: (host(server, 'web-01').get('metrics') or {}).get('load') == 0.7)
    stop()
    assert derived == Counter()
    assert [set(item.change.fields or {}) for item in seen] == [{'last_seen', 'metrics'}] * 3
    assert set(host(server, 'web-01')) >= DERIVED  # the snapshot keeps the derived fields it had


async def test_a_heartbeat_that_changes_a_fact_derives_the_host_once_and_carries_every_derived_field(
    server: Dashboards, derived: Counter[str], agents: Callable[..., Any]
) -> None:
    agent = await agents('web-01')
    await agent.heartbeat()
    await eventually(lambda: host(server, 'web-01').get('lock_hash') == '744b04a0')
    derived.clear()
    seen, stop = host_updates(server)
    await agent.heartbeat(generation='1234567')
    await eventually(lambda: host(server, 'web-01').get('generation') == '1234567')
    stop()
    assert derived == Counter({'web-01': 1})
    [update] = seen
    assert {'generation', 'last_seen', 'metrics'} | DERIVED <= set(update.change.fields or {})


async def test_registering_hosts_derives_each_one_not_the_fleet(
    server: Dashboards, derived: Counter[str], agents: Callable[..., Any]
) -> None:
    for i in range(10):
        await agents(f'web-{i:02d}')
    derived.clear()
    for i in range(10, 40):
        await agents(f'web-{i:02d}')
    await eventually(lambda: len(server.dashboard.stream.value.hosts) == 40)
    assert derived == Counter({f'web-{i:02d}': 1 for i in range(10, 40)})  # nobody registered before


async def test_an_agent_reporting_a_newer_version_derives_no_other_host(
    server: Dashboards, derived: Counter[str], agents: Callable[..., Any]
) -> None:
    for i in range(5):
        await agents(f'web-{i:02d}')
    derived.clear()
    await agents('web-new', agent_version='3.1.6')
    await eventually(lambda: 'web-new' in server.dashboard.stream.value.hosts)
    assert set(derived) == {'web-new'}  # the expected version comes from the admin, not from agents
    assert host(server, 'web-new')['compartments']['agent']['status'] == 'ok'
    assert host(server, 'web-00')['compartments']['agent']['message'] == 'Agent 3.1.5 (current)'


async def test_the_periodic_recheck_derives_only_hosts_whose_compartments_age(
    server: Dashboards, derived: Counter[str], agents: Callable[..., Any]
) -> None:
    working = {'system': {'status': 'working', 'message': 'Switch in progress...', 'checked_at': ''}}
    fleet = [await agents(f'web-{i:02d}') for i in range(6)]
    for agent in fleet:
        await agent.heartbeat()
    await fleet[2].heartbeat(update_status=working)
    await eventually(lambda: host(server, 'web-02')['compartments']['system']['status'] == 'working')
    derived.clear()
    await server.dashboard.compartments.recheck_job()
    assert derived == Counter({'web-02': 1})


async def test_a_disconnect_derives_the_host_once(
    server: Dashboards, derived: Counter[str], agents: Callable[..., Any]
) -> None:
    agent = await agents('web-01')
    await agents('web-02')
    derived.clear()
    await agent.close()
    await eventually(lambda: host(server, 'web-01').get('connection') == 'offline')
    assert derived == Counter({'web-01': 1})
    assert 'pull' not in host(server, 'web-01')['available_ops']  # an offline host accepts no agent op
