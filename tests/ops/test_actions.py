"""User actions, output logs, dashboard ops and bad input
(docs/architecture.md#ops, docs/architecture.md#commands-lifecycle)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from nixfleet.models import CommandStatus as S
from nixfleet.ops.dispatch import DispatchError
from nixfleet.ops.lifecycle import CommandError
from nixfleet.ops.remote import RemoteResult
from nixfleet.streams.changes import ChangeType
from tests.ops.helpers import Fleet, hang
from tests.support import eventually, expect_command, send_output, send_status


async def test_wait_on_a_timed_out_command_is_quiet_for_exactly_n_minutes_from_the_click(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    cmd = fleet.engine.lifecycle.find_active(cid)
    await fleet.advance(cmd.hard_at - fleet.clock() + 600)  # the user comes back 10 min after the hard timeout
    assert cmd.status is S.TIMEOUT_PENDING
    clicked = fleet.clock()
    await fleet.engine.wait_command(cid, 5)
    assert cmd.status is S.EXECUTING and (cmd.warn_at, cmd.hard_at) == (clicked + 300, clicked + 300)
    await fleet.advance(299)
    assert cmd.status is S.EXECUTING  # no warning before the 5 minutes are up
    await fleet.advance(1)
    assert cmd.status is S.TIMEOUT_PENDING  # exactly 5 minutes after the click it asks again


async def test_wait_in_warning_warns_again_n_minutes_from_the_click(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    cmd = fleet.engine.lifecycle.find_active(cid)
    hard = cmd.hard_at
    await fleet.advance(cmd.warn_at - fleet.clock() + 60)
    assert cmd.status is S.RUNNING_WARNING and hard - fleet.clock() > 120
    clicked = fleet.clock()
    await fleet.engine.wait_command(cid, 2)
    assert cmd.status is S.EXECUTING and (cmd.warn_at, cmd.hard_at) == (clicked + 120, hard)  # later ones stay
    await fleet.advance(119)
    assert cmd.status is S.EXECUTING
    await fleet.advance(1)
    assert cmd.status is S.RUNNING_WARNING


async def test_wait_keeps_awaiting_reconnect(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('switch', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'switch')
    cmd = await fleet.status_of(cid, S.AWAITING_RECONNECT)
    cmd = fleet.engine.lifecycle.find_active(cid)
    assert cmd.track.reconnect_deadline < fleet.clock() + 120
    await fleet.engine.wait_command(cid, 2)
    assert cmd.status is S.AWAITING_RECONNECT and cmd.track.reconnect_deadline == fleet.clock() + 120


async def test_ignore_dismisses_alert_and_keeps_tracking(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    await fleet.advance(301)
    cmd = await fleet.engine.ignore_command(cid)
    assert cmd.status is S.RUNNING_WARNING and cmd.view()['alert_dismissed'] is True
    assert fleet.host('web-01')['busy'] is True


async def test_actions_on_finished_commands_are_refused(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script()
    cid = await fleet.started('test', 'web-01')
    await fleet.ended(cid)
    for action in (fleet.engine.kill_command, fleet.engine.ignore_command, fleet.engine.cancel_command):
        with pytest.raises(CommandError) as refused:
            await action(cid)
        assert refused.value.code == 'invalid_state'


async def test_a_commands_output_never_reaches_a_follower_before_the_command_does(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header lines ("Command: test (…)") are output too: a periodic flush while the start is being journaled
    (a busy store) must not publish them before the command is in the state, where a follower would drop them."""
    agent = await fleet.add('web-01')
    lifecycle = fleet.engine.lifecycle
    journal = lifecycle._journal

    async def busy_store(*args: Any) -> None:
        await lifecycle.logs.flush()  # the periodic flush runs while the journal write waits for the store
        await journal(*args)

    monkeypatch.setattr(lifecycle, '_journal', busy_store)
    seen: list[tuple[ChangeType, str]] = []
    sub = fleet.dashboard.stream.deltas.subscribe(lambda d: seen.append((d.change.type, str(d.change.id))))
    cid = await fleet.started('test', 'web-01')
    await expect_command(agent.fake)
    await lifecycle.logs.flush()
    sub.dispose()
    mine = [kind for kind, id_ in seen if id_ == cid]
    assert ChangeType.COMMAND_OUTPUT in mine, 'the header lines were published'
    assert mine.index(ChangeType.COMMAND_STARTED) < mine.index(ChangeType.COMMAND_OUTPUT)


