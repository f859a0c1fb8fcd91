"""No compartment claims work that has ended (issue 14 item 5).

The agent reports `working` in its heartbeats while a test or switch runs, but a killed or crashed agent never
reports the end: it comes back with its compartments forgotten (empty). Each test here ends such a command the way
the real Go agent does (docs/agent-protocol.md#kill_command) and reads the host's compartments right when the command
has ended,
without moving the clock: the 5-minute "stale working" rule must not be what clears them.
"""

from __future__ import annotations

from typing import Any

from nixfleet.models import CommandStatus as S
from tests.ops.helpers import Fleet, ScriptedAgent
from tests.support import eventually, expect_command


def working(compartment: str, message: str) -> dict[str, Any]:
    """A heartbeat's `update_status` with one compartment reported `working`."""
    return {'update_status': {compartment: {'status': 'working', 'message': message, 'checked_at': ''}}}


def status(fleet: Fleet, host: str, compartment: str) -> str:
    return str(fleet.host(host)['compartments'][compartment]['status'])


async def run_until_reported(fleet: Fleet, op: str, compartment: str, message: str) -> tuple[ScriptedAgent, str]:
    """Start `op` on web-01 and let its agent report `compartment` working in a heartbeat, as the Go agent does."""
    agent = await fleet.add('web-01')
    cid = await fleet.started(op, 'web-01')
    assert await expect_command(agent.fake) == op
    agent.pending = op
    await agent.heartbeat(**working(compartment, message))
    row = fleet.dashboard.hosts.rows['web-01']
    await eventually(lambda: 'working' in (row.get(f'{compartment}_status_json') or ''))
    assert status(fleet, 'web-01', compartment) == 'working'
    return agent, cid


async def agent_dies_and_returns(agent: ScriptedAgent) -> None:
    """The agent process is gone (its command with it) and restarts: idle, its compartments forgotten."""
    agent.pending = None
    await agent.reconnect()


async def test_a_killed_test_leaves_working_when_it_ends(fleet: Fleet) -> None:
    agent, cid = await run_until_reported(fleet, 'test', 'tests', 'Tests running...')
    await fleet.engine.kill_command(cid)
    assert (await agent.fake.expect('kill_command'))['payload']['signal'] == 'SIGTERM'
    await agent_dies_and_returns(agent)  # SIGTERM hit the agent's own process group: no status for the test
    assert (await fleet.ended(cid)).status is S.KILLED
    assert status(fleet, 'web-01', 'tests') == 'unknown'  # at once, not 5 minutes later
    assert fleet.host('web-01')['compartments']['tests']['message'] == 'Tests not run yet'


async def test_a_killed_switch_leaves_system_working_when_it_ends(fleet: Fleet) -> None:
    agent, cid = await run_until_reported(fleet, 'switch', 'system', 'Switch in progress...')
    await fleet.engine.kill_command(cid)
    await agent.fake.expect('kill_command')
    await agent_dies_and_returns(agent)
    assert (await fleet.ended(cid)).status is S.KILLED
    assert status(fleet, 'web-01', 'system') == 'unknown'


async def test_an_agent_crash_during_a_test_leaves_working_when_the_command_ends(fleet: Fleet) -> None:
    agent, cid = await run_until_reported(fleet, 'test', 'tests', 'Tests running...')
    await agent_dies_and_returns(agent)
    ended = await fleet.ended(cid)
    assert ended.status is S.ERROR and 'reported no result' in (ended.error or '')
    assert status(fleet, 'web-01', 'tests') != 'working'


async def test_a_killed_test_stays_ended_across_a_dashboard_restart(fleet: Fleet) -> None:
    agent, cid = await run_until_reported(fleet, 'test', 'tests', 'Tests running...')
    await fleet.engine.kill_command(cid)
    await agent.fake.expect('kill_command')
    await agent_dies_and_returns(agent)
    await fleet.ended(cid)
    await fleet.restart_server()  # the journal, not memory, now says when the test ended
    assert status(fleet, 'web-01', 'tests') == 'unknown'


async def test_a_report_after_the_end_is_new_work(fleet: Fleet) -> None:
    agent, cid = await run_until_reported(fleet, 'test', 'tests', 'Tests running...')
    await fleet.engine.cancel_command(cid)  # tracking ends; the agent is left alone and keeps testing
    assert status(fleet, 'web-01', 'tests') == 'unknown'
    fleet.clock.advance(1)
    await agent.heartbeat(**working('tests', 'Tests running again'))
    await eventually(lambda: status(fleet, 'web-01', 'tests') == 'working')
