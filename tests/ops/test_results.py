"""Results that report a problem are no success (issue 14 item 7): the Go agent's own `status` frames, as recorded in
the transcript (docs/agent-protocol.md#command-vocabulary), end check-version and the refreshes with what they say."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nixfleet.models import CommandStatus as C
from nixfleet.ops.commands import Command
from tests.gateway.transcript import agent_connections, transcript_path
from tests.ops.helpers import Fleet, ScriptedAgent
from tests.support import eventually, send_output

TRANSCRIPT = transcript_path()


def recorded_statuses() -> list[dict[str, Any]]:
    """The payloads of every `status` frame the Go agent sent, in recorded order."""
    frames = [json.loads(f) for c in agent_connections(TRANSCRIPT) for f in c.frames]
    return [f['payload'] for f in frames if f['type'] == 'status']


def recorded(command: str, message: str) -> dict[str, Any]:
    """The one recorded `status` payload of `command` with this message."""
    [payload] = [p for p in recorded_statuses() if p['command'] == command and p.get('message') == message]
    return payload


def answer(payload: dict[str, Any], output: str = '') -> Any:
    """A scripted agent behaviour: an output line (if any), then exactly the recorded `status` payload."""

    async def behaviour(agent: ScriptedAgent, command: str) -> None:
        if output:
            await send_output(agent.fake, output)
        await agent.fake.send('status', payload)

    return behaviour


async def run(fleet: Fleet, op: str, payload: dict[str, Any], output: str = '') -> Command:
    agent = fleet.agents.get('web-01') or await fleet.add('web-01')
    agent.script(**{payload['command']: answer(payload, output)})
    return await fleet.ended(await fleet.started(op, 'web-01'))


async def test_check_version_with_running_not_installed_ends_partial_with_the_agents_message(fleet: Fleet) -> None:
    mismatch = recorded('check-version', 'mismatch: running=3.1.5 installed=9.9.9')
    assert mismatch['status'] == 'warning' and mismatch['exit_code'] == 0

    cmd = await run(fleet, 'check-version', mismatch)

    assert (cmd.status, cmd.code, cmd.error) == (C.PARTIAL, 'agent_warning', 'mismatch: running=3.1.5 installed=9.9.9')
    assert cmd.view()['success'] is True  # it ran and answered; the answer is the problem (a warning, not red)


async def test_check_version_with_matching_versions_ends_success(fleet: Fleet) -> None:
    cmd = await run(fleet, 'check-version', recorded('check-version', 'running=3.1.5 installed=3.1.5'))

    assert (cmd.status, cmd.error, cmd.message) == (C.SUCCESS, None, 'running=3.1.5 installed=3.1.5')


async def test_refresh_system_whose_agent_message_is_error_ends_error(fleet: Fleet) -> None:
    failed = recorded('refresh-system', 'error')
    assert failed['status'] == 'ok'  # the Go agent always says ok; the check's result is the message
    why = '✓ System status: error (Cannot read current system: lstat /run/current-system: no such file or directory)'

    cmd = await run(fleet, 'refresh-system', failed, output=why)

    assert (cmd.status, cmd.code) == (C.ERROR, 'goal_not_achieved')
    assert cmd.error == 'the agent\'s System check reported "error" (see the output)'
    assert why in await fleet.engine.lifecycle.read_output(cmd.id)
    await eventually(lambda: fleet.host('web-01')['compartments']['system']['status'] == 'error')
    assert fleet.host('web-01')['compartments']['system']['message'] == f'System check failed: {cmd.error}'


@pytest.mark.parametrize('found', ['ok', 'outdated'])
async def test_refreshes_that_found_a_state_end_success(fleet: Fleet, found: str) -> None:
    system = await run(fleet, 'refresh-system', {**recorded('refresh-system', 'error'), 'message': found})
    lock = await run(fleet, 'refresh-lock', recorded('refresh-lock', 'ok'))

    assert (system.status, system.message) == (C.SUCCESS, found)
    assert (lock.status, lock.message) == (C.SUCCESS, 'ok')


async def test_refresh_lock_whose_agent_message_is_error_ends_error(fleet: Fleet) -> None:
    cmd = await run(fleet, 'refresh-lock', {**recorded('refresh-lock', 'ok'), 'message': 'error'})

    assert (cmd.status, cmd.error) == (C.ERROR, 'the agent\'s Lock check reported "error" (see the output)')
