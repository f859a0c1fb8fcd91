"""Failures say why, in a real browser: the failure toast, a failed grid cell with its cause (tooltip, list of
causes), an already-current cell apart from failures and skips — at 1440 px and at 390 px.

The pictures go to tmp_path (they are looked at, not compared); the README's pictures come from test_screenshots.py.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from nixfleet.agent import SimBehaviour
from nixfleet.models import PipelineStatus
from nixfleet.ops.pipeline_store import PipelineRun
from tests.e2e.conftest import BROWSER_TESTS, DashboardProcess, do_all_on, log_in, open_tab, simulated_fleet

pytestmark = BROWSER_TESTS

SPEED = 10.0
WHY = "exit 1 — error: The option `services.sim-02.enable' does not exist."


def earlier_run(created_at: float) -> PipelineRun:
    """A finished run (two hours old: only in the journal) with an already-current, a refused and a skipped cell."""
    current = {'status': 'SKIPPED', 'code': 'already_current', 'message': 'Git is already up to date; nothing to pull'}
    done = {'status': 'SUCCESS', 'code': None, 'message': '', 'exit_code': 0}
    return PipelineRun(
        id='p-earlier',
        name='do-all',
        ops=['pull', 'switch', 'test'],
        hosts=['sim-01', 'sim-03'],
        actor='user',
        created_at=created_at,
        status=PipelineStatus.PARTIAL,
        finished_at=created_at + 40,
        host_state={'sim-01': {'state': 'done'}, 'sim-03': {'state': 'failed', 'stage': 1}},
        cells={
            '0:sim-01': current,
            '1:sim-01': {**current, 'message': 'The system is already current'},
            '2:sim-01': done,
            '0:sim-03': done,
            '1:sim-03': {'status': 'BLOCKED', 'code': 'host_offline', 'message': 'sim-03 is offline'},
            '2:sim-03': {'status': 'SKIPPED', 'code': None, 'message': 'left the pipeline at switch'},
        },
    )


def journal(dashboard: DashboardProcess, run: PipelineRun) -> None:
    """Write a run into the running dashboard's journal (WAL: its readers see it on their next read)."""
    with sqlite3.connect(dashboard.data_dir / 'nixfleet.db') as conn:
        record = run.row()
        columns = ', '.join(record)
        conn.execute(
            f'INSERT INTO pipelines ({columns}) VALUES ({", ".join("?" for _ in record)})', list(record.values())
        )


async def pipelines_page(page: Page) -> None:
    await page.get_by_role('link', name='Pipelines').click()
    await page.wait_for_url('**/pipelines')
    await page.get_by_role('button', name='Load older runs').click()
    await expect(page.locator('.nf-run[data-run="p-earlier"]')).to_have_attribute('data-status', 'PARTIAL')


async def test_failures_show_their_cause_and_already_current_is_no_failure(
    dashboard_process: DashboardProcess, browser: Browser, tmp_path: Path
) -> None:
    journal(dashboard_process, earlier_run(time.time() - 7200))
    failing = {'sim-02': SimBehaviour(speed=SPEED, fail_ops={'switch'})}
    async with simulated_fleet(dashboard_process, 3, speed=SPEED, behaviours=failing) as hosts:
        tab = await open_tab(browser, width=1440, height=900)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        await do_all_on(page, hosts)
        toast = page.locator('.nf-toast.is-warning', has_text='finished with failures')
        await expect(toast).to_contain_text(f'sim-02 · switch: {WHY}', timeout=30_000)
        await page.keyboard.press('Escape')
        await page.mouse.move(0, 0)
        await page.screenshot(path=tmp_path / 'toast-1440.png')

        await pipelines_page(page)
        live = page.locator('.nf-run').first
        failed = live.locator('.nf-grid-row[data-host="sim-02"] .nf-cell[data-stage="1"]')
        await expect(failed).to_have_attribute('aria-label', f'sim-02, switch: error — {WHY}')
        await expect(failed.locator('.nf-cell-why')).to_have_text(WHY)  # exit code and last error line (issue 18)
        await expect(live.locator('.nf-run-causes')).to_contain_text(WHY)
        current = page.locator('.nf-run[data-run="p-earlier"] .nf-grid-row[data-host="sim-01"] .nf-cell').first
        await expect(current).to_have_class('nf-cell t-current')
        await expect(current).to_have_text('✓already current')
        assert await current.evaluate('e => getComputedStyle(e).color') != await failed.evaluate(
            'e => getComputedStyle(e).color'
        )
        await page.get_by_role('button', name='Collapse the panel').click()
        await page.mouse.move(0, 0)  # away from the panel's button and its tooltip
        await failed.hover()
        # the tooltip of a cell the pointer crossed may still be fading out: look for this cell's own
        await expect(page.locator('.nf-cell-tip', has_text='sim-02, switch')).to_contain_text(WHY)
        await page.wait_for_timeout(400)  # the tooltip's fade-in
        await page.screenshot(path=tmp_path / 'grid-1440.png', full_page=True)

        phone = await open_tab(browser, width=390, height=844)
        await log_in(phone, dashboard_process.http)
        await phone.page.get_by_role('button', name='Actions for sim-02').click()
        await phone.page.get_by_role('menuitem', name='Switch', exact=True).click()
        refused = phone.page.get_by_role('dialog')
        if await refused.count():  # sim-02 is not behind: Force it
            await refused.get_by_role('button', name='Force').click()
        await expect(phone.page.locator('.nf-toast.is-negative')).to_contain_text(WHY, timeout=30_000)
        await phone.page.wait_for_timeout(600)  # the toast's slide-in
        await phone.page.screenshot(path=tmp_path / 'toast-390.png')
        await pipelines_page(phone.page)
        await expect(phone.page.locator('.nf-run-causes').first).to_contain_text(WHY)
        await phone.page.screenshot(path=tmp_path / 'grid-390.png', full_page=True)
        widths = await phone.page.evaluate(
            '[document.documentElement.scrollWidth, document.documentElement.clientWidth]'
        )
        assert widths[0] <= widths[1], widths
        assert tab.errors == [] and phone.errors == []
