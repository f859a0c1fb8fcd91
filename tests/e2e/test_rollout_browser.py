"""A rollout in the Pipelines view of a real browser (issue 19): the grid shows each host's wave and a gate column;
a host whose tests fail after its switch shows "rolled back", the next wave "waiting", and the run HALTED with why."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Browser, expect

from nixfleet.agent import SimBehaviour
from tests.e2e.conftest import BROWSER_TESTS, DashboardProcess, api, log_in, open_tab, simulated_fleet

pytestmark = BROWSER_TESTS

SPEED = 10.0
BROKEN = 'sim-03'


def gate_cell(run: str, host: str, stage: int) -> str:
    return f'{run} .nf-grid-row[data-host="{host}"] .nf-cell[data-stage="{stage}"]'


async def test_a_halted_rollout_shows_its_waves_gates_and_the_rollback(
    dashboard_process: DashboardProcess, browser: Browser, tmp_path: Path
) -> None:
    broken = {BROKEN: SimBehaviour(speed=SPEED, fail_ops={'test'})}
    async with simulated_fleet(dashboard_process, 5, speed=SPEED, behaviours=broken, behind=True) as hosts:
        tab = await open_tab(browser)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        await page.get_by_role('link', name='Pipelines').click()
        await page.wait_for_url('**/pipelines')
        body = {'pipeline': 'do-all', 'hosts': hosts, 'waves': '1,2,rest'}
        started = await api(page, dashboard_process.http, 'POST', '/api/dispatch/pipeline', body)
        run = f'.nf-run[data-run="{started["pipeline"]["id"]}"]'

        await expect(page.locator(run)).to_have_attribute('data-status', 'HALTED', timeout=30000)
        await expect(page.locator(f'{run} .nf-run-message')).to_contain_text('halted: wave 2 failed its gate')
        waves = await page.locator(f'{run} .nf-grid-row[data-host]').evaluate_all(
            'rows => rows.map(r => [r.dataset.host, r.dataset.wave])'
        )
        assert waves == [['sim-01', '1'], ['sim-02', '2'], ['sim-03', '2'], ['sim-04', '3'], ['sim-05', '3']]
        gate = 3  # after pull, switch, test
        await expect(page.locator(gate_cell(run, BROKEN, gate))).to_contain_text('rolled back')
        await expect(page.locator(gate_cell(run, BROKEN, gate))).to_have_attribute(
            'aria-label', f'{BROKEN}, gate of wave 2: rolled back — test failed (T05 FAIL: expected ok, got timeout)'
        )
        for host, words in (('sim-01', 'passed'), ('sim-02', 'passed'), ('sim-04', 'not reached')):
            await expect(page.locator(gate_cell(run, host, gate))).to_contain_text(words)
        await expect(page.locator(f'{run} .nf-grid-head')).to_contain_text('gate')
        await expect(page.locator(f'{run} .nf-run-counts')).to_have_text(
            '2 completed · 1 failed · 2 not started (halted)'
        )
        shots = Path(os.environ.get('NIXFLEET_ROLLOUT_SHOTS') or tmp_path)
        await page.locator(run).screenshot(path=shots / 'rollout-halted.png')

        # the halted run offers both ways on; continuing asks, then a new run deploys the waves it did not start
        card = page.locator(run)
        await expect(card.get_by_role('button', name='Roll back the wave')).to_be_visible()
        await card.get_by_role('button', name='Continue with the next wave').click()
        dialog = page.get_by_role('dialog')
        await expect(dialog).to_contain_text('A new run deploys the 1 wave this rollout did not start')
        await dialog.get_by_role('button', name='Continue', exact=True).click()
        await expect(page.get_by_text('Continuing do-all on 2 hosts')).to_be_visible()
        newest = page.locator('.nf-run').first
        await expect(newest).not_to_have_attribute('data-run', started['pipeline']['id'])
        await expect(newest).to_have_attribute('data-status', 'COMPLETE', timeout=30000)
        assert await newest.locator('.nf-grid-row[data-host]').evaluate_all(
            'rows => rows.map(r => r.dataset.host)'
        ) == [
            'sim-04',
            'sim-05',
        ]
