"""The live state stays bounded (docs/architecture.md#live-state-bounds, issue 14 item 8): finished commands and
pipelines leave it by count and after
an hour, in a versioned `pruned` change every sync client applies; the journal keeps them for History and the API.

A real dashboard on virtual time with a real SQLite file and fake agents over WebSocket; the limits are set small so
a few dozen commands prove the bound.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from nixfleet.config import Settings
from nixfleet.ops.pipelines import PipelineOptions
from nixfleet.streams.mirror import StateMirror
from nixfleet.streams.state import FleetState
from nixfleet.streams.trim import WINDOW
from tests.integration.test_sync_mirror import TOKEN, follow, sync_url
from tests.ops.helpers import Fleet, fail, hang
from tests.support import eventually

COMMANDS, PIPELINES = 5, 2
HOSTS = ('web-01', 'web-02', 'web-03')


@pytest.fixture
async def fleet(served_fleet: Fleet) -> Fleet:
    """Served on a free port: the sync clients connect over a real WebSocket."""
    return served_fleet


@pytest.fixture
def ops_settings(ops_settings: Settings) -> Settings:
    """The op-engine settings with a live state of at most 5 finished commands and 2 finished pipeline runs."""
    return ops_settings.model_copy(update={'state_finished_commands': COMMANDS, 'state_finished_pipelines': PIPELINES})


def finished(state: FleetState) -> tuple[int, int]:
    """Finished commands and finished pipeline runs held in a state."""
    commands = sum(1 for c in state.commands.values() if c.get('terminal'))
    pipelines = sum(1 for p in state.pipelines.values() if p.get('status') != 'RUNNING')
    return commands, pipelines


async def run_commands(fleet: Fleet, rounds: int) -> int:
    """Run `test` on every host `rounds` times (each answered at once); return how many commands finished."""
    for _ in range(rounds):
        results = await fleet.dispatch('test', *HOSTS)
        assert all(r.started for r in results), results
        for result in results:
            await fleet.ended(result.command_id)
    return rounds * len(HOSTS)


async def run_pipelines(fleet: Fleet, count: int) -> None:
    """Run `force-update` pipelines whose first stage fails on every host (each ends FAILED at once)."""
    for _ in range(count):
        run = await fleet.engine.start_pipeline('force-update', HOSTS, options=PipelineOptions())
        ended = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
        assert ended.status.value == 'FAILED'


async def test_finished_commands_and_pipelines_leave_the_live_state_and_every_client(fleet: Fleet) -> None:
    for host in HOSTS:
        (await fleet.add(host)).script(force_update=fail)
    mirror = StateMirror()
    async with connect(sync_url(fleet.server), additional_headers={'Authorization': f'Bearer {TOKEN}'}) as ws:
        reader = asyncio.create_task(follow(ws, mirror))
        total = await run_commands(fleet, 12)
        await run_pipelines(fleet, 4)
        total += 4 * len(HOSTS) * 2  # each run: force-rebuild failed and restart skipped, per host
        state = fleet.dashboard.stream.value
        await eventually(lambda: mirror.version == fleet.dashboard.stream.version)

        commands, pipelines = finished(state)
        assert commands <= COMMANDS and pipelines <= PIPELINES, (commands, pipelines)
        assert len(state.commands) == commands, 'nothing is running: every command in the state is a finished one'
        assert mirror.state is not None and mirror.resyncs == 0 and mirror.gaps == 0
        assert mirror.state.commands == state.commands, 'the client dropped exactly what the server dropped'
        assert mirror.state.pipelines == state.pipelines

        async with httpx.AsyncClient(base_url=fleet.server.http) as api:
            listed = await api.get('/api/commands', params={'limit': 500}, headers={'Authorization': f'Bearer {TOKEN}'})
        assert len(listed.json()['commands']) == total, 'the journal still has every command'

        async with connect(sync_url(fleet.server), additional_headers={'Authorization': f'Bearer {TOKEN}'}) as late:
            init = await late.recv()
        wire = json.loads(init)['payload']['state']
        assert len(wire['commands']) <= COMMANDS and len(wire['pipelines']) <= PIPELINES
        kept = len(json.dumps([wire['commands'], wire['pipelines']]))  # the events (last N) are bounded apart
        assert kept < 12_000, f'5 commands and 2 runs in init should be small, got {kept} bytes'

        fleet.clock.advance(WINDOW + 60)
        await fleet.engine.trimmer.job()
        await eventually(lambda: mirror.version == fleet.dashboard.stream.version)
        assert finished(fleet.dashboard.stream.value) == (0, 0), 'after an hour, finished items leave the state'
        assert mirror.state.commands == {} and mirror.state.pipelines == {}
        reader.cancel()


async def test_commands_of_the_last_hour_leave_on_virtual_time(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script()
    early = await fleet.started('test', 'web-01')
    await fleet.ended(early)
    fleet.clock.advance(WINDOW - 120)
    late = await fleet.started('test', 'web-01')
    await fleet.ended(late)

    fleet.clock.advance(119)
    await fleet.engine.trimmer.job()
    assert {early, late} <= fleet.dashboard.stream.value.commands.keys(), 'both ended within the hour'

    fleet.clock.advance(2)
    await fleet.engine.trimmer.job()
    assert early not in fleet.dashboard.stream.value.commands, 'an hour after it ended it left the live state'
    assert late in fleet.dashboard.stream.value.commands
    assert (await fleet.engine.get_command(early)) is not None, 'History and the API still have it'


async def test_a_restart_loads_no_more_than_the_limits(fleet: Fleet) -> None:
    for host in HOSTS:
        (await fleet.add(host)).script(force_update=fail)
    await run_commands(fleet, 6)
    await run_pipelines(fleet, 4)

    await fleet.restart_server()

    assert finished(fleet.dashboard.stream.value) <= (COMMANDS, PIPELINES)


async def test_a_pipeline_run_leaves_the_runner_when_it_ends(fleet: Fleet) -> None:
    for host in HOSTS:
        (await fleet.add(host)).script(force_update=fail)
    await run_pipelines(fleet, 3)

    assert fleet.engine.pipelines.runs == {}, 'ended runs are read from the journal, not kept in memory'
    [newest, *_] = await fleet.engine.list_pipelines()
    assert newest['status'] == 'FAILED'
    assert (await fleet.engine.get_pipeline(newest['id'])) is not None


async def test_a_running_pipeline_keeps_its_ended_commands_for_its_grid(fleet: Fleet) -> None:
    for host in HOSTS:
        (await fleet.add(host)).script(force_update=hang if host == 'web-03' else fail)
    run = await fleet.engine.start_pipeline('force-update', HOSTS, options=PipelineOptions())
    await eventually(lambda: fleet.host('web-03').get('busy') and not fleet.host('web-01').get('busy'))
    await eventually(lambda: not fleet.host('web-02').get('busy'))
    of_run = {k for k, c in fleet.dashboard.stream.value.commands.items() if c.get('pipeline_id') == run.id}

    for _ in range(4):  # eight more ended commands: over the limit of five
        for result in await fleet.dispatch('test', 'web-01', 'web-02'):
            await fleet.ended(result.command_id)
    await eventually(lambda: finished(fleet.dashboard.stream.value)[0] <= COMMANDS + len(of_run))

    state = fleet.dashboard.stream.value
    assert of_run <= state.commands.keys(), 'the running stage shows its ended commands from the state'
    assert sum(1 for c in state.commands.values() if c.get('terminal') and not c.get('pipeline_id')) <= COMMANDS
