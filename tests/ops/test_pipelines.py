"""Pipelines (docs/architecture.md#pipelines): stages await terminal states, SKIPPED
records, statuses, cancel, options, retry."""

from __future__ import annotations

import asyncio
import json

import pytest

from nixfleet.models import PipelineStatus as P
from nixfleet.ops.dispatch import DispatchError
from nixfleet.ops.pipeline_store import PipelineRun
from nixfleet.ops.pipelines import PipelineOptions
from nixfleet.ops.remote import RemoteResult
from tests.ops.helpers import Fleet, ScriptedAgent, fail, hang, ok, switch_no_return, switch_ok
from tests.support import eventually, send_output, send_status

HOSTS = ['web-01', 'web-02', 'web-03', 'web-04', 'web-05']


async def journal(fleet: Fleet, pipeline_id: str) -> dict[tuple[str, int], str]:
    rows = await fleet.dashboard.store.read(
        lambda db: db.execute(
            'SELECT host_id, stage, status FROM commands WHERE pipeline_id = ?', [pipeline_id]
        ).fetchall()
    )
    cells = {(h, s): st for h, s, st in rows}
    assert len(cells) == len(rows), 'a (host, stage) was journaled twice'
    return cells


async def test_do_all_with_one_pull_failure_and_one_switch_timeout(fleet: Fleet) -> None:
    for host in HOSTS:
        (await fleet.add(host)).script(pull=ok, switch=switch_ok, test=ok)
    fleet.agents['web-02'].script(pull=fail)
    fleet.agents['web-03'].script(switch=switch_no_return)
    run = await fleet.engine.start_pipeline('do-all', HOSTS)
    web03 = fleet.agents['web-03']
    await eventually(lambda: 'switch' in web03.seen and fleet.engine.lifecycle.active_for('web-03') is not None)
    await eventually(lambda: fleet.engine.lifecycle.active_for('web-03').status.value == 'AWAITING_RECONNECT')
    others = ('web-01', 'web-04', 'web-05')
    await eventually(lambda: all(fleet.engine.lifecycle.active_for(h) is None for h in others))
    assert run.status is P.RUNNING and run.current_stage == 1
    await fleet.advance(90)
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.PARTIAL
    cells = await journal(fleet, run.id)
    assert cells == {
        **{(h, 0): 'SUCCESS' for h in HOSTS if h != 'web-02'},
        ('web-02', 0): 'ERROR',
        ('web-02', 1): 'SKIPPED',
        ('web-02', 2): 'SKIPPED',
        **{(h, 1): 'SUCCESS' for h in ('web-01', 'web-04', 'web-05')},
        ('web-03', 1): 'TIMEOUT',
        ('web-03', 2): 'SKIPPED',
        **{(h, 2): 'SUCCESS' for h in ('web-01', 'web-04', 'web-05')},
    }
    assert {h: s['state'] for h, s in run.host_state.items()} == {
        'web-01': 'done', 'web-02': 'failed', 'web-03': 'failed', 'web-04': 'done', 'web-05': 'done'
    }  # fmt: skip
    assert run.view()['stages'][1]['web-02']['status'] == 'SKIPPED'
    assert fleet.agents['web-02'].seen == ['pull'] and fleet.agents['web-03'].seen == ['pull', 'switch']
    for host in HOSTS:
        assert fleet.host(host)['busy'] is False

    # retry failed hosts: exactly web-02 and web-03, same parameters
    await eventually(lambda: fleet.host('web-03').get('connection') == 'offline')
    await fleet.agents['web-03'].reconnect()
    fleet.agents['web-02'].script(pull=ok)
    fleet.agents['web-03'].script(switch=switch_ok)
    retry = await fleet.engine.retry_failed(run.id)
    assert retry.hosts == ['web-02', 'web-03'] and retry.retry_of == run.id
    retry = await asyncio.wait_for(fleet.engine.pipelines.wait(retry.id), 10)
    assert retry.status is P.COMPLETE
    assert set(await journal(fleet, retry.id)) == {(h, k) for h in ('web-02', 'web-03') for k in range(3)}
    assert fleet.agents['web-01'].seen == ['pull', 'switch', 'test']


