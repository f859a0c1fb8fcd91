"""Dashboard restart (docs/architecture.md#restart-recovery): unfinished commands are re-adopted or ORPHANED; pipelines
resume."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from nixfleet.models import CommandStatus as S
from nixfleet.models import PipelineStatus as P
from nixfleet.timeutil import iso
from tests.ops.helpers import Fleet, ScriptedAgent, hang, ok, switch_ok
from tests.support import eventually, register_payload, send_output, send_status

HOSTS = ['web-01', 'web-02', 'web-03', 'web-04']


async def events(fleet: Fleet, text: str) -> list[str]:
    rows = await fleet.dashboard.store.read(
        lambda db: db.execute('SELECT message FROM event_log WHERE message LIKE ?', [f'%{text}%']).fetchall()
    )
    return [r[0] for r in rows]


async def output_has(fleet: Fleet, command_id: str, text: str) -> bool:
    return text in await fleet.engine.read_output(command_id)


async def count(found: Awaitable[list[str]], n: int) -> bool:
    return len(await found) == n


async def test_restart_mid_do_all_readopts_switches_and_completes(fleet: Fleet) -> None:
    for host in HOSTS:
        (await fleet.add(host)).script(pull=ok, switch=hang, test=ok)
    run = await fleet.engine.start_pipeline('do-all', HOSTS)
    await eventually(lambda: all(fleet.agents[h].seen == ['pull', 'switch'] for h in HOSTS))
    switch_ids = {h: fleet.engine.lifecycle.active_for(h).id for h in HOSTS}
    await send_output(fleet.agents['web-01'].fake, 'building before the restart')
    await eventually(  # received and written before the restart (the frame is in flight until then)
        lambda: output_has(fleet, switch_ids['web-01'], 'building before the restart')
    )

    await fleet.restart_server()
    assert fleet.engine.lifecycle.active_for('web-01').recovered
    for host in HOSTS:  # agents come back still running their switch
        await fleet.agents[host].reconnect()
        fleet.agents[host].script(test=ok)
    # Re-adopted once each agent's first heartbeat shows the switch (EXECUTING alone proves nothing: it never left it).
    await eventually(lambda: count(events(fleet, 're-adopted after a dashboard restart'), len(HOSTS)))
    for host in HOSTS:
        cmd = await fleet.status_of(switch_ids[host], S.EXECUTING)
        assert not cmd.recovered
    agent = fleet.agents['web-01']
    await send_output(agent.fake, 'building after the restart')
    for host in HOSTS:
        agent = fleet.agents[host]
        await send_status(agent.fake, 'switch')
        agent.pending, agent.binary_hash = None, 'b' * 64
        await agent.reconnect()
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.COMPLETE
    rows = await fleet.dashboard.store.read(
        lambda db: db.execute(
            'SELECT host_id, stage, status FROM commands WHERE pipeline_id = ? ORDER BY host_id, stage', [run.id]
        ).fetchall()
    )
    assert rows == [(h, k, 'SUCCESS') for h in HOSTS for k in range(3)]  # each command exactly once
    for host in HOSTS:
        assert fleet.agents[host].seen == ['pull', 'switch', 'test']
    assert len(await events(fleet, 're-adopted after a dashboard restart')) == len(HOSTS)
    log = await fleet.engine.read_output(switch_ids['web-01'])
    assert 'building before the restart' in log and 'building after the restart' in log
    assert log.count('# Command: switch') == 1


async def test_agent_that_never_returns_is_orphaned_after_two_minutes(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    await fleet.restart_server()
    assert fleet.host('web-01')['busy'] is True  # still tracked, waiting for the agent
    await fleet.advance(119)
    assert fleet.engine.lifecycle.find_active(cid) is not None
    await fleet.advance(1)
    cmd = await fleet.ended(cid)
    assert cmd.status is S.ORPHANED and 'did not come back' in (cmd.error or '')
    assert await events(fleet, 'ORPHANED')
    assert fleet.host('web-01')['busy'] is False


async def test_agent_back_without_the_command_is_orphaned(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    await fleet.restart_server()
    agent.pending = None
    await agent.reconnect()
    cmd = await fleet.ended(cid)
    assert cmd.status is S.ORPHANED and 'came back without it' in (cmd.error or '')


async def test_switch_that_reported_ok_before_the_restart_is_judged_on_return(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('switch', 'web-01')
    await agent.fake.expect('command')
    await send_status(agent.fake, 'switch')
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await fleet.restart_server()
    agent.binary_hash = 'e' * 64
    await agent.reconnect()
    assert (await fleet.ended(cid)).status is S.SUCCESS


async def frames_handled(fleet: Fleet, agent: ScriptedAgent, load: float) -> None:
    """Send a marker heartbeat and wait until it is in the state: every frame the agent sent before is handled."""
    await agent.heartbeat(load=load)
    await eventually(lambda: (fleet.host(agent.host).get('metrics') or {}).get('load') == load)


async def test_switch_status_delivered_after_a_restart_waits_for_the_agents_own_restart(fleet: Fleet) -> None:
    """The switch ended while the dashboard was down: its old process reconnects and delivers the outbox'd
    `status ok`, then restarts. Only its re-register after that ends the switch; the test stage waits for it."""
    agent = (await fleet.add('web-01')).script(pull=ok, switch=hang)
    run = await fleet.engine.start_pipeline('do-all', ['web-01'])
    await eventually(lambda: agent.seen == ['pull', 'switch'])
    switch_id = fleet.engine.lifecycle.active_for('web-01').id
    await fleet.restart_server()

    agent.pending = None
    await agent.fake.close()
    await agent.fake.connect()  # the old process (old binary) registers, then sends its outbox: status, heartbeat
    agent.script(test=ok)
    await send_status(agent.fake, 'switch')
    await frames_handled(fleet, agent, 0.71)
    cmd = fleet.engine.lifecycle.find_active(switch_id)
    assert cmd is not None and cmd.status is S.AWAITING_RECONNECT, 'judged before the agent restarted'
    assert agent.seen == ['pull', 'switch'], 'the test stage went into the agent restart gap'

    agent.binary_hash = 'b' * 64
    await agent.reconnect()  # the new process
    switch = await fleet.ended(switch_id)
    assert (switch.status, switch.message) == (S.SUCCESS, 'agent is back with a new binary')
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.COMPLETE
    assert agent.seen == ['pull', 'switch', 'test']


async def test_recovered_switch_whose_status_was_lost_succeeds_on_a_new_binary(fleet: Fleet) -> None:
    """A Go agent has no outbox: the status of a switch that ended while the dashboard was down is lost, but the
    agent comes back on its new binary, which proves the switch."""
    agent = (await fleet.add('web-01')).script(switch=hang)
    cid = await fleet.started('switch', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    await fleet.restart_server()
    agent.pending, agent.binary_hash = None, 'c' * 64
    await agent.reconnect()
    cmd = await fleet.ended(cid)
    assert (cmd.status, cmd.message) == (S.SUCCESS, 'agent is back with a new binary')


def system_report(status: str, message: str, at: float) -> dict[str, object]:
    """A heartbeat's `update_status` with the agent's System report (the Go agent's shape)."""
    empty = {'status': '', 'message': '', 'checked_at': ''}
    system = {'status': status, 'message': message, 'checked_at': iso(at)}
    return {'git': empty, 'lock': {'status': 'ok', 'message': '', 'checked_at': ''}, 'system': system, 'tests': empty}


async def switch_lost_in_a_restart(fleet: Fleet, *, reached_agent: bool = True) -> tuple[ScriptedAgent, str]:
    """A switch running (or, `reached_agent=False`, journaled but never started by its agent) when the dashboard
    restarts; the agent's `status` is lost with the link (a Go agent has no outbox)."""
    agent = await fleet.add('web-01')
    agent.script(switch=hang if reached_agent else quiet)
    cid = await fleet.started('switch', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    await eventually(lambda: 'switch' in agent.seen)
    if reached_agent:
        await eventually(lambda: 'switch started' in fleet_log(fleet, cid))
    await fleet.restart_server()
    agent.pending = None
    return agent, cid


async def quiet(agent: ScriptedAgent, command: str) -> None:
    """Take the command and say nothing (as if it never arrived)."""


def fleet_log(fleet: Fleet, cid: str) -> str:
    path = fleet.engine.logs.path_for('web-01', cid)
    return path.read_text() if path.exists() else ''


async def test_switch_whose_status_was_lost_succeeds_when_the_agent_comes_back_restarted(fleet: Fleet) -> None:
    """The Go agent restarts after every successful switch and forgets its compartments: back idle, with System
    empty and the switch's output in the log, the switch succeeded although its status never arrived."""
    agent, cid = await switch_lost_in_a_restart(fleet)
    await agent.reconnect()  # the default heartbeat: System empty, as after an agent restart; binary unchanged
    cmd = await fleet.ended(cid)
    assert cmd.status is S.SUCCESS, cmd.error
    assert 'status was lost' in (cmd.message or '')


async def test_switch_whose_status_was_lost_fails_when_the_agent_reports_system_error(fleet: Fleet) -> None:
    agent, cid = await switch_lost_in_a_restart(fleet)
    await agent.fake.close()
    await agent.fake.connect(register=False)
    await agent.fake.send('register', register_payload('web-01', binary_hash=agent.binary_hash))
    await agent.fake.expect('registered')
    await agent.heartbeat(update_status=system_report('error', 'Switch failed (exit 1)', fleet.clock() + 1))
    cmd = await fleet.ended(cid)
    assert (cmd.status, cmd.error) == (S.ERROR, 'the agent reports the switch failed: Switch failed (exit 1)')


async def test_switch_the_agent_never_started_is_orphaned_not_called_a_success(fleet: Fleet) -> None:
    """Journaled, then the dashboard died before the agent ran it: no output of it anywhere, so nothing proves it."""
    agent, cid = await switch_lost_in_a_restart(fleet, reached_agent=False)
    await agent.reconnect()
    cmd = await fleet.ended(cid)
    assert cmd.status is S.ORPHANED


async def test_switch_whose_link_dropped_succeeds_when_the_agent_comes_back_restarted(fleet: Fleet) -> None:
    """No dashboard restart: the link dropped mid-switch and the status went with it; the agent came back restarted."""
    agent = (await fleet.add('web-01')).script(switch=hang)
    cid = await fleet.started('switch', 'web-01')
    await eventually(lambda: 'switch started' in fleet_log(fleet, cid))
    agent.pending = None
    await agent.reconnect()
    cmd = await fleet.ended(cid)
    assert cmd.status is S.SUCCESS, cmd.error


async def pipeline_rows(fleet: Fleet, run_id: str) -> list[tuple[str, int, str, str | None]]:
    return await fleet.dashboard.store.read(
        lambda db: db.execute(
            'SELECT host_id, stage, status, code FROM commands WHERE pipeline_id = ? ORDER BY host_id, stage', [run_id]
        ).fetchall()
    )


async def resumed_do_all_waiting_at_switch(fleet: Fleet) -> tuple[str, ScriptedAgent, ScriptedAgent]:
    """do-all on web-01 and web-02, the dashboard restarted during web-02's pull; only web-02 is back and its
    pull ended, so the switch stage has begun: web-02 switches, web-01 has not come back yet."""
    one = (await fleet.add('web-01')).script(pull=ok)
    two = (await fleet.add('web-02')).script(pull=hang)
    run = await fleet.engine.start_pipeline('do-all', ['web-01', 'web-02'])
    await eventually(lambda: two.pending == 'pull' and fleet.engine.lifecycle.active_for('web-01') is None)
    pull = fleet.engine.lifecycle.active_for('web-02')
    await fleet.restart_server()
    await two.reconnect()  # still pulling: re-adopted
    two.script(switch=switch_ok, test=ok)
    await ok(two, 'pull')
    assert (await fleet.ended(pull.id)).status is S.SUCCESS
    await eventually(lambda: 'switch' in two.seen and fleet.engine.lifecycle.active_for('web-02') is None)
    return run.id, one, two


async def test_resumed_pipeline_waits_for_a_host_that_is_not_back_yet(fleet: Fleet) -> None:
    run_id, one, two = await resumed_do_all_waiting_at_switch(fleet)
    await fleet.advance(119)  # well inside the re-adoption window
    await one.reconnect()
    one.script(switch=switch_ok, test=ok)
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run_id), 10)
    assert run.status is P.COMPLETE, await pipeline_rows(fleet, run_id)
    assert await pipeline_rows(fleet, run_id) == [
        (h, k, 'SUCCESS', None) for h in ('web-01', 'web-02') for k in range(3)
    ]
    assert one.seen == ['pull', 'switch', 'test'] and two.seen == ['pull', 'switch', 'test']


