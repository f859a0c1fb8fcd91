"""The host page (`/hosts/{id}`), in process: facts, compartments with their reasons, the last commands with their
causes and output links, the generation history, live CPU/RAM sparklines, and a clear page for an unknown host."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from nicegui import ElementFilter, ui
from nicegui.testing.user import User

from nixfleet.config import Settings
from tests.support import ManualClock, eventually, expect_command, send_output, send_status
from tests.ui.conftest import UiServer, fail_on_error_logs, running_ui


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time: heartbeats become samples a step apart when the test advances it (liveness sweeps are off)."""
    return ManualClock()


@pytest.fixture
async def ui_server(
    settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[UiServer]:
    async with running_ui(settings.model_copy(update={'tick_interval': 3600.0}), clock=clock) as running:
        yield running
    fail_on_error_logs(caplog)


def texts(user: User, marker: str) -> list[str]:
    """The texts inside the element with `marker` (labels and text elements, in page order)."""
    with user:
        found = list(ElementFilter(marker=marker, local_scope=False))
        return [str(e.text) for root in found for e in root.descendants() if getattr(e, 'text', None)]


def command_row(user: User, command_id: str) -> list[str]:
    with user:
        everything = ElementFilter(kind=ui.element, local_scope=False)
        rows = [e for e in everything if e.props.get('data-command') == command_id]
        return [str(e.text) for row in rows[:1] for e in row.descendants() if getattr(e, 'text', None)]


def output_link(user: User, command_id: str) -> str | None:
    with user:
        links = list(ElementFilter(marker=f'host-output-{command_id}', local_scope=False))
        return str(links[0].props.get('href')) if links else None


def svg(user: User, metric: str) -> str:
    with user:
        [box] = list(ElementFilter(kind=ui.html, marker=f'host-spark-{metric}-line', local_scope=False))
        return str(box.content)


async def open_any_status(user: User, path: str) -> list[int]:
    """Open `path` whatever its status (NiceGUI's `User.open` accepts only 200); return the statuses it answered."""
    statuses: list[int] = []

    async def accept(response: httpx.Response) -> None:
        statuses.append(response.status_code)
        if response.status_code == 404:
            response.status_code = 200

    user.http_client.event_hooks['response'].append(accept)
    try:
        await user.open(path)
    finally:
        user.http_client.event_hooks['response'].remove(accept)
    return statuses


async def test_the_page_shows_facts_compartments_and_a_failed_command_with_its_cause_and_output(
    ui_server: UiServer,
) -> None:
    agent = await ui_server.agent(
        'mac-mini', heartbeat={}, host_type='macos', os_version='15.2', location='office', device_type='desktop'
    )
    [result] = await ui_server.dashboard.ops.dispatch('test', ['mac-mini'])
    assert await expect_command(agent) == 'test'
    await send_output(agent, 'running 8 checks')
    await send_output(agent, 'error: check dns-resolves failed', stream='stderr')
    await send_status(agent, 'test', 'error', exit_code=2, message='command failed')
    await ui_server.until(lambda: ui_server.commands('test', 'mac-mini')[0]['terminal'])

    user = await ui_server.user()
    await user.open('/hosts/mac-mini')
    await user.should_see(marker='host-detail')
    facts = texts(user, 'host-facts')
    for expected in ('macOS', '15.2', '3.1.5 (Go)', 'Office', 'Desktop', 'b6a4b4d', '744b04a0', 'every 5 s'):
        assert expected in facts, (expected, facts)
    compartments = texts(user, 'host-compartments')
    assert 'Git' in compartments and 'Version tracking not configured' in compartments  # every status has its reason
    assert "Set NIXFLEET_VERSION_URL to the config repo's version.json to compare hosts with it" in compartments
    assert compartments[compartments.index('Tests') :][:2] == ['Tests', 'error']  # the failed test, and why
    assert 'Tests failed (exit 2) command failed' in compartments

    cid = str(result.command_id)
    row = await eventually(lambda: command_row(user, cid))
    assert 'Test' in row and 'error' in row
    assert 'exit 2 — error: check dns-resolves failed' in row  # the cause, with the agent's last error line
    assert output_link(user, cid) == f'/api/commands/{quote(cid)}/output'


async def test_the_page_follows_new_commands_the_generations_they_went_to_and_the_host_going_away(
    ui_server: UiServer,
) -> None:
    agent = await ui_server.agent('web-01', heartbeat={})
    user = await ui_server.user()
    await user.open('/hosts/web-01')
    await user.should_see('No commands yet. Ops run on this host show up here.')
    await user.should_see('No switch, rollback or rebuild yet.')

    [result] = await ui_server.dashboard.ops.dispatch('switch', ['web-01'])
    assert await expect_command(agent) == 'switch'
    await eventually(lambda: 'executing' in command_row(user, str(result.command_id)))  # live, while it runs

    await send_status(agent, 'switch', 'ok', message='switched')
    await agent.close()  # the switched agent restarts on the new generation
    agent = await ui_server.agent('web-01', heartbeat={'generation': 'c0ffee1'}, generation='c0ffee1')
    await ui_server.until(lambda: ui_server.commands('switch', 'web-01')[0]['terminal'])
    history = await eventually(lambda: (shown := texts(user, 'host-generations')) and 'c0ffee1' in shown and shown)
    assert history[:2] == ['Switch', 'success'] and history[-2:] == ['b6a4b4d', 'c0ffee1']  # from, to
    assert 'c0ffee1' in texts(user, 'host-facts')

    await agent.close()
    await ui_server.until(lambda: ui_server.host('web-01')['connection'] == 'offline')
    await user.should_see('Offline')
    await ui_server.dashboard.ops.dispatch('remove', ['web-01'])
    await user.should_see('web-01 has been removed. It comes back when its agent registers again.')
    await user.should_see(marker='host-missing-back')

    await ui_server.agent('web-01', heartbeat={})  # it registers again: the page shows it again
    await user.should_see(marker='host-facts')
    await user.should_not_see('No such host')
    await eventually(lambda: texts(user, 'host-commands')[:2] == ['Remove', 'success'])
    assert 'Switch' not in texts(user, 'host-commands')  # its commands went with it


async def test_sparklines_draw_the_heartbeats_of_the_last_hour_as_they_arrive(
    ui_server: UiServer, clock: ManualClock
) -> None:
    agent = await ui_server.agent('web-01')
    user = await ui_server.user()
    await user.open('/hosts/web-01')
    await user.should_see(marker='host-spark-cpu')
    assert 'CPU over the last hour: no samples yet' in svg(user, 'cpu')

    for cpu in (10.0, 30.0, 90.0, 50.0):
        await agent.heartbeat(metrics={'cpu': cpu, 'ram': 40.0, 'swap': 0, 'load': 0.1})
        await eventually(lambda cpu=cpu: f'now {cpu:.0f}%' in svg(user, 'cpu'))
        clock.advance(30)

    drawn = svg(user, 'cpu')
    assert 'now 50%, peak 90%, average 45%' in drawn
    [points] = re.findall(r'class="nf-spark-line" points="([^"]+)"', drawn)
    assert len(points.split()) == 4
    assert 'RAM over the last hour: now 40%, peak 40%, average 40%' in svg(user, 'ram')
    await user.should_see('50%')  # the value now, beside the line

    async with ui_server.client(headers={'Authorization': 'Bearer nope'}) as anon:
        assert (await anon.get('/api/hosts/web-01/metrics')).status_code == 401
    ui_server.dashboard.api_tokens['t'] = 'test-token-host-page'
    async with ui_server.client(headers={'Authorization': 'Bearer test-token-host-page'}) as api:
        body = (await api.get('/api/hosts/web-01/metrics')).json()
        missing = await api.get('/api/hosts/ghost/metrics')
    assert [s['cpu'] for s in body['samples']] == [10.0, 30.0, 90.0, 50.0]
    assert body['window'] == 3600 and body['step'] == 30 and body['host_id'] == 'web-01'
    assert missing.status_code == 404 and missing.json()['error']['code'] == 'unknown_host'


@pytest.mark.parametrize(
    ('path', 'shown'),
    [
        ('/hosts/ghost', 'There is no host “ghost”. It may have been removed, or the link is mistyped.'),
        ('/hosts/' + quote('<b>x</b>', safe=''), 'There is no host “<b>x</b>”.'),
        ('/hosts/' + 'y' * 5000, 'There is no host “' + 'y' * 63 + '…”.'),
        ('/hosts/' + quote('../../etc/passwd', safe=''), 'There is no host “../../etc/passwd”.'),
    ],
    ids=['unknown', 'markup', 'very-long', 'traversal'],
)
async def test_an_unknown_or_odd_id_gets_a_no_such_host_page_with_the_way_back(
    ui_server: UiServer, path: str, shown: str
) -> None:
    user = await ui_server.user()
    statuses = await open_any_status(user, path)

    assert statuses == [404]  # never a 500, and not a 200 a link checker would take for a page
    await user.should_see('No such host')
    assert any(t.startswith(shown.removesuffix('.')) for t in texts(user, 'host-missing'))
    with user:
        [back] = list(ElementFilter(marker='host-missing-back', local_scope=False))
        assert back.props.get('href') == '/'
        assert not [e for e in ElementFilter(local_scope=False).within(marker='host-missing') if e.tag == 'b']


async def test_the_row_menu_details_and_the_back_link_move_between_the_table_and_the_page(ui_server: UiServer) -> None:
    await ui_server.agent('web-01', heartbeat={})
    browser = await ui_server.browser()

    browser.row_action('web-01', 'details')

    await browser.see(marker='host-detail')
    assert browser.user.back_history[-1] == '/hosts/web-01'
    with browser.user:
        [back] = list(ElementFilter(marker='host-back', local_scope=False))
        assert back.props.get('href') == '/'
