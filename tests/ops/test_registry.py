"""The op registry and the pure rules (docs/architecture.md#ops): every op and field, validation codes, freshness
verdicts."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from nixfleet.compartments.source import ViewCompartments
from nixfleet.models import CommandStatus as S
from nixfleet.ops.registry import OPS, Completion, Executor, Scope
from nixfleet.ops.tracking import judge_freshness
from nixfleet.ops.validation import CheckContext, Snapshot, lock_changed, pull_goal
from nixfleet.protocol import AGENT_COMMANDS
from nixfleet.security.totp import TotpGuard
from tests.support import ManualClock

M = 60.0
# op: (executor, agent command, warn, hard, retryable, totp, completion)
TABLE: dict[str, tuple[Any, ...]] = {
    'pull': ('agent', 'pull', 2 * M, 5 * M, True, False, Completion.STATUS),
    'switch': ('agent', 'switch', 10 * M, 30 * M, True, False, Completion.SWITCH),
    'pull-switch': ('agent', 'pull-switch', 12 * M, 35 * M, True, False, Completion.SWITCH),
    'test': ('agent', 'test', 5 * M, 10 * M, True, False, Completion.STATUS),
    'rollback': ('agent', 'rollback', 5 * M, 15 * M, False, False, Completion.STATUS),
    'restart': ('agent', 'restart', 1 * M, 2 * M, False, False, Completion.REREGISTER),
    'reboot': ('agent', 'reboot', 5 * M, 10 * M, False, True, Completion.REREGISTER),
    'check-version': ('agent', 'check-version', 10, 30, True, False, Completion.STATUS),
    'refresh-lock': ('agent', 'refresh-lock', 30, 5 * M, True, False, Completion.STATUS),
    'refresh-system': ('agent', 'refresh-system', 30, 5 * M, True, False, Completion.STATUS),
    'refresh-all': ('agent', 'refresh-all', 30, 5 * M, True, False, Completion.STATUS),
    'refresh-git': ('dashboard', None, None, 30, True, False, Completion.DASHBOARD),
    'bump-flake': ('agent', 'update', 2 * M, 5 * M, True, False, Completion.STATUS),
    'force-rebuild': ('agent', 'force-update', 15 * M, 30 * M, True, False, Completion.SWITCH),
    'merge-pr': ('dashboard', None, None, 30, True, False, Completion.DASHBOARD),
    'set-color': ('dashboard', None, None, 5, True, False, Completion.DASHBOARD),
    'remove': ('dashboard', None, None, 5, False, False, Completion.DASHBOARD),
}


def test_every_op_of_the_spec_table() -> None:
    assert set(OPS) == set(TABLE)
    for op_id, (executor, command, warn, hard, retry, totp, completion) in TABLE.items():
        op = OPS[op_id]
        assert (op.executor, op.agent_command, op.warning_timeout, op.hard_timeout) == (
            Executor(executor),
            command,
            warn,
            hard,
        ), op_id
        assert (op.retryable, op.requires_totp, op.completion) == (retry, totp, completion), op_id
        assert op.agent_command is None or op.agent_command in AGENT_COMMANDS
    assert {o.id for o in OPS.values() if o.scope is Scope.FLEET} == {'refresh-git', 'merge-pr'}


def view(connection: str = 'online', **compartments: str) -> dict[str, Any]:
    return {
        'id': 'web-01',
        'connection': connection,
        'compartments': {k: {'status': v} for k, v in compartments.items()},
    }


@pytest.mark.parametrize(
    ('op', 'host', 'code'),
    [
        ('pull', view('offline'), 'host_offline'),
        ('pull', view('stale'), 'host_stale'),
        ('pull', view(git='ok'), 'already_current'),
        ('pull', view(git='unknown'), None),
        ('pull', view(git='error'), None),
        ('switch', view(git='outdated'), 'git_outdated'),
        ('switch', view(git='ok', lock='outdated'), 'lock_outdated'),
        ('switch', view(git='ok', lock='ok', system='ok'), 'already_current'),
        ('switch', view(git='ok', lock='ok', system='ok', agent='outdated'), None),
        ('switch', view(), None),
        ('pull-switch', view(git='ok', system='ok'), 'already_current'),
        ('pull-switch', view(git='outdated', system='ok'), None),
        ('restart', view('offline'), 'host_offline'),
        ('remove', view('online'), 'host_online'),
        ('remove', view('stale'), 'host_online'),
        ('remove', view('offline'), None),
    ],
)
def test_validation_codes(op: str, host: dict[str, Any], code: str | None) -> None:
    ctx = CheckContext(host, ViewCompartments().statuses(host), {})
    blocked = OPS[op].validate(ctx)
    assert (blocked.code if blocked else None) == code


def test_force_skips_checks_but_not_guards() -> None:
    ctx = CheckContext(view('offline'), {}, {'color': 'nope'})
    assert OPS['pull'].validate(ctx, force=True) is None
    assert OPS['set-color'].validate(ctx, force=True).code == 'invalid_color'
    assert OPS['remove'].validate(CheckContext(view('online'), {}, {}), force=True).code == 'host_online'


def test_post_checks() -> None:
    before = Snapshot('b6a4b4d', 'aaa', {'git': 'outdated'})
    assert pull_goal(before, Snapshot('686f817', 'aaa', {'git': 'outdated'})) is None
    assert pull_goal(before, Snapshot('b6a4b4d', 'aaa', {'git': 'ok'})) is None
    assert pull_goal(before, Snapshot('b6a4b4d', 'aaa', {'git': 'outdated'})).code == 'goal_not_achieved'
    assert lock_changed(before, Snapshot('b6a4b4d', 'bbb', {})) is None
    assert lock_changed(before, Snapshot('b6a4b4d', 'aaa', {})).code == 'goal_not_achieved'


@pytest.mark.parametrize(
    ('after', 'expect_update', 'status'),
    [
        ({'store_path': '/nix/store/new', 'binary_hash': 'h1', 'source_commit': 'c1'}, True, S.SUCCESS),
        ({'store_path': '/nix/store/old', 'binary_hash': 'h2', 'source_commit': 'c1'}, True, S.SUCCESS),
        ({'store_path': '/nix/store/old', 'binary_hash': 'h1', 'source_commit': 'c2'}, False, S.SUSPICIOUS),
        ({'store_path': '/nix/store/old', 'binary_hash': 'h1', 'source_commit': 'c1'}, True, S.STALE_BINARY),
        ({'store_path': '/nix/store/old', 'binary_hash': 'h1', 'source_commit': 'c1'}, False, S.SUCCESS),
    ],
)
def test_freshness_verdicts(after: dict[str, str], expect_update: bool, status: S) -> None:
    before = {'store_path': '/nix/store/old', 'binary_hash': 'h1', 'source_commit': 'c1'}
    assert judge_freshness(before, after, expect_update)[0] is status


def test_totp_guard_accepts_a_code_once() -> None:
    clock = ManualClock()
    secret = pyotp.random_base32()
    guard = TotpGuard(secret, clock)
    code = pyotp.TOTP(secret).at(clock())
    assert guard.check(code) is None
    assert guard.check(code).code == 'totp_invalid'
    clock.advance(30)
    assert guard.check(pyotp.TOTP(secret).at(clock())) is None
    assert TotpGuard(None, clock).check(code).code == 'totp_required'
