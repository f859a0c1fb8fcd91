"""A failed test in a pipeline, in a real browser (issue 18's acceptance): the toast, the host's row, the grid cell and
the History row show the exit code and the last error line; the toast's "Show output" and a click on the cell open
that output in the panel. And the one confirmation dialog works from the keyboard: the focus moves into it, Escape
cancels and gives the focus back, Enter confirms.

The pictures go to tmp_path (they are looked at, not compared).
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from nixfleet.agent import SimBehaviour
from tests.e2e.conftest import BROWSER_TESTS, DashboardProcess, do_all_on, log_in, open_tab, row, simulated_fleet

pytestmark = BROWSER_TESTS

SPEED = 10.0
LINE = 'T05 FAIL: expected ok, got timeout'  # the simulated test's failing line (nixfleet.agent.sim_tools)
WHY = f'exit 1 — {LINE}'
LOG_CHIP = '.nf-otab-wrap[data-tab=":log"]'


async def shows_output_of(page: Page, host: str) -> None:
    """The output panel is open on `host`'s tab and shows the failing test's line."""
    panel = page.locator('.nf-output')
    await expect(panel).to_have_attribute('data-active', host)
    await expect(page.locator('.nf-output-body .nf-ol.k-err', has_text=LINE)).to_be_visible()


async def test_a_failed_test_in_a_pipeline_says_why_everywhere_and_opens_its_output(
    dashboard_process: DashboardProcess, browser: Browser, tmp_path: Path
) -> None:
    failing = {'sim-02': SimBehaviour(speed=SPEED, fail_ops={'test'})}
    async with simulated_fleet(dashboard_process, 2, speed=SPEED, behaviours=failing) as hosts:
        tab = await open_tab(browser, width=1440, height=900)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        await do_all_on(page, hosts)

        toast = page.locator('.nf-toast.is-warning', has_text='finished with failures')
        await expect(toast).to_contain_text(f'sim-02 · test: {WHY}', timeout=30_000)
        lastfail = page.locator(f'{row("sim-02")} .nf-lastfail')
        await expect(lastfail).to_contain_text('Test failed')
        await expect(lastfail).to_contain_text(WHY)
        await expect(page.locator('.nf-output')).to_have_attribute('data-active', 'sim-01')  # the first host's
        await page.mouse.move(0, 0)
        await page.wait_for_timeout(600)  # the toast's slide-in, for the picture
        await page.screenshot(path=tmp_path / 'failed-toast-1440.png')
        await toast.get_by_role('button', name='Show the output of sim-02').click()
        await shows_output_of(page, 'sim-02')
        await page.screenshot(path=tmp_path / 'toast-output-1440.png')

        await page.get_by_role('link', name='Pipelines').click()
        await page.wait_for_url('**/pipelines')
        cell = page.locator('.nf-run').first.locator('.nf-grid-row[data-host="sim-02"] .nf-cell[data-stage="2"]')
        await expect(cell.locator('.nf-cell-why')).to_have_text(WHY)
        await page.locator(f'{LOG_CHIP} .nf-otab').click()
        await expect(page.locator('.nf-output')).to_have_attribute('data-active', ':log')
        await cell.click()
        await shows_output_of(page, 'sim-02')
        await page.mouse.move(0, 0)
        await page.screenshot(path=tmp_path / 'grid-1440.png')

        await page.get_by_role('link', name='History').click()
        await page.wait_for_url('**/history**')
        cause = page.locator('.nf-hrow[data-command] .nf-hcause').first
        await expect(cause).to_have_text(f'✗{WHY}')
        await page.screenshot(path=tmp_path / 'history-1440.png')
        await cause.click()
        await expect(page.locator('.nf-ldialog-why')).to_have_text(WHY)
        await expect(page.locator('.nf-ldialog .nf-ol.k-err')).to_contain_text(LINE)
        await page.screenshot(path=tmp_path / 'history-log-1440.png')

        phone = await open_tab(browser, width=390, height=844)
        await log_in(phone, dashboard_process.http)
        await expect(phone.page.locator(f'{row("sim-02")} .nf-lastfail')).to_contain_text(WHY)
        await phone.page.get_by_role('button', name='Actions for sim-02').click()
        await phone.page.get_by_role('menuitem', name='Copy name').click()
        await expect(phone.page.locator('.q-notification.nf-toast', has_text='sim-02')).to_be_visible()
        await expect(phone.page.locator('.q-notification:not(.nf-toast)')).to_have_count(0)  # one toast style
        await phone.page.wait_for_timeout(600)  # the toast's slide-in, for the picture
        await phone.page.screenshot(path=tmp_path / 'hosts-390.png', full_page=True)
        await phone.page.goto(f'{dashboard_process.http}/history')
        await expect(phone.page.locator('.nf-hcause').first).to_have_text(f'✗{WHY}')
        await phone.page.screenshot(path=tmp_path / 'history-390.png', full_page=True)
        widths = await phone.page.evaluate(
            '[document.documentElement.scrollWidth, document.documentElement.clientWidth]'
        )
        assert widths[0] <= widths[1], widths
        assert tab.errors == [] and phone.errors == []


async def test_the_confirmation_dialog_works_from_the_keyboard(
    dashboard_process: DashboardProcess, browser: Browser, tmp_path: Path
) -> None:
    slow = {'sim-01': SimBehaviour(speed=SPEED, slow_ops={'pull': 10_000})}  # the run outlasts the test
    async with simulated_fleet(dashboard_process, 1, speed=SPEED, behaviours=slow) as hosts:
        tab = await open_tab(browser, width=1440, height=900)
        page = tab.page
        await log_in(tab, dashboard_process.http)
        await page.locator(f'{row(hosts[0])} .nf-check').click()
        await page.locator('.nf-ctx-row.is-selection').get_by_role('button', name='Do All').click()
        await page.get_by_role('link', name='Pipelines').click()
        await page.wait_for_url('**/pipelines')
        cancel = page.locator('.nf-run').first.get_by_role('button', name='Cancel')
        await cancel.focus()

        await page.keyboard.press('Enter')
        dialog = page.get_by_role('dialog')
        await expect(dialog).to_contain_text('Cancel Do All on sim-01?')
        await expect(dialog.get_by_role('button', name='Cancel run')).to_be_focused()
        await page.wait_for_timeout(400)  # the dialog's fade-in, for the picture
        await page.screenshot(path=tmp_path / 'confirm-1440.png')
        await page.keyboard.press('Escape')
        await expect(dialog).to_have_count(0)
        await expect(cancel).to_be_focused()  # the focus went back where it was
        await expect(page.locator('.nf-run').first).to_have_attribute('data-status', 'RUNNING')

        await page.keyboard.press('Enter')
        await expect(dialog.get_by_role('button', name='Cancel run')).to_be_focused()
        await page.keyboard.press('Enter')
        await expect(page.locator('.nf-run .nf-sbadge').first).to_have_text('cancelling…')
        assert tab.errors == []
