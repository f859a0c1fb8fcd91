"""The inputs of the compartment function: recorded results, expected agent versions, and host rows."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from nixfleet.compartments.model import Record
from nixfleet.compartments.records import apply_result, inputs_from_row, report_from_json
from nixfleet.compartments.rules import compartments
from nixfleet.compartments.versions import expected_agent_version
from nixfleet.models import CompartmentStatus as S
from nixfleet.timeutil import iso
from tests.compartments.test_rules import GEN, HEALTHY, NOW, OLD, REMOTE, rec, report

SWITCHED = rec(S.OK, GEN, op='switch')
TESTED = rec(S.OK, GEN, op='test')

# op, ok, message, exit code → (system status, system message fragment, tests status, tests message fragment)
RESULTS = [
    ('switch', True, '', 0, (S.OK, f'Switch deployed {OLD}'), (S.OUTDATED, 'Tests need a re-run after the switch')),
    ('pull-switch', True, '', 0, (S.OK, f'Pull + Switch deployed {OLD}'), (S.OUTDATED, 're-run')),
    ('force-update', True, '', 0, (S.OK, 'Force rebuild deployed'), (S.OUTDATED, 're-run')),
    ('switch', False, 'command failed', 1, (S.ERROR, 'Switch failed (exit 1) command failed'), (S.OK, 'test ok')),
    ('rollback', True, '', 0, (S.OUTDATED, 'Rolled back'), (S.OUTDATED, 'after the rollback')),
    ('rollback', False, '', 1, (S.ERROR, 'Rollback failed (exit 1)'), (S.OK, 'test ok')),
    ('test', True, '', 0, (S.OK, 'switch ok'), (S.OK, f'All tests passed on {OLD}')),
    ('test', False, 'command failed', 1, (S.OK, 'switch ok'), (S.ERROR, 'Tests failed (exit 1) command failed')),
    ('refresh-system', True, 'outdated', 0, (S.OUTDATED, 'System check: rebuild needed'), (S.OK, 'test ok')),
    ('refresh-system', True, 'ok', 0, (S.OK, 'System check: current'), (S.OK, 'test ok')),
    ('refresh-system', False, 'Dry build failed (exit 1)', 1, (S.ERROR, 'Dry build failed'), (S.OK, 'test ok')),
    ('refresh-system', True, 'all refreshed', 0, (S.OK, 'switch ok'), (S.OK, 'test ok')),
    ('pull', True, '', 0, (S.OK, 'switch ok'), (S.OK, 'test ok')),
    ('check-version', True, '', 0, (S.OK, 'switch ok'), (S.OK, 'test ok')),
]


@pytest.mark.parametrize(
    ('op', 'ok', 'message', 'code', 'system', 'tests'),
    RESULTS,
    ids=[f'{r[0]} {"ok" if r[1] else "failed"} {r[2]}'.strip() for r in RESULTS],
)
def test_recorded_results(
    op: str, ok: bool, message: str, code: int, system: tuple[S, str], tests: tuple[S, str]
) -> None:
    new_system, new_tests = apply_result(
        SWITCHED, TESTED, op=op, ok=ok, generation=OLD, message=message, exit_code=code, at=NOW
    )
    assert new_system is not None and new_tests is not None
    assert (new_system.status, new_tests.status) == (system[0], tests[0])
    assert system[1] in new_system.message and tests[1] in new_tests.message


def test_a_pull_makes_system_outdated_only_when_it_moved_the_generation() -> None:
    system, tests = apply_result(None, None, op='switch', ok=True, generation=GEN, at=NOW - 60)
    system, tests = apply_result(system, tests, op='test', ok=True, generation=GEN, at=NOW - 30)
    noop_pull = replace(HEALTHY, system_record=system, tests_record=tests)
    assert compartments(noop_pull, REMOTE, '3.1.5', now=NOW).system.status is S.OK
    moved = replace(noop_pull, generation=OLD)
    assert compartments(moved, REMOTE, '3.1.5', now=NOW).system.message.startswith(f'Deployed {GEN}; the host is')


SHIPPED = {'go': '3.1.5', 'python': '0.1.0'}
# setting, version.json `agentVersion` (parsed), implementation → expected version
EXPECTED = [
    ('nothing set: the version the dashboard ships with', '', {}, 'go', '3.1.5'),
    ('nothing set: implementations are separate', '', {}, 'python', '0.1.0'),
    ('nothing set: an implementation the dashboard does not ship', '', {}, 'rust', None),
    ('version.json for every implementation', '', {'*': '3.2.0'}, 'python', '3.2.0'),
    ('version.json per implementation', '', {'go': '3.1.6', '*': '9.0.0'}, 'go', '3.1.6'),
    ('version.json leaves one out: shipped', '', {'python': '0.2.0'}, 'go', '3.1.5'),
    ('setting beats version.json', '3.1.4', {'*': '3.2.0'}, 'python', '3.1.4'),
    ('setting pairs: per implementation', 'go=3.1.4,python=0.1.1', {}, 'python', '0.1.1'),
    ('setting pairs leave one out: version.json', 'python=0.1.1', {'go': '3.1.6'}, 'go', '3.1.6'),
    ('setting pairs leave one out: shipped', 'python=0.1.1', {}, 'go', '3.1.5'),
]


@pytest.mark.parametrize(
    ('setting', 'published', 'impl', 'want'), [e[1:] for e in EXPECTED], ids=[e[0] for e in EXPECTED]
)
def test_expected_agent_version_comes_from_the_admins_sources(
    setting: str, published: dict[str, str], impl: str, want: str | None
) -> None:
    assert expected_agent_version(impl, setting, published, SHIPPED) == want


def test_record_round_trip() -> None:
    record = rec(S.ERROR, GEN, at=1_800_000_000.5, op='switch', msg='Switch failed (exit 1)')
    assert Record.from_json(record.to_json()) == record


@pytest.mark.parametrize('stored', [None, '', 'not json', '[]', '{"status": "sideways"}', '{"message": "x"}'])
def test_unreadable_records_are_absent(stored: str | None) -> None:
    assert Record.from_json(stored) is None


def test_report_time_is_when_the_dashboard_received_it() -> None:
    stored = json.dumps(
        {'status': 'working', 'message': 'Switch...', 'checked_at': iso(NOW - 999), 'received_at': iso(NOW - 5)}
    )
    report = report_from_json(stored)
    assert report is not None and report.at == pytest.approx(NOW - 5)


def test_report_without_received_at_falls_back_to_checked_at() -> None:
    report = report_from_json(json.dumps({'status': 'ok', 'message': '', 'checked_at': '2026-11-25T16:32:07Z'}))
    assert report is not None and report.at is not None


def test_inputs_from_a_row_with_garbage_columns() -> None:
    row = {
        'agent_version': 3,
        'generation': GEN,
        'lock_hash': None,
        'system_status_json': '{"status": "", "message": ""}',
        'tests_status_json': 'garbage',
        'system_record_json': SWITCHED.to_json(),
    }
    inputs = inputs_from_row(row, active_op='update')
    assert inputs.agent_version == '' and inputs.agent_impl == 'go' and inputs.lock_hash == ''
    assert inputs.system_report is None and inputs.tests_report is None
    assert inputs.system_record == Record.from_json(SWITCHED.to_json())
    assert inputs.active_op == 'update'


def test_agent_text_is_cut_short_in_messages() -> None:
    flood = 'x' * 100_000
    host = replace(HEALTHY, system_record=None, system_report=report('ok', msg=flood), generation='g' * 10_000)
    comps = compartments(host, REMOTE, '3.1.5', now=NOW)
    assert all(len(part['message']) < 400 for part in comps.to_wire().values())
    system, _ = apply_result(None, None, op='switch', ok=False, generation=GEN, message=flood, at=NOW)
    assert system is not None and len(system.message) < 400


@pytest.mark.parametrize('name', ['lock', 'system', 'tests'])
def test_a_working_report_from_before_the_last_command_end_is_left_over(name: str) -> None:
    working = replace(HEALTHY, **{f'{name}_report': report('working', age=10)})
    assert getattr(compartments(working, REMOTE, '3.1.5', now=NOW), name).status is S.WORKING
    ended = replace(working, command_ended_at=NOW - 5)  # killed or crashed: the agent never reports the end
    assert getattr(compartments(ended, REMOTE, '3.1.5', now=NOW), name).status is S.OK
    again = replace(working, command_ended_at=NOW - 15)  # reported after the end: new work
    assert getattr(compartments(again, REMOTE, '3.1.5', now=NOW), name).status is S.WORKING
