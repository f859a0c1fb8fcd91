"""How a failure reads wherever it is shown: refusals, a finished command, a failed grid cell and the idle activity
cell of a host row all say why in the words of `causes.cause` (code · exit N — message: last error line)."""

from __future__ import annotations

from typing import Any

from nixfleet.viewmodels.actions_model import op_label
from nixfleet.viewmodels.outcomes import ended, first_failed_host, refusal, row_failure, run_failures
from nixfleet.viewmodels.pipeline_cells import CellView
from nixfleet.viewmodels.table_sync import host_row

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


def last(status: str, **fields: Any) -> dict[str, Any]:
    """A host view's `last_outcome`."""
    return {'command_id': 'c-2', 'op': 'test', 'status': status, 'finished_at': '2026-12-07T21:00:09Z', **fields}


def test_an_idle_host_row_says_why_its_last_command_failed() -> None:
    failed = last('ERROR', cause=f'exit 1 — {LINE}')

    assert row_failure(failed, op_label) == {'text': 'Test failed', 'why': f'exit 1 — {LINE}', 'command': 'c-2'}
    assert row_failure(last('TIMEOUT', op='switch', cause=''), op_label) == {
        'text': 'Switch timed out',
        'why': 'no cause reported',
        'command': 'c-2',
    }
    assert row_failure(last('SUCCESS', cause=''), op_label) is None  # the last one succeeded
    assert row_failure(None, op_label) is None  # no command ran yet


def test_the_failed_chip_and_the_activity_cell_read_one_field_and_agree() -> None:
    view = {'id': 'pi-garden', 'last_outcome': last('SUSPICIOUS', op='switch', cause='only the source commit changed')}

    row = host_row(view)

    assert row['failed'] is True
    assert row['fail'] is not None and row['fail']['text'] == 'Switch switched, but only the source commit changed'
    busy = host_row({**view, 'busy': True, 'pending_command': 'pull'})
    assert busy['failed'] is True and busy['fail'] is None  # its progress is shown instead; still in the Failed chip
    assert host_row({'id': 'pi-garden', 'last_outcome': last('SUCCESS')})['failed'] is False
