"""The tabs of a session end with it, and a tab whose session ended acts on nothing (issue 15 item 5).

The whole dashboard is served on the test's loop and opened by NiceGUI users (tests/ui/conftest.py); two users
sharing one HTTP client are two tabs of one browser (one cookie jar). Proves that logging out sends every tab of the
session to the login page and deletes their clients (no more state reaches them), leaves other sessions' tabs alone,
and that an action from a tab whose session ended — a dispatch after a logout or after expiry on the dashboard's clock
before any tick noticed, a pipeline Cancel clicked before the tab was told — is refused on the server and journals
nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nicegui import Client
from nicegui.testing.user import User

from nixfleet.agent import SimBehaviour
from nixfleet.config import Settings
from nixfleet.ui.host_table import HostTable
from tests.support import ManualClock, expect_command
from tests.ui.conftest import SPEED, Browser, TableRows, UiServer, fail_on_error_logs, running_ui


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time; the dashboard's tick is off (`tick_interval` an hour), so only the test makes it run."""
    return ManualClock()


@pytest.fixture
async def ui(settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> AsyncIterator[UiServer]:
    configured = settings.model_copy(update={'tick_interval': 3600.0, 'session_duration': 3600.0})
    async with running_ui(configured, clock=clock) as running:
        yield running
    fail_on_error_logs(caplog)


async def second_tab(first: Browser) -> Browser:
    """Another tab of the same browser (same cookies) with the dashboard open."""
    user = User(first.user.http_client)
    await user.open('/')
    table = user.find(HostTable).elements.pop()
    return Browser(user, table, TableRows(table))


def sent_to_open(client: Client) -> list[str]:
    """The pages the server told this tab's browser to open."""
    return [data['path'] for _, _, (_, kind, data) in client.outbox.message_history if kind == 'open']


def journaled(ui: UiServer, op: str) -> list[str]:
    """Commands of `op` in the journal, and events about it (whatever their outcome)."""
    commands = ui.dashboard.store.read_sync(
        lambda db: [r[0] for r in db.execute('SELECT id FROM commands WHERE op = ?', [op])]
    )
    events = [e['action'] for e in ui.dashboard.stream.value.events if op in str(e.get('action'))]
    return [*commands, *events]


async def test_logout_ends_every_tab_of_the_session_and_no_other(ui: UiServer) -> None:
    agent = await ui.agent('web-01', heartbeat={})
    first = await ui.browser()
    second = await second_tab(first)
    elsewhere = await ui.browser()
    tabs = [tab.user.client for tab in (first, second) if tab.user.client is not None]
    stale = first.actions

    await first.user.http_client.post('/logout')

    await ui.until(lambda: all(client.is_deleted for client in tabs), timeout=3)  # no more state reaches them
    for tab, client in zip((first, second), tabs, strict=True):
        [target] = sent_to_open(client)
        assert target == '/login?error=logged_out'
        assert 'You have been logged out.' in (await tab.user.http_client.get(target)).text
    assert await stale.run('check-version', ['web-01']) == []  # the old tab's dispatch, should it still come
    assert journaled(ui, 'check-version') == []

    elsewhere.row_action('web-01', 'check-version')  # another session's tab is unaffected
    assert await expect_command(agent) == 'check-version'


async def test_a_tab_whose_session_expired_dispatches_nothing(ui: UiServer, clock: ManualClock) -> None:
    await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    await ui.until(lambda: 'check-version' in browser.rows.row('web-01').get('ops', []))

    clock.advance(3600)  # expired on the dashboard's clock; no tick has ended the tab yet
    browser.row_action('web-01', 'check-version')

    client = browser.user.client
    assert client is not None
    await ui.until(lambda: client.is_deleted, timeout=3)
    assert journaled(ui, 'check-version') == []
    assert sent_to_open(client) == ['/login?error=expired']
    async with ui.client() as http:
        assert 'Your session has expired. Please log in again.' in (await http.get('/login?error=expired')).text


async def test_a_pipelines_tab_of_a_logged_out_session_cancels_nothing(ui_server: UiServer) -> None:
    slow = SimBehaviour(speed=SPEED, slow_ops={'pull': 10_000})  # its pull outlasts the test
    hosts = await ui_server.fleet(2, behaviours={'sim-02': slow})
    user = await ui_server.user()
    client = await user.open('/pipelines')
    run = await ui_server.dashboard.ops.start_pipeline('do-all', hosts)
    await user.should_see(marker=f'pipeline-cancel-{run.id}')
    cancel = user.find(marker=f'pipeline-cancel-{run.id}')

    await user.http_client.post('/logout')
    cancel.click()  # the tab has not been told yet

    await ui_server.until(lambda: client.is_deleted, timeout=3)
    assert not [e for e in ui_server.dashboard.stream.value.events if 'cancelled by' in str(e.get('message'))]
    assert ui_server.dashboard.stream.value.pipelines[run.id]['status'] == 'RUNNING'
