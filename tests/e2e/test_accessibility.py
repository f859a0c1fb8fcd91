"""axe-core in the browser: no serious or critical accessibility violation (WCAG 2.2 AA contrast, names, roles,
landmarks) on any view or dialog, at 1440x900 and at 390x844, in `nixfleet demo` (simulated hosts, version tracking,
a pending PR, commands in the history).

axe-core comes with `axe-playwright-python` (its axe.min.js is injected into the page: nothing is downloaded). No
rule is switched off. With a dialog open, axe checks the dialog: the page behind it is modal (aria-modal), dimmed on
purpose, and was checked on its own. Screenshots of every checked state go to tmp_path (NIXFLEET_A11Y_SHOTS=dir
keeps them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.axe_audit import Audit
from tests.e2e.conftest import BROWSER_TESTS, BrowserTab, DashboardProcess, api, open_tab, run_demo, wait_connected

pytestmark = [*BROWSER_TESTS, pytest.mark.slow]

PASSWORD = 'demo-accessibility'
HOSTS = 8
SIZES = {'desktop': (1440, 900), 'phone': (390, 844)}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DashboardProcess]:
    """The demo with 8 hosts (one commit behind their config, a pending PR), its repo not moving by itself."""
    env = {
        'NIXFLEET_DEMO_PASSWORD': PASSWORD,
        'NIXFLEET_DEMO_ADVANCE_EVERY': '1h',
        'NIXFLEET_SIM_SPEED': '5',
        'NIXFLEET_SIM_SLOW': 'test:1000',  # a run is still testing while its Cancel confirmation is checked
    }
    with run_demo(tmp_path, HOSTS, env) as running:
        yield running


async def dialog_open(page: Page, text: str) -> Locator:
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text(text)
    return dialog


async def close(page: Page, dialog: Locator, button: str = 'Cancel') -> None:
    await dialog.get_by_role('button', name=button, exact=True).click()
    await expect(dialog).to_have_count(0)


async def log_in(tab: BrowserTab, base: str, audit: Audit) -> None:
    page = tab.page
    await page.goto(f'{base}/')
    await page.wait_for_url('**/login**')
    await audit.check('login')
    await page.get_by_label('Password').fill('not the password')
    await page.get_by_role('button', name='Log in').click()
    await expect(page.get_by_role('alert')).to_contain_text('Wrong password')
    await audit.check('login-error')
    await page.get_by_label('Password').fill(PASSWORD)
    await page.get_by_role('button', name='Log in').click()
    await page.wait_for_selector('.nf-host-table[data-version]')
    await wait_connected(page)
    await expect(page.locator('.nf-th-count')).to_have_text(f'{HOSTS}/{HOSTS} Hosts')


async def hosts_view(page: Page, audit: Audit, phone: bool) -> None:
    """The table, the fleet menu and its confirmation, the row menu and its dialogs, a selection and a refusal."""
    await audit.check('hosts')
    await page.get_by_role('button', name='Fleet actions').click()
    await expect(page.get_by_role('menu', name='Fleet actions')).to_be_visible()
    await audit.check('fleet-menu')
    await page.get_by_role('menuitem', name='Do All').click()
    dialog = await dialog_open(page, 'Do All on')
    await audit.check('dialog-confirm')
    await close(page, dialog)

    reboot = ('Reboot…', 'Reboot atlas', 'dialog-reboot', 'Close')  # no TOTP configured: it says so, and why
    for item, text, state, button in (('Change colour…', 'Colour of', 'dialog-colour', 'Cancel'), reboot):
        await page.get_by_role('button', name='Actions for atlas').click()
        await expect(page.get_by_role('menuitem', name=item)).to_be_visible()
        if state == 'dialog-colour':
            await audit.check('row-menu')
        await page.get_by_role('menuitem', name=item).click()
        dialog = await dialog_open(page, text)
        await audit.check(state)
        await close(page, dialog, button)

    await page.get_by_role('checkbox', name='Select atlas').click()
    selection = page.locator('.nf-ctx-row.is-selection')
    await expect(selection).to_contain_text('1 host selected')
    await audit.check('selection')
    await selection.get_by_role('button', name='Switch', exact=True).click()
    dialog = await dialog_open(page, 'git_outdated')  # the demo's hosts start one commit behind their config
    await audit.check('dialog-refused')
    await close(page, dialog)
    await selection.get_by_role('button', name='Clear selection').click()

    if phone:  # the panel starts as a bar on a phone: open a host's output in it
        await page.get_by_role('button', name='Actions for atlas').click()
        await page.get_by_role('menuitem', name='View output').click()
        await expect(page.locator('.nf-output')).to_have_attribute('data-collapsed', 'false')
        await audit.check('output')


async def other_views(page: Page, base: str, audit: Audit) -> None:
    """Pipelines (a run and its Cancel confirmation), History (its rows and a command's log), a host's page and
    Tokens (its three dialogs)."""
    started = await api(page, base, 'POST', '/api/dispatch/pipeline', {'pipeline': 'do-all', 'hosts': ['hyperion']})
    await page.get_by_role('link', name='Pipelines').click()
    run = page.locator(f'.nf-run[data-run="{started["pipeline"]["id"]}"]')
    testing = run.locator('.nf-cell[data-stage="2"]')  # pulled and switched: testing (slowly, see `demo`)
    await expect(testing).to_have_class('nf-cell t-running', timeout=40_000)
    await run.get_by_role('button', name='Cancel').click()
    dialog = await dialog_open(page, 'Cancel Do All on hyperion?')
    await audit.check('dialog-cancel-run')
    await close(page, dialog, 'Cancel run')
    await expect(run.locator('.nf-sbadge')).to_have_text('cancelling…')
    await audit.check('pipelines')

    await page.get_by_role('link', name='History').click()
    view = page.get_by_role('button', name='View the log of pull on hyperion')
    await view.click()
    dialog = await dialog_open(page, 'pull on hyperion')
    await expect(dialog.locator('.nf-output-body')).to_contain_text('Command: ')
    await audit.check('dialog-log')
    await close(page, dialog, 'Close')
    await audit.check('history')

    await page.goto(f'{base}/hosts/hyperion')
    await expect(page.get_by_role('heading', name='hyperion')).to_be_visible()
    await expect(page.locator('[data-command]').first).to_be_visible()  # its commands, read from the journal
    await audit.check('host')

    await page.get_by_role('link', name='Tokens').click()
    await expect(page.locator('.nf-tokens .nf-card-title')).to_have_text('Tokens')
    await audit.check('tokens')
    await page.get_by_role('button', name='New API token').click()
    dialog = await dialog_open(page, 'New API token')
    await audit.check('dialog-token')
    await dialog.get_by_label('Name').fill('grafana')
    await dialog.get_by_role('button', name='Create').click()
    await expect(dialog).to_contain_text('shown only this once')
    await audit.check('dialog-token-created')
    await close(page, dialog, 'Done')
    row = page.locator('.nf-hrow.is-tokens').filter(has=page.locator('.nf-tsubject', has_text='grafana'))
    await row.get_by_role('button', name='Revoke').click()
    dialog = await dialog_open(page, 'Revoke')
    await audit.check('dialog-revoke')
    await close(page, dialog)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the pictures of the checked states go."""
    where = Path(os.environ.get('NIXFLEET_A11Y_SHOTS') or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.mark.timeout(420)  # 20 axe runs, each seconds long on the full host table
@pytest.mark.parametrize('size', list(SIZES))
async def test_no_serious_accessibility_violation_on_any_view_or_dialog(
    demo: DashboardProcess, browser: Browser, shots: Path, size: str, record_property: Any
) -> None:
    width, height = SIZES[size]
    tab = await open_tab(browser, width=width, height=height)
    audit = Audit(tab.page, size, shots)
    await log_in(tab, demo.http, audit)
    await hosts_view(tab.page, audit, phone=size == 'phone')
    await other_views(tab.page, demo.http, audit)
    record_property('axe_runs', audit.checked)  # each state with the seconds axe took
    record_property('axe_second_opinions', audit.second_opinions)  # axe findings the painted layers overruled
    assert len(audit.checked) == 19 + (size == 'phone'), audit.checked
    assert audit.findings == [], '\n'.join([*audit.findings, 'overruled:', *audit.second_opinions])
    assert tab.errors == []
