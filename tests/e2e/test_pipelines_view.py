"""The Pipelines view in a real browser: the grid follows a run live; Retry failed re-runs exactly the failed hosts."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from nixfleet.agent import SimBehaviour
from tests.e2e.conftest import BROWSER_TESTS, DashboardProcess, api, log_in, open_tab, simulated_fleet

pytestmark = BROWSER_TESTS

SPEED = 10.0


def run(run_id: str) -> str:
    return f'.nf-run[data-run="{run_id}"]'


def cell(run_id: str, stage: int, host: str) -> str:
    return f'{run(run_id)} .nf-grid-row[data-host="{host}"] .nf-cell[data-stage="{stage}"]'


async def test_grid_updates_live_and_retry_failed_starts_a_run_with_exactly_the_failed_hosts(
    dashboard_process: DashboardProcess, browser: Browser
) -> None:
    flaky = {'sim-02': SimBehaviour(speed=SPEED, fail_ops={'switch'})}
    async with simulated_fleet(dashboard_process, 3, speed=SPEED, behaviours=flaky) as hosts:
        tab = await open_tab(browser)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        await page.get_by_role('link', name='Pipelines').click()
        await page.wait_for_url('**/pipelines')
        await expect(page.get_by_text('No pipeline runs yet')).to_be_visible()
        await page.evaluate("window.__nfSamePage = 'marker'")

        started = await api(
            page, dashboard_process.http, 'POST', '/api/dispatch/pipeline', {'pipeline': 'do-all', 'hosts': hosts}
        )
        rid = started['pipeline']['id']
        await expect(page.locator(run(rid))).to_have_attribute('data-status', 'RUNNING')
        # cells move through their states on screen: running, then their outcome
        switching = f'{cell(rid, 1, "sim-01")}[data-status="EXECUTING"], {cell(rid, 1, "sim-01")}.t-running'
        await expect(page.locator(switching).first).to_be_visible()
        await expect(page.locator(run(rid))).to_have_attribute('data-status', 'PARTIAL', timeout=20000)
        for host in ('sim-01', 'sim-03'):
            await expect(page.locator(cell(rid, 2, host))).to_have_attribute('data-status', 'SUCCESS')
        await expect(page.locator(cell(rid, 1, 'sim-02'))).to_have_attribute('data-status', 'ERROR')
        await expect(page.locator(cell(rid, 2, 'sim-02'))).to_have_attribute('data-status', 'SKIPPED')
        await expect(page.locator(f'{run(rid)} .nf-run-counts')).to_have_text('2 completed · 1 failed')

        await page.locator(run(rid)).get_by_role('button', name='Retry 1 failed').click()
        await expect(page.get_by_text('Retrying do-all on 1 host: sim-02')).to_be_visible()
        retry = page.locator('.nf-run').first  # the newest run is on top
        await expect(retry).not_to_have_attribute('data-run', rid)
        assert await retry.locator('.nf-grid-row[data-host]').evaluate_all('rows => rows.map(r => r.dataset.host)') == [
            'sim-02'
        ]
        await expect(retry.locator('.nf-run-retry')).to_contain_text('retry of run')
        await expect(retry).to_have_attribute('data-status', 'FAILED', timeout=20000)  # its switch still fails
        assert await page.evaluate('window.__nfSamePage') == 'marker'  # all of it live, no reload
        assert tab.errors == []
