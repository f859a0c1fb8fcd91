"""The Pipelines view with simulated browsers and simulated agents: the live grid, Cancel, Retry failed, older runs."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from nicegui import ElementFilter, ui
from nicegui.testing.user import User

from nixfleet.agent import SimBehaviour
from nixfleet.config import Settings
from nixfleet.models import PipelineStatus
from nixfleet.ops.pipeline_store import PipelineRun, save_run
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.trim import WINDOW
from tests.support import ManualClock, eventually
from tests.ui.conftest import SPEED, UiServer, fail_on_error_logs, panel_of, running_ui


def element(user: User, marker: str) -> Any:
    """The one element with `marker` on the user's page, or None."""
    with user:
        found = list(ElementFilter(marker=marker, local_scope=False))
    assert len(found) <= 1, found
    return found[0] if found else None


def run_status(user: User, run_id: str) -> str:
    """What the run's status badge says (empty while the card is not there)."""
    badge = element(user, f'run-status-{run_id}')
    return badge.text if badge is not None else ''


def cell(user: User, run_id: str, stage: int, host: str) -> str:
    """The status a grid cell shows (PENDING while waiting; empty when there is no such cell)."""
    found = element(user, f'cell-{run_id}-{stage}-{host}')
    return str(found.props.get('data-status')) if found is not None else ''


async def test_grid_follows_a_run_live_and_cancel_stops_its_pending_stages(ui_server: UiServer) -> None:
    slow = SimBehaviour(speed=SPEED, slow_ops={'pull': 10_000})  # its pull outlasts the test
    hosts = await ui_server.fleet(3, behaviours={'sim-02': slow})
    user = await ui_server.user()
    await user.open('/pipelines')
    await user.should_see('No pipeline runs yet')
    run = await ui_server.dashboard.ops.start_pipeline('do-all', hosts)

    await eventually(lambda: run_status(user, run.id) == 'running · stage 1/3')
    await eventually(lambda: cell(user, run.id, 0, 'sim-01') in ('SUCCESS', 'PARTIAL'))
    await eventually(lambda: cell(user, run.id, 0, 'sim-03') in ('SUCCESS', 'PARTIAL'))
    assert cell(user, run.id, 0, 'sim-02') == 'EXECUTING'  # live, from the command in the state
    assert cell(user, run.id, 1, 'sim-01') == 'PENDING'  # the stage waits for every host

    user.find(marker=f'pipeline-cancel-{run.id}').click()
    await user.should_see('Cancel Do All on 3 hosts?')  # asked first (issue 18)
    user.find(marker='dialog-ok').click()
    await user.should_see('Cancelling do-all: running commands finish, the rest is cancelled')
    await eventually(lambda: run_status(user, run.id) == 'cancelling…')
    assert not element(user, f'pipeline-cancel-{run.id}').visible
    pull = ui_server.dashboard.stream.value.hosts['sim-02']['command_id']
    await ui_server.dashboard.ops.cancel_command(pull)  # the running pull "finishes"
    await eventually(lambda: run_status(user, run.id) == 'cancelled')
    for host in hosts:
        assert [cell(user, run.id, k, host) for k in (1, 2)] == ['CANCELLED', 'CANCELLED']
    assert not element(user, f'pipeline-retry-{run.id}').visible  # nothing failed

    user.find(marker=f'cell-{run.id}-0-sim-02').click()  # a cell shows its host's output
    assert user.client is not None
    panel = panel_of(user.client)
    assert panel is not None and panel.active == 'sim-02'


async def test_retry_failed_starts_a_new_run_with_exactly_the_failed_hosts(ui_server: UiServer) -> None:
    hosts = await ui_server.fleet(3, behaviours={'sim-02': SimBehaviour(speed=SPEED, fail_ops={'switch'})})
    alice, bob = await ui_server.user(), await ui_server.user()
    await alice.open('/pipelines')
    await bob.open('/pipelines')
    run = await ui_server.dashboard.ops.start_pipeline('do-all', hosts)
    await eventually(lambda: run_status(alice, run.id) == 'partial', timeout=10)
    assert cell(alice, run.id, 1, 'sim-02') == 'ERROR' and cell(alice, run.id, 2, 'sim-02') == 'SKIPPED'
    assert cell(alice, run.id, 2, 'sim-01') == 'SUCCESS'
    await alice.should_see('2 completed · 1 failed')
    retry = element(alice, f'pipeline-retry-{run.id}')
    assert retry.visible and retry.text == 'Retry 1 failed'

    alice.find(marker=f'pipeline-retry-{run.id}').click()
    assert bob.client is not None  # the test touches the other tab meanwhile (NiceGUI's User then records toasts)
    await eventually(lambda: 'Retrying do-all on 1 host: sim-02' in alice.notify.messages)  # the click's tab only
    assert not any('Retrying' in message for message in bob.notify.messages)
    retries = [p for p in ui_server.dashboard.stream.value.pipelines.values() if p.get('retry_of') == run.id]
    assert len(retries) == 1 and retries[0]['hosts'] == ['sim-02'] and retries[0]['name'] == 'do-all'
    rerun = str(retries[0]['id'])
    for user in (alice, bob):  # both browsers show the new run, live
        await eventually(partial(run_status, user, rerun))  # not empty: the card is there
    await eventually(lambda: run_status(bob, rerun) == 'failed', timeout=10)  # sim-02 still fails its switch
    assert cell(bob, rerun, 0, 'sim-02') != '' and cell(bob, rerun, 0, 'sim-01') == ''  # only the failed host


