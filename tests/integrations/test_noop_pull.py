"""A pull with nothing to fetch on a current host ends SUCCESS (issue 14 item 2): its post-check judges Git as the pull
left it, not the `working` the pull itself shows while it is still the host's active command.

Both agents that exist are tried: the simulated Python agent, and the Go agent 3.1.5 as recorded in the transcript
(its isolated-mode pull on a host already at 686f817: output frames with an empty `command`, `status ok`, and no
post-status heartbeat showing the command).
"""

from __future__ import annotations

import json

import pytest

from nixfleet.agent import SimulatedFleet
from nixfleet.models import CommandStatus
from tests.gateway.raw_agent import RawAgent
from tests.gateway.transcript import agent_connections, transcript_path
from tests.integrations.config_repo import compartments
from tests.integrations.fake_version import FakeVersionServer, version_json
from tests.support import RunningServer, eventually

TRANSCRIPT = transcript_path()


async def forced_pull(server: RunningServer, host: str) -> str:
    """Dispatch a pull to a host whose Git is current (force skips the `already_current` pre-check)."""
    [result] = await server.dashboard.ops.dispatch('pull', [host], force=True)
    assert result.started and result.command_id is not None, result
    return result.command_id


async def test_a_no_op_pull_of_a_simulated_agent_ends_success(server: RunningServer, sim_fleet: SimulatedFleet) -> None:
    command_id = await forced_pull(server, 'sim-01')
    cmd = await server.dashboard.ops.lifecycle.wait_terminal(command_id)

    assert (cmd.status, cmd.code, cmd.error) == (CommandStatus.SUCCESS, None, None)
    assert compartments(server, 'sim-01')['git'] == 'ok'


@pytest.mark.skipif(TRANSCRIPT is None, reason='agent-transcript.jsonl not found')
async def test_a_no_op_pull_of_the_go_agent_transcript_ends_success(
    server: RunningServer, version_server: FakeVersionServer
) -> None:
    assert TRANSCRIPT is not None
    [isolated] = [c for c in agent_connections(TRANSCRIPT) if (c.run, c.conn) == ('main', 17)]
    register, heartbeat, *pull = isolated.frames
    state = json.loads(heartbeat)['payload']
    version_server.serve(version_json(commit=state['generation'] + '0' * 33, lock=state['lock_hash']))
    await server.dashboard.compartments.refresh_remote()
    agent = await RawAgent(server.port).connect()
    try:
        await agent.send_raw(register)
        assert await agent.recv_json() == {'type': 'registered', 'payload': {'host_id': 'testhost'}}
        await agent.send_raw(heartbeat)
        await eventually(lambda: compartments(server, 'testhost').get('git') == 'ok')

        command_id = await forced_pull(server, 'testhost')
        assert await agent.recv_json() == {'type': 'command', 'payload': {'command': 'pull'}}
        assert [json.loads(f)['type'] for f in pull] == [
            'operation_progress', 'output', 'output', 'output', 'operation_progress', 'status', 'heartbeat'
        ]  # fmt: skip
        for frame in pull:
            await agent.send_raw(frame)
        cmd = await server.dashboard.ops.lifecycle.wait_terminal(command_id)
    finally:
        await agent.close()

    assert (cmd.status, cmd.code, cmd.error) == (CommandStatus.SUCCESS, None, None)
    assert compartments(server, 'testhost')['git'] == 'ok'
