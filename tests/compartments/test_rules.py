"""Every rule and gate of the compartment function (docs/architecture.md#compartments), one row each.

Each row starts from a healthy host (everything green) and changes one thing. `Row.host` is the host's inputs,
`Row.remote` the remote desired state (None: version tracking not configured), `Row.part` the compartment checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from nixfleet.compartments.model import HostInputs, Record, RemoteDesired, Report, VersionInfo
from nixfleet.compartments.rules import NOT_CONFIGURED, compartments
from nixfleet.models import CompartmentStatus as S

NOW = 1_800_000_000.0
GEN = 'abc1234'  # the host's generation = the remote commit
OLD = 'def5678'  # an older generation
COMMIT = GEN + 'f' * 33
LOCK = 'a' * 64
OLD_LOCK = 'b' * 64
MINUTE = 60.0

REMOTE = RemoteDesired(
    version=VersionInfo(git_commit=COMMIT, lock_hash=LOCK, message='hosts: enable zram\n\nlong body', branch='main'),
    fetched_at=NOW - 10,
)
NEWER_REMOTE = RemoteDesired(
    version=VersionInfo(git_commit='1234567' + '0' * 33, lock_hash=OLD_LOCK, message='flake.lock: update'),
    fetched_at=NOW - 10,
)
FAILING = replace(REMOTE, error='HTTP 404 Not Found')
NEVER_FETCHED_FAILING = RemoteDesired(error='timed out after 10 s')
NOT_FETCHED = RemoteDesired()
NO_LOCK_HASH = RemoteDesired(version=VersionInfo(git_commit=COMMIT, problems={'lockHash': 'has no lockHash'}))
NO_COMMIT = RemoteDesired(version=VersionInfo(lock_hash=LOCK))
BAD_COMMIT = RemoteDesired(
    version=VersionInfo(lock_hash=LOCK, problems={'gitCommit': 'gitCommit is not a string (got int)'})
)


def rec(status: S, gen: str = GEN, *, at: float = NOW - 30 * MINUTE, op: str = 'switch', msg: str = '') -> Record:
    """A dashboard record (switch or test result) made on `gen`."""
    return Record(status=status, message=msg or f'{op} {status}', generation=gen, op=op, at=at)


def report(status: str, *, age: float = 10.0, msg: str = '') -> Report:
    """An agent report received `age` seconds ago."""
    return Report(status=status, message=msg or f'agent says {status}', at=NOW - age)


HEALTHY = HostInputs(
    agent_version='3.1.5',
    generation=GEN,
    lock_hash=LOCK,
    system_record=rec(S.OK, op='switch', at=NOW - 20 * MINUTE),
    tests_record=rec(S.OK, op='test', at=NOW - 10 * MINUTE),
)


def host(**changes: Any) -> HostInputs:
    """The healthy host with some inputs changed."""
    return replace(HEALTHY, **changes)


ANY = object()  # the row does not check the action


@dataclass(frozen=True)
class Row:
    id: str
    part: str
    status: S
    message: str  # a fragment the message must contain
    host: HostInputs = HEALTHY
    remote: RemoteDesired | None = REMOTE
    expected: str | None = '3.1.5'
    action: Any = ANY
    hint: str | None = None  # a fragment the hint must contain

    def judged(self) -> Any:
        """The row's compartment as the rules judge its inputs."""
        return getattr(compartments(self.host, self.remote, self.expected, now=NOW), self.part)


AGENT = [
    Row('current', 'agent', S.OK, 'Agent 3.1.5 (current)', action=None),
    Row('older than expected', 'agent', S.OUTDATED, 'Agent 3.1.4 (expected 3.1.5)',
        host=host(agent_version='3.1.4'), action='check-version'),
    Row('newer than expected is not outdated', 'agent', S.OK, 'Agent 3.2.0 (newer than the expected 3.1.5)',
        host=host(agent_version='3.2.0'), action=None, hint='NIXFLEET_EXPECTED_AGENT_VERSION'),
    Row('numbers compare as numbers', 'agent', S.OUTDATED, 'Agent 3.1.9 (expected 3.1.10)',
        host=host(agent_version='3.1.9'), expected='3.1.10'),
    Row('a v prefix is the same version', 'agent', S.OK, 'current', expected='v3.1.5'),
    Row('version not reported', 'agent', S.UNKNOWN, 'Agent version not reported', host=host(agent_version='')),
    Row('no expected version known', 'agent', S.UNKNOWN, 'no expected version', expected=None,
        hint='NIXFLEET_EXPECTED_AGENT_VERSION'),
    Row('restart running', 'agent', S.WORKING, 'Agent restarting', host=host(active_op='restart')),
]  # fmt: skip