async def test_pipeline_refuses_busy_unknown_and_empty(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    await fleet.add('web-02')
    await fleet.started('test', 'web-01')
    for name, hosts, code in (
        ('do-all', ['web-01', 'web-02'], 'command_pending'),
        ('do-all', ['web-02', 'ghost'], 'unknown_host'),
        ('do-all', [], 'invalid_request'),
        ('nope', ['web-02'], 'unknown_pipeline'),
    ):
        with pytest.raises(DispatchError) as refused:
            await fleet.engine.start_pipeline(name, hosts)
        assert refused.value.code == code


async def test_cancel_lets_running_commands_finish_and_cancels_the_rest(fleet: Fleet) -> None:
    one = (await fleet.add('web-01')).script(pull=hang)
    await fleet.add('web-02')
    run = await fleet.engine.start_pipeline('do-all', ['web-01', 'web-02'], options=PipelineOptions(max_parallel=1))
    await eventually(lambda: one.seen == ['pull'])
    await fleet.engine.cancel_pipeline(run.id)
    assert run.status is P.RUNNING  # the running pull finishes first
    await send_status(one.fake, 'pull', generation='686f817')
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.CANCELLED
    cells = await journal(fleet, run.id)
    assert cells[('web-01', 0)] == 'SUCCESS'
    assert {c: s for c, s in cells.items() if c != ('web-01', 0)} == {
        c: 'CANCELLED' for c in cells if c != ('web-01', 0)
    }
    assert len(cells) == 6
    assert fleet.agents['web-02'].seen == []


async def test_max_parallel_limits_concurrency(fleet: Fleet) -> None:
    agents = [(await fleet.add(h)).script(pull=hang) for h in HOSTS[:3]]
    run = await fleet.engine.start_pipeline('do-all', HOSTS[:3], options=PipelineOptions(max_parallel=2))
    await eventually(lambda: sum(len(a.seen) for a in agents) == 2)
    assert sum(fleet.host(h)['busy'] for h in HOSTS[:3]) == 2
    await fleet.engine.cancel_pipeline(run.id)
    for agent in agents:
        if agent.seen:
            await send_status(agent.fake, 'pull', 'error', 1, 'command failed')
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.CANCELLED
    assert sum(len(a.seen) for a in agents) == 2


async def test_stop_on_failure_pct_halts_the_pipeline(fleet: Fleet) -> None:
    for host in HOSTS[:4]:
        (await fleet.add(host)).script(pull=ok)
    for host in HOSTS[:2]:
        fleet.agents[host].script(pull=fail)
    options = PipelineOptions(stop_on_failure_pct=25)
    run = await fleet.engine.start_pipeline('do-all', HOSTS[:4], options=options)
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.FAILED and 'halted' in run.message
    cells = await journal(fleet, run.id)
    assert len(cells) == 12 and all(cells[(h, k)] == 'SKIPPED' for h in HOSTS[:4] for k in (1, 2))
    assert all(fleet.agents[h].seen == ['pull'] for h in HOSTS[:4])


async def test_merge_deploy_runs_the_dashboard_op_once(fleet: Fleet) -> None:
    merges: list[str] = []

    class Remote:
        def version_configured(self) -> bool:
            return True

        def mergeable_pr(self) -> str | None:
            return '#7'

        async def refresh(self) -> RemoteResult:
            return RemoteResult(True, 'ok')

        async def merge_pr(self) -> RemoteResult:
            merges.append('#7')
            return RemoteResult(True, 'merged #7')

    fleet.engine.remote = Remote()
    for host in HOSTS[:2]:
        (await fleet.add(host)).script(switch=switch_ok)
    run = await fleet.engine.start_pipeline('merge-deploy', HOSTS[:2])
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.COMPLETE and merges == ['#7']
    cells = await journal(fleet, run.id)
    assert cells[(None, 0)] == 'SUCCESS' and len(cells) == 1 + 2 * 3


async def test_blocked_counts_as_failed(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    await agent.fake.close()
    await eventually(lambda: fleet.host('web-01').get('connection') == 'offline')
    run = await fleet.engine.start_pipeline('do-all', ['web-01'])
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.FAILED
    assert await journal(fleet, run.id) == {
        ('web-01', 0): 'BLOCKED',
        ('web-01', 1): 'SKIPPED',
        ('web-01', 2): 'SKIPPED',
    }


async def fail_with_noise(agent: ScriptedAgent, command: str) -> None:
    """A failure whose cause is an early stderr line; later lines and the agent's message say nothing."""
    await send_output(agent.fake, 'Fetching origin', stream='stderr')
    await send_output(agent.fake, "fatal: unable to access 'https://example.org/fleet.git/'", stream='stderr')
    await send_output(agent.fake, 'cleaning up')
    await send_status(agent.fake, command, 'error', 1, 'command failed')


async def test_each_cell_keeps_its_cause_through_the_journal(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(pull=fail_with_noise)
    (await fleet.add('web-02')).script(pull=ok, switch=switch_ok, test=ok)
    run = await fleet.engine.start_pipeline('do-all', ['web-01', 'web-02'])
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)

    line = "fatal: unable to access 'https://example.org/fleet.git/'"
    stages = run.view()['stages']
    assert stages[0]['web-01'] == {'status': 'ERROR', 'code': None, 'message': line, 'exit_code': 1}
    assert stages[1]['web-01'] == {
        'status': 'SKIPPED', 'code': None, 'message': 'left the pipeline at pull', 'exit_code': None
    }  # fmt: skip
    assert stages[2]['web-02']['status'] == 'SUCCESS' and stages[2]['web-02']['message'] == ''
    journaled = await fleet.engine.get_pipeline(run.id)
    assert journaled is not None and journaled.view()['stages'] == stages  # the same after a restart
    commands = await fleet.engine.list_commands('web-01', limit=5)
    failed = next(c for c in commands if c['op'] == 'pull')
    assert failed['error_line'] == line and failed['exit_code'] == 1  # kept on the command row


async def test_a_run_journaled_with_status_only_cells_is_still_shown(fleet: Fleet) -> None:
    old = PipelineRun(
        id='p-old', name='do-all', ops=['pull'], hosts=['web-01'], actor='user', created_at=fleet.dashboard.clock()
    )
    row = old.row()
    row['host_status_json'] = json.dumps({'hosts': {'web-01': {'state': 'failed'}}, 'cells': {'0:web-01': 'ERROR'}})
    await fleet.dashboard.store.write(lambda db: db.table('pipelines').insert(row))
    journaled = await fleet.engine.get_pipeline('p-old')
    assert journaled is not None
    assert journaled.view()['stages'] == [
        {'web-01': {'status': 'ERROR', 'code': None, 'message': '', 'exit_code': None}}
    ]
