"""The audit trail of security-relevant actions (docs/architecture.md#security, issue 7 scope 6).

Proves that logins (success and failure), logouts and reboots are journaled as `audit` events with who and from
where: a reboot that starts (`op:reboot`), and every reboot attempt refused for its TOTP code (`totp_refused`, with
the API token's or the session's actor and the client address) — bounded, so hammering the guard cannot flood the
event log. Token changes are covered in test_agent_tokens.py and test_token_cli.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pyotp
import pytest
from pydantic import SecretStr

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.security.state import AUDITED_REFUSALS
from tests.security.helpers import admin_client, log_in
from tests.support import PASSWORD, Dashboards, InProcess, ManualClock, eventually, start_in_process

TOTP_SECRET = pyotp.random_base32()


@pytest.fixture
def server(inproc: InProcess) -> InProcess:
    """The dashboard in-process (no socket): these tests are about what it does, not the network edge."""
    return inproc


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time for the dashboard (TOTP codes are taken at this time)."""
    return ManualClock()


@pytest.fixture
async def dashboard(settings: Settings, clock: ManualClock) -> AsyncIterator[Dashboards]:
    """A real server with TOTP configured and one connected agent, `web1`."""
    configured = settings.model_copy(update={'totp_secret': SecretStr(TOTP_SECRET), 'tick_interval': 3600.0})
    running = await start_in_process(configured, Dashboard(configured, clock))
    agent = await running.agent('web1').connect()
    await agent.heartbeat()
    await eventually(lambda: running.dashboard.stream.value.hosts.get('web1', {}).get('connection') == 'online')
    yield running
    await agent.close()
    await running.stop()


def _audit(server: Dashboards, action: str) -> list[dict]:
    return [e for e in server.dashboard.stream.value.events if e['action'] == action and e['category'] == 'audit']


async def test_logins_and_logouts_are_audited_with_the_client_address(server: Dashboards) -> None:
    async with server.client() as http:
        await http.post('/login', data={'password': 'guess'})
    cookie = await log_in(server)
    async with server.client() as http:
        await http.post('/logout', headers={'Cookie': cookie})
    [failed] = _audit(server, 'login_failed')
    [login] = _audit(server, 'login')
    [logout] = _audit(server, 'logout')
    assert (failed['actor'], failed['level'], failed['details']['ip']) == ('anonymous', 'warn', '127.0.0.1')
    assert (login['actor'], login['level'], login['details']['ip']) == ('admin', 'success', '127.0.0.1')
    assert logout['actor'] == 'admin'
    assert PASSWORD not in str(server.dashboard.stream.value.events)


async def test_reboot_attempts_are_audited_refused_codes_too(dashboard: Dashboards, clock: ManualClock) -> None:
    async with admin_client(dashboard) as api:
        for code in (None, '123456'):
            refused = await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['web1'], 'totp': code})
            assert refused.status_code == 403
        right = pyotp.TOTP(TOTP_SECRET).at(clock())
        started = await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['web1'], 'totp': right})
        assert started.status_code == 200
    await dashboard.dashboard.security.drain()
    refusals = _audit(dashboard, 'totp_refused')
    assert sorted(e['details']['code'] for e in refusals) == ['totp_invalid', 'totp_required']
    assert all(e['actor'] == 'api:admin' and e['details']['ip'] == '127.0.0.1' for e in refusals)
    assert all(e['level'] == 'warn' and 'reboot' in e['message'] for e in refusals)
    assert '123456' not in str(refusals)
    [reboot] = _audit(dashboard, 'op:reboot')
    assert reboot['actor'] == 'api:admin' and reboot['host_id'] == 'web1'


async def test_a_refused_code_from_a_browser_session_is_audited_as_the_user(dashboard: Dashboards) -> None:
    cookie = await log_in(dashboard, totp=pyotp.TOTP(TOTP_SECRET).at(dashboard.dashboard.clock()))
    async with dashboard.client(headers={'Cookie': cookie}) as http:
        refused = await http.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['web1'], 'totp': '000000'})
    assert refused.status_code == 403
    [event] = await eventually(lambda: _audit(dashboard, 'totp_refused'))
    assert event['actor'] == 'user'


async def test_hammering_the_guard_writes_a_bounded_number_of_events(dashboard: Dashboards) -> None:
    async with admin_client(dashboard) as api:
        for _ in range(3 * AUDITED_REFUSALS):
            await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['web1']})  # no code
    await dashboard.dashboard.security.drain()
    assert len(_audit(dashboard, 'totp_refused')) == AUDITED_REFUSALS
