"""The dashboard's actions in a real browser: selection (shift-range, tri-state, Ctrl+A, Esc), the fleet-wide Do All
with its confirmation, the row menu, the mobile layout at 390 x 844 with every action in reach, and rows that never
move while heartbeats arrive.

Fake agents (the Go agent's protocol) connect to `nixfleet serve` in its own process (tests/e2e/conftest.py).
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.e2e.conftest import (
    BROWSER_TESTS,
    AgentFactory,
    DashboardProcess,
    dashboard_tab,
    online_hosts,
    row,
)
from tests.support import expect_command

pytestmark = BROWSER_TESTS


async def checked(page: Page) -> list[str]:
    """Hosts whose row checkbox is ticked, in table order."""
    return await page.eval_on_selector_all(
        '.nf-row', "rows => rows.filter(r => r.querySelector('.nf-check[aria-checked=true]')).map(r => r.dataset.host)"
    )


async def test_shift_click_selects_a_range_ctrl_a_all_and_escape_none(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    hosts = [f'sel-{i:02d}' for i in range(1, 7)]
    await online_hosts(agents, *hosts)
    tab = await dashboard_tab(dashboard_process, browser, hosts)
    page = tab.page
    header = page.locator('.nf-thead .nf-check')
    selection = page.locator('.nf-ctx-row.is-selection')

    await page.locator(f'{row("sel-02")} .nf-check').click()
    await page.locator(f'{row("sel-05")} .nf-check').click(modifiers=['Shift'])
    assert await checked(page) == ['sel-02', 'sel-03', 'sel-04', 'sel-05']
    await expect(header).to_have_attribute('aria-checked', 'mixed')
    await expect(selection).to_contain_text('4 hosts selected')

    await page.locator(f'{row("sel-03")} .nf-check').click()  # a plain click toggles one row and moves the anchor
    await page.locator(f'{row("sel-01")} .nf-check').click(modifiers=['Shift'])  # anchor sel-03 is off: range off
    assert await checked(page) == ['sel-04', 'sel-05']

    await page.locator('body').click(position={'x': 5, 'y': 300})
    await page.keyboard.press('Control+a')
    assert await checked(page) == hosts
    await expect(header).to_have_attribute('aria-checked', 'true')
    await expect(selection).to_contain_text('6 hosts selected')

    await page.keyboard.press('Escape')
    assert await checked(page) == []
    await expect(header).to_have_attribute('aria-checked', 'false')
    await expect(selection).to_contain_text('No hosts selected')

    await header.click()  # tri-state header: none → all
    assert await checked(page) == hosts
    await header.click()  # all → none
    assert await checked(page) == []

    await page.get_by_label('Filter hosts').fill('sel-01')
    await page.keyboard.press('Tab')
    await page.keyboard.press('Control+a')  # Ctrl+A selects what the filter shows
    assert await checked(page) == ['sel-01']
    assert tab.errors == []


async def test_do_all_from_the_fleet_menu_asks_then_runs_on_the_online_hosts(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    made = await online_hosts(agents, 'web-01', 'web-02')
    gone = await agents('old-01')
    await gone.close()
    tab = await dashboard_tab(dashboard_process, browser, ['web-01', 'web-02'])
    page = tab.page
    await page.wait_for_selector(f'{row("old-01")}[data-conn="offline"]')

    await page.get_by_role('button', name='Fleet actions').click()
    await page.get_by_role('menuitem').filter(has_text='Do All').click()
    dialog = page.get_by_role('dialog')
    await expect(dialog).to_contain_text('Do All on 2 online hosts?')
    await expect(dialog).to_contain_text('web-01')
    await dialog.get_by_role('button', name='Cancel').click()
    await expect(dialog).to_have_count(0)

    await page.get_by_role('button', name='Fleet actions').click()
    await page.get_by_role('menuitem').filter(has_text='Do All').click()
    await page.get_by_role('dialog').get_by_role('button', name='Do All on 2').click()

    assert await expect_command(made['web-01']) == 'pull'
    assert await expect_command(made['web-02']) == 'pull'
    await expect(page.locator('.q-notification').filter(has_text='Do All started on 2 hosts')).to_be_visible()
    runs = await (await page.request.get(f'{dashboard_process.http}/api/pipelines')).json()
    runs = runs.get('pipelines', runs) if isinstance(runs, dict) else runs
    assert [sorted(r['hosts']) for r in runs] == [['web-01', 'web-02']]  # the cancelled one never started
    await expect(page.locator(f'{row("web-01")} .nf-job-op')).to_have_text('Pull')  # live progress in the row
    assert tab.errors == []


async def test_row_menu_is_enabled_from_available_ops_and_navigable_by_keyboard(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    made = await online_hosts(agents, 'web-01')
    tab = await dashboard_tab(dashboard_process, browser, ['web-01'])
    page = tab.page

    await page.get_by_role('button', name='Actions for web-01').click()
    menu = page.get_by_role('menu', name='Actions for web-01')
    await expect(menu).to_be_visible()
    await expect(menu.get_by_role('menuitem', name='Stop')).to_be_disabled()  # nothing runs
    await expect(menu.get_by_role('menuitem', name='Remove…')).to_be_disabled()  # online
    await expect(menu.get_by_role('menuitem', name='Test')).to_be_enabled()
    await expect(menu.get_by_role('menuitem', name='Pull', exact=True)).to_be_focused()
    await page.keyboard.press('ArrowDown')
    await page.keyboard.press('ArrowDown')
    await expect(menu.get_by_role('menuitem', name='Test')).to_be_focused()
    await page.keyboard.press('Escape')
    await expect(menu).to_have_count(0)
    await expect(page.get_by_role('button', name='Actions for web-01')).to_be_focused()

    await page.get_by_role('button', name='Actions for web-01').click()
    await page.get_by_role('menuitem', name='Test').click()
    assert await expect_command(made['web-01']) == 'test'
    await expect(page.locator(f'{row("web-01")} .nf-job-op')).to_have_text('Test')
    await page.get_by_role('button', name='Actions for web-01').click()
    await expect(page.get_by_role('menuitem', name='Stop')).to_be_enabled()  # now it runs
    await expect(page.get_by_role('menuitem', name='Pull', exact=True)).to_be_disabled()
    assert tab.errors == []


async def test_every_action_is_within_reach_at_390_px(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    made = await online_hosts(agents, 'phone-01', 'a-very-long-hostname-that-would-not-fit-on-a-phone-01', 'web-03')
    tab = await dashboard_tab(dashboard_process, browser, ['phone-01', 'web-03'], width=390, height=844)
    page = tab.page

    async def in_view(locator: Any) -> None:
        await expect(locator).to_be_visible()
        box = await locator.bounding_box()
        assert box is not None and box['x'] >= 0 and box['x'] + box['width'] <= 390, box

    assert await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth')
    card = page.locator(row('phone-01'))
    for chip in ('agent', 'git', 'lock', 'system', 'tests'):
        await in_view(card.locator(f'.nf-comp[data-comp={chip}]'))
    long_row = page.locator(row('a-very-long-hostname-that-would-not-fit-on-a-phone-01'))
    await in_view(long_row.get_by_role('button', name='Actions for a-very-long'))
    await in_view(page.get_by_role('button', name='Fleet actions'))
    await in_view(page.get_by_role('button', name='Log out'))

    await in_view(card.get_by_role('button', name='Actions for phone-01'))
    await card.get_by_role('button', name='Actions for phone-01').click()
    menu = page.get_by_role('menu', name='Actions for phone-01')
    for item in await menu.get_by_role('menuitem').all():
        await in_view(item)
    await menu.get_by_role('menuitem', name='Test').click()
    assert await expect_command(made['phone-01']) == 'test'

    await card.get_by_role('checkbox', name='Select phone-01').click()
    await page.get_by_role('checkbox', name='Select web-03').click()
    for name in ('Pull', 'Switch', 'Test', 'Do All'):
        await in_view(page.locator('.nf-ctx-row.is-selection').get_by_role('button', name=name, exact=True))

    await page.get_by_role('button', name='Fleet actions').click()
    for item in await page.get_by_role('menuitem').all():
        await in_view(item)
    assert await page.evaluate('document.documentElement.scrollWidth <= document.documentElement.clientWidth')
    assert tab.errors == []


async def test_heartbeats_move_nothing_on_the_page(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    made = await online_hosts(agents, 'beat-01', 'beat-02', 'beat-03')
    tab = await dashboard_tab(dashboard_process, browser, ['beat-01', 'beat-02', 'beat-03'])
    page = tab.page
    beat = row('beat-02')
    watched = ', '.join([beat, f'{beat} .nf-td', row('beat-03'), '.nf-context', '.nf-header-inner', '.nf-host-table'])
    boxes = f"""() => [...document.querySelectorAll('{watched}')]
        .map(el => {{ const r = el.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }})"""
    before = await page.evaluate(boxes)

    for i, (cpu, ram, load) in enumerate([(3, 9, 0.1), (99.9, 100, 12.5), (100, 5, 0.0), (42, 77.7, 3.33), (7, 81, 1)]):
        for agent in made.values():
            await agent.heartbeat(metrics={'cpu': cpu, 'ram': ram, 'swap': i * 10, 'load': load})
        cell = f'{row("beat-02")} div.c-cpu'
        await page.wait_for_function(
            f"document.querySelector('{cell}')?.innerText.trim() === '{round(cpu)}%'", timeout=5000
        )
        assert await page.evaluate(boxes) == before, f'layout moved after heartbeat {i + 1}'
    assert tab.errors == []


async def test_ctrl_digit_switches_the_output_tab(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    await online_hosts(agents, 'web-01')
    tab = await dashboard_tab(dashboard_process, browser, ['web-01'])
    page = tab.page
    await page.get_by_role('button', name='Actions for web-01').click()
    await page.get_by_role('menuitem', name='View output').click()
    selected = page.get_by_role('tab', selected=True)
    await expect(selected).to_contain_text('web-01')

    await page.locator('body').click(position={'x': 5, 'y': 300})
    await page.keyboard.press('Control+1')
    await expect(selected).not_to_contain_text('web-01')
    await page.keyboard.press('Control+2')
    await expect(selected).to_contain_text('web-01')
    assert tab.errors == []


async def test_every_button_of_the_actions_has_an_accessible_name(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    await online_hosts(agents, 'web-01')
    tab = await dashboard_tab(dashboard_process, browser, ['web-01'])
    page = tab.page
    await page.get_by_role('checkbox', name='Select web-01').click()
    await page.get_by_role('button', name='Actions for web-01').click()
    unnamed = """() => [...document.querySelectorAll(
        '.nf-header button, .nf-context button, .nf-host-table button, .nf-rowmenu button')]
        .filter(b => !(b.getAttribute('aria-label') || b.innerText.trim()))
        .map(b => b.outerHTML.slice(0, 160))"""
    assert await page.evaluate(unnamed) == []
    assert tab.errors == []
