"""Command lifecycle against scripted agents over real WebSockets, on virtual time
(docs/architecture.md#commands-lifecycle)."""

from __future__ import annotations

import sqlite3

import pytest

from nixfleet.models import CommandStatus as S
from tests.ops.helpers import Fleet, fail, hang, ok
from tests.support import eventually, expect_command, send_output, send_status

STATUS_OPS = [
    'pull',
    'test',
    'rollback',
    'check-version',
    'refresh-lock',
    'refresh-system',
    'refresh-all',
    'bump-flake',
]
AGENT_COMMAND = {'bump-flake': 'update'}


@pytest.mark.parametrize('op', STATUS_OPS)
async def test_status_op_success(fleet: Fleet, op: str) -> None:
    agent = (await fleet.add('web-01')).script(**{AGENT_COMMAND.get(op, op): ok})
    cid = await fleet.started(op, 'web-01')
    assert fleet.host('web-01')['busy'] is True
    cmd = await fleet.ended(cid)
    expected = S.PARTIAL if op == 'bump-flake' else S.SUCCESS  # the scripted update leaves flake.lock unchanged
    assert cmd.status is expected
    assert agent.seen == [AGENT_COMMAND.get(op, op)]
    assert fleet.host('web-01')['busy'] is False


@pytest.mark.parametrize('op', STATUS_OPS)
async def test_status_op_failure(fleet: Fleet, op: str) -> None:
    (await fleet.add('web-01')).script(**{AGENT_COMMAND.get(op, op): fail})
    cmd = await fleet.ended(await fleet.started(op, 'web-01'))
    assert (cmd.status, cmd.exit_code, cmd.error) == (S.ERROR, 1, 'command failed')
    assert fleet.host('web-01')['busy'] is False


@pytest.mark.parametrize('op', [*STATUS_OPS, 'switch', 'pull-switch', 'force-rebuild'])
async def test_rejection_ends_error(fleet: Fleet, op: str) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started(op, 'web-01')
    await expect_command(agent.fake)
    await agent.fake.send('command_rejected', {'reason': 'command already running', 'current_command': 'test'})
    cmd = await fleet.ended(cid)
    assert cmd.status is S.ERROR and 'rejected' in (cmd.error or '')


@pytest.mark.parametrize('op', [*STATUS_OPS, 'switch', 'pull-switch', 'force-rebuild'])
async def test_timeouts_warning_then_hard(fleet: Fleet, op: str) -> None:
    (await fleet.add('web-01')).script(**{AGENT_COMMAND.get(op, op): hang, 'force-update': hang})
    cid = await fleet.started(op, 'web-01')
    cmd = fleet.engine.lifecycle.find_active(cid)
    assert cmd is not None and cmd.warn_at is not None and cmd.hard_at is not None
    await fleet.advance(cmd.warn_at - fleet.clock() - 1)
    assert cmd.status is S.EXECUTING
    await fleet.advance(1)
    assert cmd.status is S.RUNNING_WARNING
    await fleet.advance(cmd.hard_at - fleet.clock())
    assert cmd.status is S.TIMEOUT_PENDING
    assert fleet.host('web-01')['busy'] is True  # stays busy until the user acts
    await fleet.engine.cancel_command(cid)
    assert (await fleet.ended(cid)).status is S.CANCELLED
    assert fleet.host('web-01')['busy'] is False


async def test_post_status_heartbeat_never_remarks_busy(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('test', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'test')
    await fleet.ended(cid)
    await agent.fake.heartbeat(pending_command='test', command_pid=15590)
    await agent.fake.heartbeat(load=0.77)
    await eventually(lambda: fleet.host('web-01')['metrics']['load'] == 0.77)  # both heartbeats were handled
    assert fleet.host('web-01')['busy'] is False
    assert fleet.engine.lifecycle.active_for('web-01') is None


async def test_second_dispatch_to_busy_host_is_blocked_even_forced(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    first = await fleet.started('test', 'web-01')
    for force in (False, True):
        [result] = await fleet.dispatch('pull', 'web-01', force=force)
        assert not result.started and result.code == 'command_pending'
        assert (await fleet.engine.get_command(result.command_id)).status is S.BLOCKED
    assert fleet.engine.lifecycle.active_for('web-01').id == first


async def test_status_for_wrong_op_and_output_for_idle_host_are_ignored(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    await send_output(agent.fake, 'nobody asked')
    await send_status(agent.fake, 'pull')
    cid = await fleet.started('test', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'pull')  # not the tracked command
    await send_status(agent.fake, 'test', 'error', 2, 'boom')
    cmd = await fleet.ended(cid)
    assert (cmd.status, cmd.exit_code) == (S.ERROR, 2)


#: Stands in for the process dying between two writes: every event insert fails.
FAIL_EVENTS = 'CREATE TRIGGER no_events BEFORE INSERT ON event_log BEGIN SELECT RAISE(ABORT, "crash"); END'


async def journal(fleet: Fleet, sql: str) -> list[tuple[object, ...]]:
    return await fleet.dashboard.store.read(lambda db: db.execute(sql).fetchall())


async def test_a_command_row_and_its_event_commit_together(fleet: Fleet) -> None:
    """A process dying between two writes is stood in for by the event insert failing: the command's row must not
    be committed without its "started" (or "ended") event, or a restart finds a half-journaled command."""
    agent = await fleet.add('web-01')
    await fleet.dashboard.store.write(lambda db: db.execute(FAIL_EVENTS))
    with pytest.raises(sqlite3.DatabaseError):
        await fleet.dispatch('test', 'web-01')
    assert await journal(fleet, 'SELECT id FROM commands') == [], 'journaled as started without its event'

    await fleet.dashboard.store.write(lambda db: db.execute('DROP TRIGGER no_events'))
    await fleet.restart_server()  # as after the crash: the restarted dashboard finds nothing of the attempt
    await agent.reconnect()
    assert fleet.host('web-01')['busy'] is False
    cid = await fleet.started('test', 'web-01')
    await expect_command(agent.fake)
    await fleet.dashboard.store.write(lambda db: db.execute(FAIL_EVENTS))
    await send_status(agent.fake, 'test')
    await eventually(lambda: fleet.engine.lifecycle.find_active(cid) is None)
    rows = await journal(fleet, f"SELECT status FROM commands WHERE id = '{cid}'")
    assert rows == [('EXECUTING',)], 'journaled as ended without its event'


async def test_a_pipeline_run_and_its_started_event_commit_together(fleet: Fleet) -> None:
    await fleet.add('web-01')
    await fleet.dashboard.store.write(lambda db: db.execute(FAIL_EVENTS))
    with pytest.raises(sqlite3.DatabaseError):
        await fleet.engine.start_pipeline('do-all', ['web-01'])
    assert await journal(fleet, 'SELECT id FROM pipelines') == [], 'a run journaled without its "started" event'
    assert await journal(fleet, 'SELECT id FROM commands') == []