async def test_older_runs_load_page_by_page(ui_server: UiServer) -> None:
    clock = ui_server.dashboard.clock
    for i in range(12):  # runs from days ago: not in the live state, only in the journal
        old = PipelineRun(
            id=f'p-old-{i:02d}',
            name='do-all',
            ops=['pull', 'switch', 'test'],
            hosts=['gone-01'],
            actor='user',
            created_at=clock() - 86400 * 3 + i,
            status=PipelineStatus.COMPLETE,
            finished_at=clock() - 86400 * 3 + i + 30,
            host_state={'gone-01': {'state': 'done'}},
            cells={'0:gone-01': 'SUCCESS', '1:gone-01': 'SUCCESS', '2:gone-01': 'SUCCESS'},
        )
        await ui_server.dashboard.store.write(save_run(old))
    user = await ui_server.user()
    await user.open('/pipelines')
    await user.should_see('No pipeline runs yet')
    await user.should_see(marker='pipelines-older')  # once the page knows there are older runs
    user.find(marker='pipelines-older').click()
    await eventually(lambda: run_status(user, 'p-old-11') == 'complete')
    assert run_status(user, 'p-old-02') == 'complete' and run_status(user, 'p-old-01') == ''  # 10 per page
    assert cell(user, 'p-old-05', 2, 'gone-01') == 'SUCCESS'
    user.find(marker='pipelines-older').click()
    await eventually(lambda: run_status(user, 'p-old-00') == 'complete')
    await user.should_not_see(marker='pipelines-older')  # no older runs left
    await user.should_see('took 30s')


async def test_a_big_run_shows_its_first_hosts_until_show_all(ui_server: UiServer) -> None:
    clock = ui_server.dashboard.clock
    hosts = [f'node-{i:03d}' for i in range(75)]
    big = PipelineRun(
        id='p-big',
        name='do-all',
        ops=['pull', 'switch', 'test'],
        hosts=hosts,
        actor='user',
        created_at=clock() - 7200,
        status=PipelineStatus.COMPLETE,
        finished_at=clock() - 7000,
        host_state={h: {'state': 'done'} for h in hosts},
        cells={f'{k}:{h}': 'SUCCESS' for k in range(3) for h in hosts},
    )
    await ui_server.dashboard.store.write(save_run(big))
    user = await ui_server.user()
    await user.open('/pipelines')
    await user.should_see(marker='pipelines-older')
    user.find(marker='pipelines-older').click()
    await eventually(lambda: run_status(user, 'p-big') == 'complete')
    await user.should_see(marker='cell-p-big-2-node-059')
    await user.should_not_see(marker='cell-p-big-2-node-060')  # the first 60 hosts only
    user.find('Show all 75 hosts').click()
    await user.should_see(marker='cell-p-big-2-node-074')
    await user.should_not_see('Show all 75 hosts')


