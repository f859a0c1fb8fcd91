"""Pipelines on hosts that are already (partly) current (issue 14 item 1, docs/architecture.md#pipelines): a stage
whose goal already holds
is satisfied — journaled SKIPPED `already_current` with a message saying so — and the host goes on to its next stage.

A real dashboard tracks a fake config repo (version.json); simulated Python agents pull from it and deploy for real
(their generation, flake.lock, switched system and agent build change as on a host).
"""

from __future__ import annotations

import re
from typing import Any

from nixfleet.agent import SimulatedFleet
from nixfleet.models import CommandStatus as C
from nixfleet.models import PipelineStatus as P
from tests.api.live_fleet import API_TOKEN, LiveFleet
from tests.cli.test_cli import BAR, nixfleet
from tests.integrations.config_repo import GREEN, HOSTS, ConfigRepo, compartments, finished
from tests.integrations.fake_github import sha_of
from tests.support import ManualClock, RunningServer, eventually


async def run_op(server: RunningServer, op: str, host: str) -> None:
    """Run one op on one host to a SUCCESS end."""
    [result] = await server.dashboard.ops.dispatch(op, [host])
    assert result.started, result
    cmd = await server.dashboard.ops.lifecycle.wait_terminal(result.command_id or '')
    assert cmd.status is C.SUCCESS, cmd