async def test_output_is_streamed_live_and_complete_in_the_log_file(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    streamed: list[dict] = []
    sub = fleet.dashboard.stream.deltas.subscribe(
        lambda d: streamed.extend(d.change.payload['lines']) if d.change.type is ChangeType.COMMAND_OUTPUT else None
    )
    cid = await fleet.started('test', 'web-01')
    await expect_command(agent.fake)
    lines = [f'T{i:03d} PASS' for i in range(500)]
    await send_output(agent.fake, *lines[:250])
    await send_output(agent.fake, 'T250 writes to stderr', stream='stderr')
    await eventually(lambda: any(e['line'] == 'T249 PASS' for e in streamed))
    so_far = await fleet.engine.read_output(cid)  # a browser opening now sees everything so far
    assert 'T249 PASS' in so_far and 'Finished' not in so_far
    await send_output(agent.fake, *lines[250:])
    await send_status(agent.fake, 'test')
    await fleet.ended(cid)
    sub.dispose()
    text = await fleet.engine.read_output(cid)
    body = [line for line in text.splitlines() if not line.startswith('#')]
    assert [re.sub(r'^\[[^\]]+\] ', '', line) for line in body] == [
        *lines[:250],
        '[ERR] T250 writes to stderr',
        *lines[250:],
    ]
    assert all(re.match(r'^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] ', line) for line in body)
    assert '# Finished:' in text and 'SUCCESS' in text
    path = fleet.settings.logs_dir / 'web-01' / f'{cid}.log'
    assert path.read_text() == text
    assert [e['line'] for e in streamed if e['stream'] != 'meta'] == [
        *lines[:250],
        'T250 writes to stderr',
        *lines[250:],
    ]


async def test_set_color_writes_override_and_reset(fleet: Fleet) -> None:
    await fleet.add('web-01')
    [bad] = await fleet.dispatch('set-color', 'web-01', args={'color': 'red'}, force=True)
    assert not bad.started and bad.code == 'invalid_color'
    [result] = await fleet.dispatch('set-color', 'web-01', args={'color': '#FF9E64'})
    assert result.started and result.command_status == 'SUCCESS'
    assert fleet.host('web-01')['theme_color'] == '#ff9e64'
    assert fleet.dashboard.hosts.rows['web-01']['theme_color_override'] == '#ff9e64'
    await fleet.dispatch('set-color', 'web-01', args={'color': 'default'})
    assert fleet.host('web-01')['theme_color'] == '#7aa2f7'


async def test_remove_refuses_online_host_then_deletes_row_commands_and_logs(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script()
    await fleet.ended(await fleet.started('test', 'web-01'))
    [online] = await fleet.dispatch('remove', 'web-01', force=True)
    assert online.code == 'host_online'
    agent.stop_script()
    await agent.fake.close()
    await eventually(lambda: fleet.host('web-01').get('connection') == 'offline')
    assert (fleet.settings.logs_dir / 'web-01').exists()
    [removed] = await fleet.dispatch('remove', 'web-01')
    assert removed.command_status == 'SUCCESS', removed
    assert 'web-01' not in fleet.dashboard.stream.value.hosts
    assert not (fleet.settings.logs_dir / 'web-01').exists()
    rows = await fleet.dashboard.store.read(lambda db: db.execute('SELECT op FROM commands').fetchall())
    assert rows == [('remove',)]  # the removal itself stays on record
    kept = [c['op'] for c in fleet.dashboard.stream.value.commands.values() if c['host_id'] == 'web-01']
    assert kept == ['remove']  # clients drop the host's commands with it, as the journal did
    events = await fleet.dashboard.store.read(
        lambda db: db.execute("SELECT count(*) FROM event_log WHERE host_id = 'web-01'").fetchone()[0]
    )
    assert events > 0
    [gone] = await fleet.dispatch('test', 'web-01')
    assert gone.code == 'unknown_host'


async def test_fleet_ops_not_configured_are_blocked(fleet: Fleet) -> None:
    [git] = await fleet.dispatch('refresh-git')
    [pr] = await fleet.dispatch('merge-pr')
    assert (git.code, pr.code) == ('not_configured', 'no_mergeable_pr')


async def test_fleet_ops_use_the_remote_integration(fleet: Fleet) -> None:
    fleet.engine.remote = _Remote()
    [git] = await fleet.dispatch('refresh-git')
    [pr] = await fleet.dispatch('merge-pr')
    assert (git.command_status, pr.command_status) == ('SUCCESS', 'ERROR')
    assert 'merge conflict' in (pr.message or '')


async def test_bad_requests(fleet: Fleet) -> None:
    await fleet.add('web-01')
    for op, hosts, code in (('nope', ['web-01'], 'unknown_op'), ('test', [], 'invalid_request')):
        with pytest.raises(DispatchError) as refused:
            await fleet.engine.dispatch(op, hosts)
        assert refused.value.code == code
    results = await fleet.engine.dispatch('test', ['web-01', 'web-01', 'ghost'])
    assert [(r.host, r.started, r.code) for r in results] == [('web-01', True, None), ('ghost', False, 'unknown_host')]


async def test_offline_and_blocked_validation(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    await agent.fake.close()
    await eventually(lambda: fleet.host('web-01').get('connection') == 'offline')
    [offline] = await fleet.dispatch('pull', 'web-01')
    assert (offline.code, offline.command_status) == ('host_offline', 'BLOCKED')
    [forced] = await fleet.dispatch('pull', 'web-01', force=True)
    assert forced.started and forced.command_status == 'ERROR' and forced.code == 'agent_unreachable'


class _Remote:
    def version_configured(self) -> bool:
        return True

    def mergeable_pr(self) -> str | None:
        return '#42 flake.lock: update'

    async def refresh(self) -> RemoteResult:
        return RemoteResult(True, 'fetched version.json: 686f817')

    async def merge_pr(self) -> RemoteResult:
        return RemoteResult(False, 'GitHub refused: merge conflict')
