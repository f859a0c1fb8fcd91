"""A rollout on hosts of the deployed Go agent (issue 19): it announces no capability, so it gets nothing but the
messages of its own protocol (`registered`, `command` with a command of its vocabulary); its gate is the test op
and its rollback the rollback op (docs/agent-protocol.md, docs/architecture.md#safe-rollouts)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nixfleet.models import PipelineStatus as P
from nixfleet.ops.pipelines import PipelineOptions
from nixfleet.protocol import AGENT_COMMANDS
from tests.ops.helpers import Fleet, ScriptedAgent, fail, ok, restart, switch_ok

#: What the recorded Go agent 3.1.5 session shows the dashboard sending (tests/data/agent-transcript.jsonl).
GO_AGENT_RECEIVES = {'registered', 'command', 'kill_command'}


class Recording(asyncio.Queue[dict[str, Any]]):
    """An agent's inbox that also keeps every frame the dashboard sent."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[dict[str, Any]] = []

    def put_nowait(self, item: dict[str, Any]) -> None:
        self.log.append(item)
        super().put_nowait(item)


async def go_agents(fleet: Fleet, *hosts: str) -> dict[str, ScriptedAgent]:
    agents = {}
    for host in hosts:
        agent = await fleet.add(host)
        agent.fake.received = Recording()
        agents[host] = agent.script(pull=ok, switch=switch_ok, test=ok, rollback=ok, update=ok, restart=restart)
    return agents


def sent(agents: dict[str, ScriptedAgent]) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = []
    for agent in agents.values():
        assert isinstance(agent.fake.received, Recording)
        log += agent.fake.received.log
    return log


@pytest.mark.parametrize(
    ('pipeline', 'gate', 'ran'),
    [
        ('do-all', None, ['pull', 'switch', 'test', 'rollback']),  # its test stage is the gate
        ('update-agent', 'test', ['update', 'pull', 'switch', 'restart', 'test', 'rollback']),  # the gate's test op
    ],
)
async def test_a_go_agent_in_a_rollout_gets_only_its_own_protocol(
    fleet: Fleet, pipeline: str, gate: str | None, ran: list[str]
) -> None:
    agents = await go_agents(fleet, 'web-01', 'web-02')
    agents['web-01'].script(test=fail)
    options = PipelineOptions(waves='1,rest', gate=gate)
    run = await fleet.engine.start_pipeline(pipeline, ['web-01', 'web-02'], options=options)
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)

    assert run.status is P.HALTED and run.gates['0']['rolled_back'] == {'web-01': 'SUCCESS'}
    assert agents['web-01'].seen == ran and agents['web-02'].seen == []  # the second wave never started
    frames = sent(agents)
    assert {frame['type'] for frame in frames} <= GO_AGENT_RECEIVES
    assert {frame['payload']['command'] for frame in frames if frame['type'] == 'command'} <= AGENT_COMMANDS
