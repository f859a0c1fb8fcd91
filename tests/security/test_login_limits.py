"""Login rate limit, proxy trust and TOTP replay protection (docs/architecture.md#security, issue 7 acceptance).

Proves that the sixth login attempt from one client inside a minute is refused (HTTP 429 with `Retry-After`, a
readable page for the form, JSON when asked for), counted before the password check so concurrent attempts cannot
slip past, journaled once; that a spoofed X-Forwarded-For from an untrusted peer does not change the counted client,
while behind a trusted proxy each forwarded client counts alone; that a TOTP code works once — for login, and a code
used to log in cannot authorise a reboot nor the other way round (a reboot that starts nothing does not use it up);
and that wrong reboot codes lock the guard.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from pydantic import SecretStr

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.security.sessions import COOKIE_NAME
from tests.security.helpers import admin_client
from tests.support import PASSWORD, Dashboards, InProcess, ManualClock, start_in_process

TOTP_SECRET = pyotp.random_base32()


@pytest.fixture
def server(inproc: InProcess) -> InProcess:
    """The dashboard in-process (no socket): these tests are about what it does, not the network edge."""
    return inproc


@pytest.fixture
def clock() -> ManualClock:
    """The dashboard's clock (virtual time: windows pass when the test says so)."""
    return ManualClock()


@pytest.fixture
async def dashboard(settings: Settings, clock: ManualClock) -> AsyncIterator[Dashboards]:
    """A real server on a manual clock with TOTP configured."""
    configured = settings.model_copy(update={'totp_secret': SecretStr(TOTP_SECRET)})
    running = await start_in_process(configured, Dashboard(configured, clock))
    yield running
    await running.stop()


async def _login(server: Dashboards, password: str = 'wrong', **extra: str) -> httpx.Response:
    headers = {k.replace('_', '-'): v for k, v in extra.items() if k != 'totp'}
    form = {'password': password, **({'totp': extra['totp']} if 'totp' in extra else {})}
    async with server.client() as http:
        return await http.post('/login', data=form, headers=headers)


def _events(server: Dashboards, action: str) -> list[dict]:
    return [e for e in server.dashboard.stream.value.events if e['action'] == action]