GIT = [
    Row('7-char prefix of the remote commit', 'git', S.OK, f'Up to date with remote ({GEN})', action=None),
    Row('full hash equal', 'git', S.OK, 'Up to date', host=host(generation=COMMIT)),
    Row('case does not matter', 'git', S.OK, 'Up to date', host=host(generation=GEN.upper())),
    Row('behind: names both commits and the subject', 'git', S.OUTDATED,
        f'Behind remote ({OLD} → {GEN}): hosts: enable zram', host=host(generation=OLD), action='pull'),
    Row('not configured: gray with a hint, not red', 'git', S.UNKNOWN, NOT_CONFIGURED, remote=None,
        hint='NIXFLEET_VERSION_URL', action=None),
    Row('fetch failing, nothing cached: red with the reason', 'git', S.ERROR,
        'version.json fetch failing: timed out after 10 s', remote=NEVER_FETCHED_FAILING, action='refresh-git'),
    Row('fetch failing with a last good copy: red, the comparison in the hint', 'git', S.ERROR,
        'version.json fetch failing: HTTP 404 Not Found', remote=FAILING, hint='last good version.json: Up to date'),
    Row('first fetch pending: gray', 'git', S.UNKNOWN, 'Waiting for the first version.json fetch',
        remote=NOT_FETCHED),
    Row('gitCommit missing: red naming the field', 'git', S.ERROR, 'Remote version.json has no gitCommit',
        remote=NO_COMMIT),
    Row('gitCommit of the wrong type: red naming the field', 'git', S.ERROR, 'gitCommit is not a string',
        remote=BAD_COMMIT),
    Row('host generation not reported', 'git', S.UNKNOWN, 'Agent has not reported its generation',
        host=host(generation='')),
    Row('host generation is nonsense', 'git', S.ERROR, "invalid generation '../../etc'",
        host=host(generation='../../etc')),
    Row('host generation too short', 'git', S.ERROR, 'invalid generation', host=host(generation='abc')),
    Row('pull running', 'git', S.WORKING, 'Pull in progress', host=host(active_op='pull')),
    Row('pull-switch running', 'git', S.WORKING, 'Pull in progress', host=host(active_op='pull-switch')),
]  # fmt: skip

LOCK_ROWS = [
    Row('hash equal', 'lock', S.OK, 'flake.lock is current', action=None),
    Row('hash differs, git behind: pull', 'lock', S.OUTDATED, 'flake.lock outdated (host bbbbbbbb, remote aaaaaaaa)',
        host=host(generation=OLD, lock_hash=OLD_LOCK), action='pull'),
    Row('hash differs on the current commit: changed on the host, no pull', 'lock', S.OUTDATED, 'flake.lock outdated',
        host=host(lock_hash=OLD_LOCK), action=None, hint='changed on the host'),
    Row('lockHash missing: red naming the field', 'lock', S.ERROR, 'Remote version.json has no lockHash',
        remote=NO_LOCK_HASH),
    Row('not configured: gray with a hint', 'lock', S.UNKNOWN, NOT_CONFIGURED, remote=None,
        hint='NIXFLEET_VERSION_URL'),
    Row('fetch failing: red with the reason', 'lock', S.ERROR, 'fetch failing: HTTP 404', remote=FAILING,
        hint='flake.lock is current'),
    Row('first fetch pending', 'lock', S.UNKNOWN, 'Waiting for the first', remote=NOT_FETCHED),
    Row('host hash not reported', 'lock', S.UNKNOWN, 'Agent has not reported a flake.lock hash',
        host=host(lock_hash=''), action='refresh-lock'),
    Row('host hash is nonsense', 'lock', S.ERROR, 'invalid lock hash', host=host(lock_hash='not-a-hash!')),
    Row('bump-flake running (agent command name)', 'lock', S.WORKING, 'Updating flake.lock',
        host=host(active_op='update')),
    Row('agent reports a lock check in progress', 'lock', S.WORKING, 'Checking lock',
        host=host(lock_report=report('working', msg='Checking lock...'))),
    Row('a stale lock check is ignored', 'lock', S.OK, 'flake.lock is current',
        host=host(lock_report=report('working', age=6 * MINUTE))),
]  # fmt: skip