async def test_a_run_the_server_trims_leaves_the_view_and_comes_back_as_an_older_run(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    async with running_ui(settings, clock=clock) as server:
        run = PipelineRun(
            id='p-done', name='do-all', ops=['pull', 'switch', 'test'], hosts=['web-01'], actor='user',
            created_at=clock() - 30, status=PipelineStatus.COMPLETE, finished_at=clock(),
            host_state={'web-01': {'state': 'done'}},
            cells={'0:web-01': 'SUCCESS', '1:web-01': 'SUCCESS', '2:web-01': 'SUCCESS'},
        )  # fmt: skip
        await server.dashboard.store.write(save_run(run))
        server.dashboard.stream.emit(Change(ChangeType.PIPELINE_UPDATED, id=run.id, payload=run.view()))
        user = await server.user()
        await user.open('/pipelines')
        await eventually(lambda: run_status(user, run.id) == 'complete')

        clock.advance(WINDOW + 60)
        await server.dashboard.ops.trimmer.job()  # the run ended over an hour ago: it leaves the live state

        await eventually(lambda: run_status(user, run.id) == '')
        await user.should_see('No pipeline runs yet')
        user.find(marker='pipelines-older').click()
        await eventually(lambda: run_status(user, run.id) == 'complete')
    fail_on_error_logs(caplog)


def cell_view(user: User, run_id: str, stage: int, host: str) -> dict[str, Any]:
    """What a grid cell shows: its tone, texts (status, short cause), accessible label and tooltip."""
    found = element(user, f'cell-{run_id}-{stage}-{host}')
    assert found is not None
    texts = [e.text for e in found.descendants() if isinstance(e, ui.label)]
    tips = [e.text for e in found.descendants() if isinstance(e, ui.tooltip)]
    tone = next(c for c in found.classes if c.startswith('t-'))
    return {'tone': tone, 'texts': texts, 'label': found.props.get('aria-label'), 'tip': tips}


def causes_listed(user: User, run_id: str) -> list[str]:
    """The run card's list of failure causes, one string per line."""
    with user:
        card = next(e for e in ElementFilter(kind=ui.element, local_scope=False) if e.props.get('data-run') == run_id)
    rows = [e for e in card.descendants() if 'nf-run-cause' in e.classes]
    return [' | '.join(c.text for c in row.descendants() if isinstance(c, ui.label)) for row in rows]


async def test_a_failed_cell_says_why_and_the_run_toast_lists_the_cause(ui_server: UiServer) -> None:
    hosts = await ui_server.fleet(2, behaviours={'sim-02': SimBehaviour(speed=SPEED, fail_ops={'switch'})})
    browser = await ui_server.browser()
    browser.select(*hosts)
    await browser.see(marker='sel-do-all')
    browser.click('sel-do-all')  # this tab started it: it says how it ended
    why = "exit 1 — error: The option `services.sim-02.enable' does not exist."  # the last error line of the output

    toast = await ui_server.until(lambda: next((t for t in browser.toasts() if 'with failures' in t), ''), 15)
    assert toast.splitlines()[1:] == [f'sim-02 · switch: {why}']
    await browser.user.open('/pipelines')
    run = ui_server.pipelines('do-all')[0]['id']
    await eventually(lambda: run_status(browser.user, run) == 'partial')
    assert cell_view(browser.user, run, 1, 'sim-02') == {
        'tone': 't-fail',
        'texts': ['error', why],  # the status and its cause (issue 18: exit code and last error line in the cell)
        'label': f'sim-02, switch: error — {why}',  # for screen readers, and the tooltip on hover/tap
        'tip': [f'sim-02, switch: error — {why}'],
    }
    assert cell_view(browser.user, run, 2, 'sim-02')['texts'] == ['skipped']  # follows the failure: no cause
    assert causes_listed(browser.user, run) == [f'sim-02 | switch | {why}']


async def test_an_already_current_stage_is_shown_apart_from_failures_and_skips(ui_server: UiServer) -> None:
    clock = ui_server.dashboard.clock
    current = {'status': 'SKIPPED', 'code': 'already_current', 'message': 'Git is already up to date; nothing to pull'}
    offline = {'status': 'BLOCKED', 'code': 'host_offline', 'message': 'web-02 is offline', 'exit_code': None}
    done = {'status': 'SUCCESS', 'code': None, 'message': '', 'exit_code': 0}
    skipped = {'status': 'SKIPPED', 'code': None, 'message': 'left the pipeline at pull', 'exit_code': None}
    old = PipelineRun(
        id='p-mixed',
        name='do-all',
        ops=['pull', 'switch'],
        hosts=['web-01', 'web-02'],
        actor='user',
        created_at=clock() - 86400,
        status=PipelineStatus.PARTIAL,
        finished_at=clock() - 86300,
        host_state={'web-01': {'state': 'done'}, 'web-02': {'state': 'failed', 'stage': 0}},
        cells={'0:web-01': current, '1:web-01': done, '0:web-02': offline, '1:web-02': skipped},
    )
    await ui_server.dashboard.store.write(save_run(old))
    user = await ui_server.user()
    await user.open('/pipelines')
    await user.should_see(marker='pipelines-older')
    user.find(marker='pipelines-older').click()
    await eventually(lambda: run_status(user, 'p-mixed') == 'partial')

    shown = cell_view(user, 'p-mixed', 0, 'web-01')
    assert shown['tone'] == 't-current' and shown['texts'] == ['already current']  # muted, not red, no cause badge
    assert shown['label'] == f'web-01, pull: already current — {current["message"]}'
    assert cell_view(user, 'p-mixed', 0, 'web-02')['texts'] == [
        'blocked',
        'host_offline — web-02 is offline',
    ]  # code and message (issue 18)
    assert cell_view(user, 'p-mixed', 1, 'web-02')['tone'] == 't-muted'
    assert causes_listed(user, 'p-mixed') == ['web-02 | pull | host_offline — web-02 is offline']  # failures only
