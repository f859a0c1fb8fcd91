"""How a failure reads wherever it is shown: refusals, a finished command, a failed grid cell and the idle activity
cell of a host row all say why in the words of `causes.cause` (code · exit N — message: last error line)."""

from __future__ import annotations

from typing import Any

from nixfleet.viewmodels.actions_model import op_label
from nixfleet.viewmodels.outcomes import LastFailures, ended, first_failed_host, refusal, run_failures
from nixfleet.viewmodels.pipeline_cells import CellView

LINE = 'T05 FAIL: expected ok, got timeout'
FAILED_TEST = {
    'id': 'c-2',
    'host_id': 'pi-garden',
    'op': 'test',
    'status': 'ERROR',
    'exit_code': 1,
    'message': 'command failed',  # the Go agent's only words
    'error_line': LINE,
    'created_at': '2026-12-07T21:00:02Z',
}


def test_a_refusal_reads_code_then_message() -> None:
    assert refusal('host_busy', 'web-01 is running Test') == 'host_busy — web-01 is running Test'
    assert refusal(None, 'the run has ended') == 'the run has ended'


def test_a_failed_command_says_what_failed_and_its_exit_code_and_last_error_line() -> None:
    assert ended('Test', FAILED_TEST) == ('Test failed', f'exit 1 — {LINE}')
    assert ended('Pull', {'status': 'SUCCESS', 'exit_code': 0}) == ('Pull succeeded', '')


def test_a_failed_grid_cell_shows_the_whole_cause_in_the_cell() -> None:
    cell = {'status': 'ERROR', 'code': None, 'message': LINE, 'exit_code': 1}

    view = CellView.of(cell, 'pi-garden', 'test')

    assert (view.tone, view.words, view.short) == ('fail', 'error', f'exit 1 — {LINE}')
    assert view.label == f'pi-garden, test: error — exit 1 — {LINE}'
    refused = CellView.of({'status': 'BLOCKED', 'code': 'host_offline', 'message': 'pi-garden is offline'}, 'h', 'test')
    assert refused.short == 'host_offline — pi-garden is offline'


def test_a_run_toast_links_the_output_of_its_first_failed_host() -> None:
    run = {
        'ops': ['pull', 'test'],
        'stages': [{}, {'web-02': {'status': 'ERROR', 'exit_code': 1, 'message': LINE}, 'web-01': 'ERROR'}],
    }

    failures = run_failures(run)

    assert sorted(failures) == [('web-01 · test', ''), ('web-02 · test', f'exit 1 — {LINE}')]
    assert first_failed_host(failures) == 'web-01'
    assert first_failed_host([]) is None


def rows(failures: LastFailures, commands: dict[str, Any], host: str = 'pi-garden', **kw: Any) -> Any:
    running = kw.get('running')
    return failures.row(host, running, commands, busy=running is not None or kw.get('busy', False))


def test_an_idle_host_row_says_why_its_last_command_failed_until_a_newer_one_runs() -> None:
    older = {**FAILED_TEST, 'id': 'c-1', 'status': 'SUCCESS', 'created_at': '2026-12-07T21:00:01Z'}
    commands: dict[str, Any] = {'c-1': older, 'c-2': FAILED_TEST}
    failures = LastFailures(op_label)
    failures.reset(commands)  # a full render finds the newest command of each host

    assert rows(failures, commands) == {'text': 'Test failed', 'why': f'exit 1 — {LINE}', 'command': 'c-2'}

    running = {'id': 'c-3', 'host_id': 'pi-garden', 'op': 'switch', 'status': 'EXECUTING'}
    commands['c-3'] = running
    assert rows(failures, commands, running=running) is None  # busy: the progress is shown instead
    commands['c-3'] = {**running, 'status': 'SUCCESS', 'exit_code': 0}
    assert rows(failures, commands) is None  # the newer command succeeded
    assert rows(failures, commands, 'other-host') is None


def test_a_host_busy_before_its_command_reaches_the_state_shows_no_old_failure() -> None:
    failures = LastFailures(op_label)
    failures.reset({'c-2': FAILED_TEST})

    assert rows(failures, {'c-2': FAILED_TEST}, busy=True) is None