SYSTEM = [
    Row('switched on the current generation', 'system', S.OK, 'switch ok', action=None),
    Row('a pull moved the generation: outdated, switch', 'system', S.OUTDATED,
        f'Deployed {OLD}; the host is now at {GEN}', host=host(system_record=rec(S.OK, OLD)), action='switch'),
    Row('a no-op pull does not make it outdated (agent says outdated, generation unchanged)', 'system', S.OK,
        'switch ok', host=host(system_report=report('outdated', msg='Pull completed - rebuild needed'))),
    Row('switch failed', 'system', S.ERROR, 'switch error', host=host(system_record=rec(S.ERROR)), action=None,
        hint="host's log"),
    Row('failed switch stays red after a pull', 'system', S.ERROR, 'switch error',
        host=host(system_record=rec(S.ERROR, OLD))),
    Row('rolled back: outdated, switch to redeploy', 'system', S.OUTDATED, 'rollback outdated',
        host=host(system_record=rec(S.OUTDATED, op='rollback')), action='switch'),
    Row('no record: the agent report counts', 'system', S.OK, 'agent says ok (reported by the agent)',
        host=host(system_record=None, system_report=report('ok'))),
    Row('no record, no report: gray, check it', 'system', S.UNKNOWN, 'No switch recorded yet',
        host=host(system_record=None), action='refresh-system'),
    Row('switch running', 'system', S.WORKING, 'Switch in progress', host=host(active_op='switch')),
    Row('rollback running', 'system', S.WORKING, 'Rollback in progress', host=host(active_op='rollback')),
    Row('agent reports work newer than the record', 'system', S.WORKING, 'Switch in progress...',
        host=host(system_report=report('working', msg='Switch in progress...'))),
    Row('agent work reported more than 5 min ago: unknown', 'system', S.UNKNOWN, 'reported 6 min ago and never '
        'finished', host=host(system_report=report('working', age=6 * MINUTE, msg='Switch in progress...'))),
    Row('agent work older than the record is left over', 'system', S.OK, 'switch ok',
        host=host(system_report=report('working', age=25 * MINUTE))),
    Row('agent work without a time (Go dashboard database) is stale', 'system', S.UNKNOWN, 'never finished',
        host=host(system_record=None, system_report=Report(status='working', message='Switch in progress...'))),
]  # fmt: skip

SYSTEM_GATE = [
    Row('git behind: never ok', 'system', S.OUTDATED, 'System not current: Git and Lock outdated (switch ok)',
        remote=NEWER_REMOTE, action='pull-switch'),
    Row('lock changed on the host: never ok', 'system', S.OUTDATED, 'not current: Lock outdated',
        host=host(lock_hash=OLD_LOCK), action=None),
    Row('remote fetch failing: outdated, not gray', 'system', S.OUTDATED,
        'System not verified: Git and Lock error (switch ok)', remote=FAILING),
    Row('lockHash missing: outdated', 'system', S.OUTDATED, 'not verified: Lock error', remote=NO_LOCK_HASH),
    Row('not configured: gray', 'system', S.UNKNOWN, 'System not verified: Git and Lock unknown (switch ok)',
        remote=None, action=None),
    Row('pull running: gray while waiting', 'system', S.UNKNOWN, 'System waiting: Git working',
        host=host(active_op='pull')),
    Row('nothing known while git behind: outdated, not gray', 'system', S.OUTDATED,
        'not current: Git and Lock outdated (No switch recorded yet)', host=host(system_record=None),
        remote=NEWER_REMOTE, action='pull-switch'),
    Row('nothing known, not configured: gray', 'system', S.UNKNOWN, 'No switch recorded yet',
        host=host(system_record=None), remote=None),
    Row('the gate only lowers ok: a failed switch stays red', 'system', S.ERROR, 'switch error',
        host=host(system_record=rec(S.ERROR)), remote=NEWER_REMOTE),
]  # fmt: skip

TESTS = [
    Row('passed on the current generation', 'tests', S.OK, 'test ok', action=None),
    Row('failed: run again', 'tests', S.ERROR, 'test error', host=host(tests_record=rec(S.ERROR, op='test')),
        action='test'),
    Row('ran on another generation: outdated', 'tests', S.OUTDATED, f'Tests ran on {OLD}; the host is now at {GEN}',
        host=host(tests_record=rec(S.OK, OLD, op='test')), action='test'),
    Row('a failure on another generation is outdated too', 'tests', S.OUTDATED, f'Tests ran on {OLD}',
        host=host(tests_record=rec(S.ERROR, OLD, op='test'))),
    Row('after a switch: outdated', 'tests', S.OUTDATED, 'switch outdated',
        host=host(tests_record=rec(S.OUTDATED, op='switch')), action='test'),
    Row('never run: gray, run them', 'tests', S.UNKNOWN, 'Tests not run yet', host=host(tests_record=None),
        action='test'),
    Row('running', 'tests', S.WORKING, 'Tests running', host=host(active_op='test'), action=None),
    Row('agent reports tests running', 'tests', S.WORKING, 'Tests running...',
        host=host(tests_report=report('working', msg='Tests running...'))),
    Row('agent tests running for more than 5 min: unknown', 'tests', S.UNKNOWN, 'never finished',
        host=host(tests_report=report('working', age=7 * MINUTE))),
    Row('agent restarted (report empty): the record is kept', 'tests', S.OK, 'test ok',
        host=host(tests_report=None)),
    Row('no record: the agent report counts', 'tests', S.OK, 'agent says ok',
        host=host(tests_record=None, tests_report=report('ok'))),
    Row('no record, report scoped to an older generation (Go dashboard)', 'tests', S.OUTDATED, f'Tests ran on {OLD}',
        host=host(tests_record=None, tests_report=report('ok'), tests_generation=OLD)),
]  # fmt: skip