async def test_the_sixth_attempt_inside_the_window_is_refused(server: Dashboards) -> None:
    for _ in range(5):
        assert (await _login(server)).status_code == 303
    refused = await _login(server, PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert 1 <= int(refused.headers['retry-after']) <= 60
    assert 'Too many login attempts' in refused.text and refused.headers['content-type'].startswith('text/html')
    assert 'nixfleet_session' not in refused.headers.get('set-cookie', '')
    as_json = await _login(server, accept='application/json')
    assert as_json.status_code == 429 and as_json.json()['error']['code'] == 'rate_limited'
    throttled = _events(server, 'login_throttled')
    assert len(throttled) == 1 and throttled[0]['category'] == 'audit' and throttled[0]['details']['ip'] == '127.0.0.1'


async def test_the_window_slides_on_the_dashboard_clock(settings: Settings, clock: ManualClock) -> None:
    server = await start_in_process(settings, Dashboard(settings, clock))
    try:
        for _ in range(5):
            await _login(server)
            clock.advance(10)
        assert (await _login(server)).status_code == 429  # 5 attempts within the last 50 s
        clock.advance(10.5)  # the first attempt has left the window
        assert (await _login(server)).status_code == 303
        assert (await _login(server)).status_code == 429
    finally:
        await server.stop()


async def test_a_successful_login_clears_the_count(server: Dashboards) -> None:
    for _ in range(4):
        await _login(server)
    ok = await _login(server, PASSWORD)
    assert ok.status_code == 303 and ok.headers['location'] == '/'
    for _ in range(5):
        assert (await _login(server)).status_code == 303
    assert (await _login(server)).status_code == 429


async def test_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_counted_client(
    server: Dashboards,
) -> None:
    for n in range(5):
        assert (await _login(server, x_forwarded_for=f'198.51.100.{n}')).status_code == 303
    assert (await _login(server, x_forwarded_for='203.0.113.77', x_real_ip='203.0.113.78')).status_code == 429
    assert {e['details']['ip'] for e in _events(server, 'login_failed')} == {'127.0.0.1'}


async def test_behind_a_trusted_proxy_each_forwarded_client_counts_alone(settings: Settings) -> None:
    server = await start_in_process(settings.model_copy(update={'trusted_proxies': ['127.0.0.1', '10.0.0.0/8']}))
    try:
        for _ in range(5):
            assert (await _login(server, x_forwarded_for='203.0.113.5')).status_code == 303
        assert (await _login(server, x_forwarded_for='203.0.113.5')).status_code == 429
        # a client cannot escape by prepending addresses: the rightmost untrusted hop is the client
        assert (await _login(server, x_forwarded_for='198.51.100.9, 203.0.113.5')).status_code == 429
        assert (await _login(server, x_forwarded_for='203.0.113.5, 10.1.2.3')).status_code == 429  # via an inner proxy
        assert (await _login(server, x_forwarded_for='203.0.113.6')).status_code == 303
        ips = {e['details']['ip'] for e in _events(server, 'login_failed')}
        assert ips == {'203.0.113.5', '203.0.113.6'}
    finally:
        await server.stop()


async def test_concurrent_attempts_are_counted_before_the_password_check(server: Dashboards) -> None:
    answers = await asyncio.gather(*(_login(server) for _ in range(12)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [303] * 5 + [429] * 7
    assert len(_events(server, 'login_failed')) == 5


async def test_a_totp_code_works_once_for_login(dashboard: Dashboards, clock: ManualClock) -> None:
    code = pyotp.TOTP(TOTP_SECRET).at(clock())
    first = await _login(dashboard, PASSWORD, totp=code)
    assert first.status_code == 303 and first.headers['location'] == '/'
    replay = await _login(dashboard, PASSWORD, totp=code)
    assert replay.headers['location'] == '/login?error=code_used'
    assert (
        'TOTP refused (totp_invalid: this TOTP code was already used'
        in _events(dashboard, 'login_failed')[0]['message']
    )
    clock.advance(30)
    assert (await _login(dashboard, PASSWORD, totp=pyotp.TOTP(TOTP_SECRET).at(clock()))).headers['location'] == '/'


async def test_a_used_code_is_said_to_be_used_only_with_the_right_password(
    dashboard: Dashboards, clock: ManualClock
) -> None:
    code = pyotp.TOTP(TOTP_SECRET).at(clock())
    assert (await _login(dashboard, PASSWORD, totp=code)).headers['location'] == '/'
    async with dashboard.client() as browser:
        replay = await browser.post('/login', data={'password': PASSWORD, 'totp': code, 'next': '/history'})
        assert replay.headers['location'] == '/login?error=code_used&next=%2Fhistory'
        assert COOKIE_NAME not in replay.cookies
        guess = await browser.post('/login', data={'password': 'a guess', 'totp': code})
        assert guess.headers['location'] == '/login?error=credentials'
        wrong_code = await browser.post('/login', data={'password': PASSWORD, 'totp': _wrong_code(clock())})
        assert wrong_code.headers['location'] == '/login?error=credentials'


def _wrong_code(now: float) -> str:
    """A six-digit code valid in none of the steps the guard accepts at `now`."""
    valid = {pyotp.TOTP(TOTP_SECRET).at(now + offset * 30) for offset in (-1, 0, 1)}
    return next(code for code in ('000000', '111111', '222222', '333333') if code not in valid)


async def _reboot(server: Dashboards, code: str | None, host: str = 'ghost') -> httpx.Response:
    async with admin_client(server) as api:
        return await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': [host], 'totp': code})


async def test_a_login_code_cannot_reboot_and_the_reverse(dashboard: Dashboards, clock: ManualClock) -> None:
    code = pyotp.TOTP(TOTP_SECRET).at(clock())
    assert (await _login(dashboard, PASSWORD, totp=code)).headers['location'] == '/'
    replayed = await _reboot(dashboard, code)
    assert replayed.status_code == 403 and replayed.json()['error']['code'] == 'totp_invalid'
    assert 'already used' in replayed.json()['error']['message']

    clock.advance(30)
    fresh = pyotp.TOTP(TOTP_SECRET).at(clock())
    agent = await dashboard.agent('web1').connect()
    accepted = await _reboot(dashboard, fresh, 'web1')
    assert accepted.status_code == 200 and accepted.json()['results'][0]['status'] == 'started'
    assert (await _login(dashboard, PASSWORD, totp=fresh)).headers['location'] == '/login?error=code_used'
    await agent.close()


async def test_a_reboot_that_starts_nothing_leaves_its_code_good(dashboard: Dashboards, clock: ManualClock) -> None:
    code = pyotp.TOTP(TOTP_SECRET).at(clock())
    wrong = await _reboot(dashboard, '000000')  # still judged: a wrong code is said, whatever the hosts
    assert wrong.status_code == 403 and wrong.json()['error']['code'] == 'totp_invalid'
    refused = await _reboot(dashboard, code)  # right code, unknown host: refused for the host, code not spent
    assert refused.status_code == 200 and refused.json()['results'][0]['code'] == 'unknown_host'
    assert (await _login(dashboard, PASSWORD, totp=code)).headers['location'] == '/'


async def test_a_used_code_stays_used_after_a_restart(settings: Settings, clock: ManualClock) -> None:
    configured = settings.model_copy(update={'totp_secret': SecretStr(TOTP_SECRET)})
    server = await start_in_process(configured, Dashboard(configured, clock))
    code = pyotp.TOTP(TOTP_SECRET).at(clock())
    agent = await server.agent('web1').connect()
    assert (await _reboot(server, code, 'web1')).json()['results'][0]['status'] == 'started'
    await agent.close()
    await server.stop()
    server = await start_in_process(configured, Dashboard(configured, clock))
    try:
        assert (await _reboot(server, code)).json()['error']['code'] == 'totp_invalid'
    finally:
        await server.stop()


async def test_wrong_reboot_codes_lock_the_guard_for_a_while(dashboard: Dashboards, clock: ManualClock) -> None:
    for guess in ('000000', '111111', '222222', '333333', '444444'):
        assert (await _reboot(dashboard, guess)).json()['error']['code'] == 'totp_invalid'
    right = pyotp.TOTP(TOTP_SECRET).at(clock())
    locked = await _reboot(dashboard, right)
    assert locked.status_code == 429 and locked.json()['error']['code'] == 'rate_limited'
    clock.advance(61)
    assert (await _reboot(dashboard, pyotp.TOTP(TOTP_SECRET).at(clock()))).status_code == 200


@pytest.mark.parametrize('code', ['１２３４５６', 'é', '12345６', '\x00' * 6, ' 1 2 3 ', '9' * 10_000])
async def test_odd_codes_are_wrong_codes_not_errors(dashboard: Dashboards, code: str) -> None:
    refused = await _reboot(dashboard, code)
    assert refused.status_code in (403, 429) and refused.json()['error']['code'] in ('totp_invalid', 'rate_limited')
    login = await _login(dashboard, PASSWORD, totp=code)
    assert login.status_code == 303 and login.headers['location'] == '/login?error=credentials'
