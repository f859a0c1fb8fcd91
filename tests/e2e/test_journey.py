"""One user's journey through the dashboard in a real browser, as issue 5's acceptance line reads: log in with
password and TOTP, select three hosts, Do All on them, watch a host's output stream, see the pipeline grid finish,
reboot with a wrong then a right TOTP code, remove an offline host, and change a host's colour.

The dashboard is `nixfleet serve` in its own process (TOTP configured); three simulated agents (the real agent code
with simulated tools, 10x faster) and one fake agent that goes away connect to it (tests/e2e/conftest.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from nixfleet.agent import SimBehaviour
from tests.e2e.axe_audit import Audit
from tests.e2e.conftest import (
    BROWSER_TESTS,
    AgentFactory,
    DashboardProcess,
    log_in,
    open_tab,
    row,
    simulated_fleet,
    until_idle,
)
from tests.support import eventually

pytestmark = BROWSER_TESTS

TOTP_SECRET = pyotp.random_base32()
TOTP = pyotp.TOTP(TOTP_SECRET)
#: Simulated durations are divided by this.
SPEED = 10.0
#: The host whose output the journey watches: its switch takes 5-15 s, so a loaded machine still sees lines arrive.
WATCHED = 'sim-02'
#: Tokyo Night yellow, as the colour picker's hex field takes it, and as the browser computes it.
NEW_COLOUR = ('#e0af68', 'rgb(224, 175, 104)')
#: An element's text colour as the browser paints it, `rgb(r, g, b)` (any CSS colour, read back from a canvas).
PAINTED_RGB = """(e) => {
  const c = document.createElement('canvas').getContext('2d');
  c.fillStyle = getComputedStyle(e).color;
  c.fillRect(0, 0, 1, 1);
  const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
  return `rgb(${r}, ${g}, ${b})`;
}"""


async def painted_as(element: Locator, rgb: str) -> bool:
    return bool(await element.evaluate(PAINTED_RGB) == rgb)


def wrong_code() -> str:
    """A six-digit code that no step around the login's or the reboot's has."""
    now = time.time()
    valid = {TOTP.at(now + offset * 30) for offset in range(-1, 3)}
    return next(code for code in ('000000', '111111', '222222', '333333') if code not in valid)


async def row_menu(page: Page, host: str, item: str) -> None:
    """Open a host's row menu and choose `item`."""
    await page.get_by_role('button', name=f'Actions for {host}').click()
    await page.get_by_role('menu', name=f'Actions for {host}').get_by_role('menuitem', name=item).click()


