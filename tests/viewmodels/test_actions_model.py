"""The NiceGUI-free parts of the actions: alternatives, Force, the running-command index, refusal reasons."""

from __future__ import annotations

from typing import Any

from nixfleet.models import ErrorCode
from nixfleet.viewmodels.actions_model import ROW_MENU, CommandIndex, alternative, forceable, refusals, run_cell


def test_pull_first_is_the_alternative_to_a_switch_behind_the_remote() -> None:
    alt = alternative('switch', ErrorCode.GIT_OUTDATED)
    assert alt is not None and (alt.label, alt.op) == ('Pull first', 'pull-switch')
    assert alternative('switch', ErrorCode.LOCK_OUTDATED).op == 'pull-switch'  # type: ignore[union-attr]
    assert alternative('pull', ErrorCode.ALREADY_CURRENT).op == 'refresh-all'  # type: ignore[union-attr]
    assert alternative('test', ErrorCode.COMMAND_PENDING).op == 'output'  # type: ignore[union-attr]
    assert alternative('reboot', ErrorCode.HOST_OFFLINE) is None


def test_force_gets_past_pre_checks_only() -> None:
    for code in (ErrorCode.GIT_OUTDATED, ErrorCode.ALREADY_CURRENT, ErrorCode.HOST_STALE):
        assert forceable(code)
    for code in (ErrorCode.COMMAND_PENDING, ErrorCode.HOST_ONLINE, ErrorCode.HOST_OFFLINE, ErrorCode.TOTP_INVALID):
        assert not forceable(code)
    assert not forceable(None)


def command(cid: str, status: str = 'EXECUTING', **fields: Any) -> dict[str, Any]:
    return {'id': cid, 'op': 'pull-switch', 'status': status, 'terminal': False, 'started_at': 'T', **fields}


def test_command_index_follows_progress_without_the_host_changing() -> None:
    index = CommandIndex()
    hosts = {'a': {'id': 'a', 'command_id': 'c1'}, 'b': {'id': 'b'}}
    commands = {'c1': command('c1')}
    index.reset(hosts, commands)
    assert index.cell('a')['phases'] == [  # type: ignore[index]
        {'name': 'pull', 'status': 'pending'},
        {'name': 'system', 'status': 'pending'},
    ]
    assert index.cell('b') is None

    progressed = {'c1': command('c1', progress={'pull': {'status': 'complete'}})}
    assert index.update(hosts, progressed, touched=set()) == {'a'}  # re-send a's row
    assert index.cell('a')['phases'][0] == {'name': 'pull', 'status': 'complete'}  # type: ignore[index]
    assert index.update(hosts, progressed, touched=set()) == set()  # nothing moved

    warned = {'c1': command('c1', status='RUNNING_WARNING')}
    index.update(hosts, warned, touched=set())
    assert [c['id'] for c in index.alerts()] == ['c1']
    dismissed = {'c1': command('c1', status='RUNNING_WARNING', alert_dismissed=True)}
    index.update(hosts, dismissed, touched=set())
    assert index.alerts() == []

    idle = {'a': {'id': 'a'}, 'b': {'id': 'b'}}
    assert index.update(idle, dismissed, touched={'a'}) == set()  # a's row is re-sent anyway
    assert index.cell('a') is None


def test_run_cell_hides_ended_commands() -> None:
    assert run_cell(command('c1', terminal=True)) is None
    assert run_cell(None) is None
    cell = run_cell(command('c1', pipeline_id='p1', kill_requested=True))
    assert cell is not None and cell['pipeline'] and cell['kill'] and cell['label'] == 'Pull + Switch'


def test_refusals_explain_every_disabled_op_with_the_registrys_words() -> None:
    view = {
        'id': 'web-01',
        'connection': 'online',
        'available_ops': ['pull', 'pull-switch', 'test', 'rollback', 'restart', 'reboot', 'check-version'],
        'compartments': {'git': {'status': 'outdated'}, 'lock': {'status': 'ok'}},
    }
    why = refusals(view)
    assert why == {
        'switch': 'Git is outdated: pull first, then switch',
        'remove': 'web-01 is online; stop its agent before removing it',
    }
    assert refusals({**view, 'busy': True}) == {}  # busy: the row says so
    offline = refusals({**view, 'connection': 'offline', 'available_ops': ['set-color', 'remove']})
    assert offline['pull'] == 'web-01 is offline'
    assert {item.op for item in ROW_MENU if item.op} >= set(offline)