TESTS_GATE = [
    Row('git behind: never ok, deploy first', 'tests', S.OUTDATED, 'Tests not current: Git and Lock outdated',
        remote=NEWER_REMOTE, action=None, hint='Deploy first'),
    Row('remote fetch failing: outdated', 'tests', S.OUTDATED, 'Tests not verified: Git and Lock error',
        remote=FAILING),
    Row('not configured: gray', 'tests', S.UNKNOWN, 'Tests not verified: Git and Lock unknown', remote=None),
    Row('system failed: never ok', 'tests', S.OUTDATED, 'Tests not verified: System error',
        host=host(system_record=rec(S.ERROR))),
    Row('system rolled back: never ok', 'tests', S.OUTDATED, 'Tests not current: System outdated',
        host=host(system_record=rec(S.OUTDATED, op='rollback'))),
    Row('system unknown: gray', 'tests', S.UNKNOWN, 'Tests not verified: System unknown',
        host=host(system_record=None)),
    Row('system switching: gray', 'tests', S.UNKNOWN, 'Tests waiting: System working',
        host=host(system_report=report('working'))),
]  # fmt: skip


@pytest.mark.parametrize('row', AGENT + GIT + LOCK_ROWS, ids=lambda r: f'{r.part}: {r.id}')
def test_agent_git_lock(row: Row) -> None:
    got = row.judged()
    assert (got.status, row.message in got.message) == (row.status, True), got
    assert row.action is ANY or got.action == row.action, got
    assert row.hint is None or (got.hint is not None and row.hint in got.hint), got


@pytest.mark.parametrize('row', SYSTEM + SYSTEM_GATE, ids=lambda r: f'{r.part}: {r.id}')
def test_system(row: Row) -> None:
    got = row.judged()
    assert (got.status, row.message in got.message) == (row.status, True), got
    assert row.action is ANY or got.action == row.action, got
    assert row.hint is None or (got.hint is not None and row.hint in got.hint), got


@pytest.mark.parametrize('row', TESTS + TESTS_GATE, ids=lambda r: f'{r.part}: {r.id}')
def test_tests(row: Row) -> None:
    got = row.judged()
    assert (got.status, row.message in got.message) == (row.status, True), got
    assert row.action is ANY or got.action == row.action, got
    assert row.hint is None or (got.hint is not None and row.hint in got.hint), got


# The fleet patterns of CORE-006 (Agent, Git, Lock, System, Tests), each a whole row of five.
G, Y, R = S.OK, S.OUTDATED, S.ERROR
AFTER_PULL = host(generation='1234567', lock_hash=OLD_LOCK)  # pulled NEWER_REMOTE; switch and test on GEN
AFTER_SWITCH = replace(
    AFTER_PULL,
    system_record=rec(S.OK, '1234567', at=NOW - 60),
    tests_record=rec(S.OUTDATED, '1234567', at=NOW - 60, op='switch'),
)
AFTER_TESTS = replace(AFTER_SWITCH, tests_record=rec(S.OK, '1234567', at=NOW - 5, op='test'))
PATTERNS = [
    ('normal', HEALTHY, REMOTE, (G, G, G, G, G)),
    ('config merged upstream', HEALTHY, NEWER_REMOTE, (G, Y, Y, Y, Y)),
    ('after pull', AFTER_PULL, NEWER_REMOTE, (G, G, G, Y, Y)),
    ('after switch', AFTER_SWITCH, NEWER_REMOTE, (G, G, G, G, Y)),
    ('after tests', AFTER_TESTS, NEWER_REMOTE, (G, G, G, G, G)),
    ('remote fetch failing', HEALTHY, FAILING, (G, R, R, Y, Y)),
]


@pytest.mark.parametrize(('inputs', 'remote', 'want'), [p[1:] for p in PATTERNS], ids=[p[0] for p in PATTERNS])
def test_fleet_patterns(inputs: HostInputs, remote: RemoteDesired, want: tuple[S, ...]) -> None:
    got = compartments(inputs, remote, '3.1.5', now=NOW)
    assert tuple(got.statuses().values()) == want, got


def test_wire_form_has_five_compartments_with_status_message_hint_action() -> None:
    wire = compartments(HEALTHY, REMOTE, '3.1.5', now=NOW).to_wire()
    assert list(wire) == ['agent', 'git', 'lock', 'system', 'tests']
    assert wire['git'] == {'status': 'ok', 'message': f'Up to date with remote ({GEN})', 'hint': None, 'action': None}