async def rows(server: RunningServer, pipeline_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The journaled command rows of a run, by (host, stage)."""
    found = await server.dashboard.store.read(
        lambda db: db.execute_returning_dicts('SELECT * FROM commands WHERE pipeline_id = ?', [pipeline_id])
    )
    return {(r['host_id'], r['stage']): r for r in found}


async def test_do_all_on_a_mixed_fleet_completes_and_the_cli_exits_0(
    server: RunningServer, sim_fleet: SimulatedFleet, repo: ConfigRepo
) -> None:
    behind, pulled, current = HOSTS
    for host in HOSTS:
        await run_op(server, 'switch', host)  # every host deploys main
    repo.push(sha_of('hosts: enable zram'))
    await server.dashboard.compartments.refresh_remote()
    await run_op(server, 'pull', pulled)  # pulled but not switched
    await run_op(server, 'pull-switch', current)  # fully current
    head = repo.head[:7]
    await eventually(
        lambda: (
            (compartments(server, behind)['git'], compartments(server, pulled)['system']) == ('outdated', 'outdated')
            and compartments(server, current)['system'] == 'ok'
        )
    )
    server.dashboard.api_tokens['tests'] = API_TOKEN

    code, out, err = await nixfleet(
        LiveFleet(server, sim_fleet), 'pipeline', 'run', 'do-all', '--host', ','.join(HOSTS)
    )

    assert code == 0, out + err
    assert 'COMPLETE, 3/3 hosts done' in out
    [view] = await server.dashboard.ops.list_pipelines()
    run = await server.dashboard.ops.get_pipeline(view['id'])
    assert run is not None
    assert run.status is P.COMPLETE and {s['state'] for s in run.host_state.values()} == {'done'}
    journal = await rows(server, run.id)
    assert {key: row['status'] for key, row in journal.items()} == {
        **{(behind, k): 'SUCCESS' for k in range(3)},
        (pulled, 0): 'SKIPPED', (pulled, 1): 'SUCCESS', (pulled, 2): 'SUCCESS',
        (current, 0): 'SKIPPED', (current, 1): 'SKIPPED', (current, 2): 'SUCCESS',
    }  # fmt: skip
    for key, text in (
        ((pulled, 0), f'{pulled}: Git already at {head}; nothing to pull'),
        ((current, 0), f'{current}: Git already at {head}; nothing to pull'),
        ((current, 1), f'{current}: system already current at {head}'),
    ):
        assert (journal[key]['code'], journal[key]['message'], journal[key]['error']) == ('already_current', text, None)
    assert re.search(rf'^{current}\s+{BAR} ✓ switch SKIPPED: {current}: system already current', out, re.MULTILINE)
    await eventually(lambda: all(compartments(server, h) == GREEN for h in HOSTS), timeout=10)
    for host in HOSTS:
        system = sim_fleet.hosts[host].system
        assert system.generation == head and system.switched[-1] == (head, repo.lock)


async def test_do_all_on_a_fully_current_fleet_completes_running_only_the_tests(
    server: RunningServer, sim_fleet: SimulatedFleet
) -> None:
    for host in HOSTS:
        await run_op(server, 'switch', host)

    run = await finished(server, await server.dashboard.ops.start_pipeline('do-all', HOSTS))

    assert run.status is P.COMPLETE, run.view()
    journal = await rows(server, run.id)
    assert {k: (r['status'], r['code']) for k, r in journal.items()} == {
        **{(h, k): ('SKIPPED', 'already_current') for h in HOSTS for k in (0, 1)},
        **{(h, 2): ('SUCCESS', None) for h in HOSTS},
    }
    await eventually(lambda: all(compartments(server, h) == GREEN for h in HOSTS), timeout=10)


async def test_update_agent_on_a_git_current_host_deploys_its_bumped_lock(
    server: RunningServer, sim_fleet: SimulatedFleet, repo: ConfigRepo, clock: ManualClock
) -> None:
    host = HOSTS[0]
    sim = sim_fleet.hosts[host].system
    await run_op(server, 'switch', host)
    repo.sim.agent_version = '0.9.0'  # a new agent release: the next flake update picks it up

    run = await server.dashboard.ops.start_pipeline('update-agent', [host])
    run = await finished(server, run)

    assert run.status is P.COMPLETE, run.view()
    journal = await rows(server, run.id)
    assert {k: r['status'] for k, r in journal.items()} == {
        (host, 0): 'SUCCESS', (host, 1): 'SKIPPED', (host, 2): 'SUCCESS', (host, 3): 'SUCCESS'
    }  # fmt: skip
    assert journal[(host, 1)]['code'] == 'already_current'
    bumped = sim.lock_hash
    assert bumped != repo.lock and sim.switched[-1] == (repo.head[:7], bumped)  # the bumped lock is deployed
    await eventually(lambda: server.dashboard.stream.value.hosts[host]['agent_version'] == '0.9.0')
    view = server.dashboard.stream.value.hosts[host]
    assert view['lock_hash'] == bumped
    parts = view['compartments']
    assert parts['agent']['status'] == 'ok'
    # the truth: the host runs a flake.lock that is not the repo's (until the bump is committed upstream)
    assert (parts['lock']['status'], parts['lock']['hint']) == (
        'outdated',
        'flake.lock was changed on the host; commit or reset it',
    )
    assert parts['system']['message'] == f'System not current: Lock outdated (Switch deployed {repo.head[:7]})'


async def test_force_update_on_a_current_host_rebuilds_and_restarts_the_agent(
    server: RunningServer, sim_fleet: SimulatedFleet, clock: ManualClock
) -> None:
    host = HOSTS[0]
    await run_op(server, 'switch', host)
    restarts = sim_fleet.hosts[host].system.restarts

    run = await server.dashboard.ops.start_pipeline('force-update', [host])
    rebuild = await eventually(lambda: server.dashboard.ops.lifecycle.active_for(host))
    await eventually(lambda: rebuild.track.status_ok)
    clock.advance(11)  # the agent reported its rebuild but does not restart by itself (as the Go agent)
    await server.dashboard.ops.tick()
    run = await finished(server, run)

    assert run.status is P.COMPLETE, run.view()
    journal = await rows(server, run.id)
    assert journal[(host, 0)]['status'] == 'PARTIAL'  # the rebuild's own verdict: the agent did not restart
    assert journal[(host, 1)]['status'] == 'SUCCESS'  # ... which the pipeline's restart stage then does
    assert sim_fleet.hosts[host].system.restarts == restarts + 1
