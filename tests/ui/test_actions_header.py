"""The header's fleet target and the pending PR (header menu and context bar), with fake version.json and GitHub;
and the login form's TOTP field, shown only when TOTP is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pyotp
import pytest
from nicegui import ui as nicegui_ui
from pydantic import SecretStr

from nixfleet.config import Settings
from tests.integrations.fake_github import REPO, TOKEN, FakeGitHub
from tests.integrations.fake_version import COMMIT, FakeVersionServer
from tests.support import expect_command
from tests.ui.conftest import UiServer, fail_on_error_logs, running_ui


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.flake_pr(7)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def ui(
    settings: Settings, version_server: FakeVersionServer, github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[UiServer]:
    """The dashboard with its UI, tracking the fake version.json and the fake GitHub (PR #7 open)."""
    tracked = settings.model_copy(
        update={
            'version_url': version_server.url,
            'github_token': SecretStr(TOKEN),
            'github_repo': REPO,
            'github_api_url': github.api_url,
        }
    )
    async with running_ui(tracked) as running:
        running.dashboard.github.recheck_delay = 0
        await running.until(lambda: (running.dashboard.stream.value.fleet.get('pending_pr') or {}).get('can_merge'))
        yield running
    fail_on_error_logs(caplog)


async def test_header_shows_the_fleet_target_and_expected_agent(ui: UiServer) -> None:
    await ui.agent('web-01', heartbeat={}, agent_version='3.1.5')
    browser = await ui.browser()

    await browser.see(f'{COMMIT[:7]} · main · ')
    await browser.see('3.1.5')
    box = browser.user.find(marker='fleet-config-box').elements.pop()
    tooltip = next(e for e in box.descendants() if isinstance(e, nicegui_ui.tooltip))
    assert COMMIT in tooltip.text and 'hosts: enable zram' in tooltip.text


async def test_a_failing_version_json_shows_in_the_header(ui: UiServer, version_server: FakeVersionServer) -> None:
    browser = await ui.browser()
    version_server.fail(503)
    await ui.dashboard.compartments.refresh_remote()

    box = browser.user.find(marker='fleet-config-box').elements.pop()
    await ui.until(lambda: 'is-error' in box.classes)
    tooltip = next(e for e in box.descendants() if isinstance(e, nicegui_ui.tooltip))
    await ui.until(lambda: 'Last fetch failed' in tooltip.text)  # the last good commit stays shown


async def test_pending_pr_shows_in_the_context_bar_and_merge_merges_it(ui: UiServer, github: FakeGitHub) -> None:
    await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    await browser.see(marker='ctx-pr')
    await browser.see('flake.lock: Update')
    await browser.see('will deploy to 1/1 hosts')

    browser.click('pr-merge')
    await browser.see('Merge PR #7?')
    browser.click('dialog-ok')

    await ui.until(lambda: github.seen('PUT', r'/pulls/7/merge'))
    await ui.until(lambda: [c['status'] for c in ui.commands('merge-pr')] == ['SUCCESS'])


async def test_merge_and_deploy_starts_the_pipeline_on_the_online_hosts(ui: UiServer, github: FakeGitHub) -> None:
    await ui.agent('web-01', heartbeat={})
    browser = await ui.browser()
    await browser.see(marker='ctx-pr')

    browser.click('pr-deploy')
    await browser.see('Merge & deploy PR #7?')
    browser.click('dialog-ok')

    runs = await ui.until(lambda: ui.pipelines('merge-deploy'))
    assert runs[0]['hosts'] == ['web-01']
    await ui.until(lambda: github.seen('PUT', r'/pulls/7/merge'))


async def test_the_header_menu_merges_the_pr_too(ui: UiServer, github: FakeGitHub) -> None:
    browser = await ui.browser()
    await browser.see('Merge PR #7')

    browser.click('bulk-merge-pr')
    await browser.see('Merge PR #7?')
    browser.click('dialog-ok')

    await ui.until(lambda: github.seen('PUT', r'/pulls/7/merge'))


async def test_refetch_version_json_from_the_header_menu(ui: UiServer, version_server: FakeVersionServer) -> None:
    browser = await ui.browser()
    before = version_server.requests

    browser.click('bulk-refresh-git')

    await ui.until(lambda: version_server.requests > before)
    await ui.until(lambda: [c['status'] for c in ui.commands('refresh-git')] == ['SUCCESS'])


async def test_a_compartment_click_is_dispatched_for_the_right_host_only(ui: UiServer) -> None:
    one = await ui.agent('web-01', heartbeat={}, generation='b6a4b4d')
    await ui.agent('web-02', heartbeat={}, generation='b6a4b4d')
    browser = await ui.browser()

    browser.trigger('compartment', host='web-01', name='git')

    assert await expect_command(one) == 'pull'
    assert ui.commands('pull', 'web-02') == []


# -- login ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('totp', [False, True])
async def test_login_form_asks_for_totp_only_when_configured(
    settings: Settings, caplog: pytest.LogCaptureFixture, totp: bool
) -> None:
    configured = settings.model_copy(update={'totp_secret': SecretStr(pyotp.random_base32())}) if totp else settings
    async with running_ui(configured) as running, httpx.AsyncClient(base_url=running.http) as http:
        page = (await http.get('/login')).text
    assert ('nf-totp' in page) is totp  # the TOTP field's id
    assert 'nf-password' in page
    fail_on_error_logs(caplog)
