"""SimulatedFleet: many simulated agents in one process against one dashboard."""

from __future__ import annotations

from nixfleet.agent import PALETTE, SimulatedFleet
from tests.agent.fakes import FAST, TOKEN, FakeDashboard


async def test_fleet_registers_distinct_hosts_and_stops_cleanly(dashboard: FakeDashboard) -> None:
    fleet = SimulatedFleet(url=dashboard.url, token=TOKEN, count=8, interval=3600, speed=200, timing=FAST)

    async with fleet:
        registers = [(await dashboard.expect('register')).payload for _ in range(8)]
        for _ in range(8):
            await dashboard.expect('heartbeat')

    closes = [await dashboard.expect_close() for _ in range(8)]
    assert sorted(r['hostname'] for r in registers) == [f'sim-{n:02d}' for n in range(1, 9)]
    assert {r['theme_color'] for r in registers} == set(PALETTE)
    assert {r['host_type'] for r in registers} == {'nixos', 'macos'}
    assert {r['location'] for r in registers} == {'home', 'office', 'cloud'}
    assert {r['device_type'] for r in registers} == {'desktop', 'laptop', 'server'}
    assert {(code, reason) for _conn, code, reason in closes} == {(1000, 'shutdown')}


async def test_a_push_makes_pull_move_every_host_to_the_new_generation(dashboard: FakeDashboard) -> None:
    fleet = SimulatedFleet(url=dashboard.url, token=TOKEN, count=2, interval=3600, speed=200, timing=FAST)

    async with fleet:
        for _ in range(2):
            await dashboard.expect('heartbeat')
        head = fleet.remote.push(agent_version='9.9.9')
        for conn in list(dashboard.conns.values()):
            await conn.send('{"type":"command","payload":{"command":"pull"}}')
        statuses = [await dashboard.expect('status') for _ in range(2)]

    assert [s.payload['generation'] for s in statuses] == [head, head]
    assert {host.system.pulled_agent_version for host in fleet.hosts.values()} == {'9.9.9'}