@pytest.mark.parametrize('dashboard_process', [{'NIXFLEET_TOTP_SECRET': TOTP_SECRET}], indirect=True)
async def test_a_users_journey_from_login_to_a_new_colour(
    dashboard_process: DashboardProcess, browser: Browser, agents: AgentFactory, tmp_path: Path
) -> None:
    base = dashboard_process.http
    slow_switch = {WATCHED: SimBehaviour(speed=SPEED, slow_ops={'switch': 10.0})}
    gone = await agents('old-01')
    await gone.heartbeat()
    async with simulated_fleet(
        dashboard_process, 3, speed=SPEED, behaviours=slow_switch, wait=False, behind=True
    ) as hosts:
        tab = await open_tab(browser)
        page = tab.page
        audit = Audit(page, 'desktop', tmp_path)  # axe-core on the states only TOTP brings (issue 18)
        await page.goto(f'{base}/login')
        await audit.check('login-totp')

        # log in: password and (configured here) the current step's TOTP code (still good if the step ends on the way);
        # the reboot types the next step's, as a code works once
        await log_in(tab, base, totp=TOTP.at(time.time()))
        await until_idle(dashboard_process, hosts, page=page)
        for host in hosts:
            await expect(page.locator(f'{row(host)}[data-conn="online"]')).to_be_visible()

        # the agent of old-01 stops: its row goes offline
        await gone.close()
        await expect(page.locator(f'{row("old-01")}[data-conn="offline"]')).to_be_visible(timeout=10000)

        # select the three simulated hosts and run Do All on the selection
        for host in hosts:
            await page.get_by_role('checkbox', name=f'Select {host}').click()
        selection = page.locator('.nf-ctx-row.is-selection')
        await expect(selection).to_contain_text('3 hosts selected')
        await selection.get_by_role('button', name='Do All', exact=True).click()
        await expect(page.locator('.q-notification').filter(has_text='Do All started on 3 hosts')).to_be_visible()
        for host in hosts:
            await expect(page.locator(f'{row(host)} .nf-job-op')).to_be_visible()  # live progress in each row

        # the watched host's tab opens by itself; its switch streams into it while the tab shows it running
        chip = page.locator(f'.nf-otab-wrap[data-tab="{WATCHED}"]')
        await chip.locator('.nf-otab').click()
        await expect(page.locator('.nf-output')).to_have_attribute('data-active', WATCHED)
        body = page.locator('.nf-output-body')
        # one look at both: the build's lines are in the tab while its dot says running
        # (two looks may straddle the end)
        await page.wait_for_function(
            """([tab]) => {
                const body = document.querySelector('.nf-output-body');
                const dot = document.querySelector(`.nf-otab-wrap[data-tab="${tab}"] .nf-otab-dot`);
                return body?.textContent.includes("building '/nix/store/") && dot?.classList.contains('t-running');
            }""",
            arg=[WATCHED],
            timeout=10000,
        )
        shown = await body.locator('.nf-ol').count()
        await expect(body.locator('.nf-ol')).not_to_have_count(shown)  # more lines arrive while it runs
        await expect(chip.locator('.nf-otab-dot')).to_have_class(re.compile(r'\bt-running\b'))

        # the Pipelines view shows the run's grid and follows it until every cell succeeded
        await page.get_by_role('link', name='Pipelines').click()
        await page.wait_for_url('**/pipelines')
        run = page.locator('.nf-run').first
        await expect(run.locator('.nf-grid-row[data-host]')).to_have_count(3)
        await expect(run).to_have_attribute('data-status', 'COMPLETE', timeout=30000)
        cells = run.locator('.nf-grid-row[data-host] .nf-cell')
        await expect(cells).to_have_count(9)  # three hosts, three stages
        statuses = await cells.evaluate_all(
            'cells => cells.map(c => [c.closest(".nf-grid-row").dataset.host, c.dataset.stage, c.dataset.status])'
        )
        assert {status for *_, status in statuses} == {'SUCCESS'}, statuses
        await expect(run.locator('.nf-run-counts')).to_have_text('3 completed · 0 failed')
        await expect(chip.locator('.nf-otab-dot')).to_have_class(re.compile(r'\bt-ok\b'))

        # reboot sim-03: a wrong TOTP code is refused in the dialog and nothing is sent; the right one reboots it
        await page.get_by_role('link', name='Hosts').click()
        await page.wait_for_url(f'{base}/')
        target = 'sim-03'
        await row_menu(page, target, 'Reboot…')
        dialog = page.get_by_role('dialog')
        await expect(dialog).to_contain_text(f'This reboots {target} immediately')
        await dialog.get_by_label('TOTP code').fill(wrong_code())
        await dialog.get_by_role('button', name='Reboot').click()
        await expect(dialog.get_by_role('alert')).to_contain_text('wrong TOTP code')
        await expect(dialog).to_be_visible()
        await audit.check('dialog-reboot-totp')
        assert audit.findings == [], '\n'.join(audit.findings)
        await expect(page.locator(f'{row(target)} .nf-job-op')).to_have_count(0)  # nothing runs on it
        await expect(page.locator(f'{row(target)}[data-conn="online"]')).to_be_visible()
        await dialog.get_by_label('TOTP code').fill(TOTP.at(time.time() + 30))
        await dialog.get_by_role('button', name='Reboot').click()
        await expect(dialog).to_have_count(0)
        await expect(page.locator('.q-notification').filter(has_text=f'Reboot started on {target}')).to_be_visible()
        await expect(page.locator(f'{row(target)}[data-conn="offline"]')).to_be_visible(timeout=10000)  # going down
        await expect(page.locator(f'{row(target)}[data-conn="online"]')).to_be_visible(timeout=20000)  # and back

        # remove the offline host from its row menu, after the confirmation
        await row_menu(page, 'old-01', 'Remove…')
        dialog = page.get_by_role('dialog')
        await expect(dialog).to_contain_text('Remove old-01?')
        await dialog.get_by_role('button', name='Remove').click()
        await expect(page.locator(row('old-01'))).to_have_count(0)
        await expect(page.locator('.nf-row')).to_have_count(3)

        # change sim-01's colour with the picker: the host name shows it, and still does after a reload
        await row_menu(page, 'sim-01', 'Change colour…')
        dialog = page.get_by_role('dialog')
        await dialog.get_by_label('Hex colour').fill(NEW_COLOUR[0])
        await dialog.get_by_role('button', name='Apply').click()
        await expect(dialog).to_have_count(0)
        name = page.locator(f'{row("sim-01")} .nf-hostname')
        # as painted (the stylesheet lightens a host colour too dark to read, so the computed value is an oklch())
        await eventually(lambda: painted_as(name, NEW_COLOUR[1]))
        await page.reload()
        await page.wait_for_selector('.nf-host-table[data-version]')
        await eventually(lambda: painted_as(name, NEW_COLOUR[1]))
        await expect(page.locator(row('old-01'))).to_have_count(0)

        assert await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth')
        assert tab.errors == []