async def test_resumed_pipeline_records_a_host_offline_only_after_the_window(fleet: Fleet) -> None:
    run_id, _, _ = await resumed_do_all_waiting_at_switch(fleet)
    await fleet.advance(119)
    assert ('web-01', 1) not in {(h, k) for h, k, _, _ in await pipeline_rows(fleet, run_id)}, 'refused too early'
    await fleet.advance(1)
    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run_id), 10)
    assert run.status is P.PARTIAL
    rows = await pipeline_rows(fleet, run_id)
    assert ('web-01', 1, 'BLOCKED', 'host_offline') in rows and ('web-02', 2, 'SUCCESS', None) in rows


async def test_a_stage_cut_off_by_the_restart_runs_again_and_the_run_completes(fleet: Fleet) -> None:
    """kill -9 right after a pull was journaled: the agent never got it (or its result was lost with the link) and
    comes back idle — the pull is ORPHANED, then run again (pull is retryable), and the run completes."""
    agent = (await fleet.add('web-01')).script(pull=hang)
    run = await fleet.engine.start_pipeline('do-all', ['web-01'])
    await eventually(lambda: agent.pending == 'pull')
    lost = fleet.engine.lifecycle.active_for('web-01')
    await fleet.restart_server()
    agent.pending = None  # back idle, no output: as far as the dashboard can tell, the pull never ran
    agent.script(pull=ok, switch=switch_ok, test=ok)
    await agent.reconnect()

    run = await asyncio.wait_for(fleet.engine.pipelines.wait(run.id), 10)
    assert run.status is P.COMPLETE, await pipeline_rows(fleet, run.id)
    assert (await fleet.ended(lost.id)).status is S.ORPHANED  # the cut-off attempt stays in the journal
    assert sorted(await pipeline_rows(fleet, run.id)) == [
        ('web-01', 0, 'ORPHANED', None),
        ('web-01', 0, 'SUCCESS', None),
        ('web-01', 1, 'SUCCESS', None),
        ('web-01', 2, 'SUCCESS', None),
    ]
    assert agent.seen == ['pull', 'pull', 'switch', 'test']
    assert run.cells['0:web-01']['status'] == 'SUCCESS'
