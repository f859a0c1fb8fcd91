"""The rollout options in a pipeline run's confirmation (issue 19 item 6): all at once by default, or in waves with a
failure policy and a soak; a wave spec that does not fit the hosts keeps the dialog open and says why."""

from __future__ import annotations

from tests.ui.conftest import UiServer

HOSTS = ['web-01', 'web-02', 'web-03']


async def test_do_all_runs_in_waves_when_the_confirmation_says_so(ui_server: UiServer) -> None:
    for host in HOSTS:
        await ui_server.agent(host, heartbeat={})
    browser = await ui_server.browser()

    browser.click('bulk-do-all')
    await browser.see('Do All on 3 online hosts?')
    browser.click('rollout-on')
    await browser.see(marker='rollout-waves')
    browser.user.find(marker='rollout-waves').clear().type('web-09+web-01')
    browser.click('dialog-ok')
    await browser.see('web-09 is not a target of this run')  # the dialog stays, the field says why
    assert ui_server.pipelines() == []

    browser.user.find(marker='rollout-waves').clear().type('1,rest')
    browser.user.find(marker='rollout-soak').clear().type('30')
    browser.click('dialog-ok')

    [run] = await ui_server.until(lambda: ui_server.pipelines('do-all'))
    options = run['options']
    assert options['waves'] == [run['hosts'][:1], run['hosts'][1:]] and sorted(run['hosts']) == HOSTS
    assert (options['wave_spec'], options['on_failure'], options['soak']) == ('1,rest', 'rollback-and-halt', 30.0)


async def test_do_all_without_waves_runs_as_before(ui_server: UiServer) -> None:
    for host in HOSTS[:2]:
        await ui_server.agent(host, heartbeat={})
    browser = await ui_server.browser()

    browser.click('bulk-do-all')
    await browser.see('Do All on 2 online hosts?')
    browser.click('dialog-ok')

    [run] = await ui_server.until(lambda: ui_server.pipelines('do-all'))
    assert 'waves' not in run['options'] and 'on_failure' not in run['options']
    assert run['waves'] == [run['hosts']]
