"""Sessions on a real server (docs/architecture.md#security, issue 7 scope 1 and "Bad input").

Proves that a session ends when it expires (on the dashboard's clock), when its key leaves
NIXFLEET_SESSION_SECRET, when the password hash or TOTP secret changes, when it logs out, and — all of them — on
"log out everywhere"; that logouts survive a restart (they live in the `settings` table); and that forged,
malformed, oversized and duplicated cookies, and oversized headers, are refused cleanly (401 JSON or a 4xx from the
HTTP layer, never a 500, and the server keeps serving).
"""

from __future__ import annotations

import json
import secrets

import bcrypt
import httpx
import pytest
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.security.sessions import COOKIE_NAME, credential_binding
from nixfleet.security.state import REVOKED_SESSIONS, SESSION_EPOCH
from nixfleet.store.kv_rows import read_settings
from tests.security.helpers import log_in, session_status
from tests.support import Dashboards, InProcess, ManualClock, start_in_process


@pytest.fixture
def server(inproc: InProcess) -> InProcess:
    """The dashboard in-process (no socket): these tests are about what it does, not the network edge."""
    return inproc


def _stored(server: Dashboards) -> dict[str, str]:
    return server.dashboard.store.read_sync(lambda db: read_settings(db, (SESSION_EPOCH, REVOKED_SESSIONS)))


async def _logout(server: Dashboards, cookie: str, **form: str) -> httpx.Response:
    async with server.client() as http:
        return await http.post('/logout', headers={'Cookie': cookie}, data=form)


async def test_logout_ends_one_session_and_stays_in_force_after_a_restart(settings: Settings) -> None:
    server = await start_in_process(settings)
    first, second = await log_in(server), await log_in(server)
    assert (await _logout(server, first)).status_code == 303
    assert await session_status(server, first) == 401
    assert await session_status(server, second) == 200
    await server.stop()

    server = await start_in_process(settings)
    try:
        assert await session_status(server, first) == 401  # a restart does not bring it back
        assert await session_status(server, second) == 200
        assert len(json.loads(_stored(server)[REVOKED_SESSIONS])) == 1
    finally:
        await server.stop()


async def test_log_out_everywhere_ends_every_session_including_after_a_restart(settings: Settings) -> None:
    server = await start_in_process(settings)
    laptop, phone = await log_in(server), await log_in(server)
    assert (await _logout(server, phone, scope='all')).status_code == 303
    assert await session_status(server, laptop) == 401
    assert await session_status(server, phone) == 401
    fresh = await log_in(server)
    assert await session_status(server, fresh) == 200
    events = [e for e in server.dashboard.stream.value.events if e['action'] == 'logout_all']
    assert events and events[0]['category'] == 'audit' and events[0]['details']['epoch'] == 1
    await server.stop()

    server = await start_in_process(settings)
    try:
        assert _stored(server)[SESSION_EPOCH] == '1'
        assert await session_status(server, laptop) == 401
        assert await session_status(server, fresh) == 200
    finally:
        await server.stop()


async def test_logout_without_a_session_changes_nothing(server: Dashboards) -> None:
    cookie = await log_in(server)
    response = await _logout(server, f'{COOKIE_NAME}=forged', scope='all')
    assert response.status_code == 303
    assert await session_status(server, cookie) == 200
    assert server.dashboard.sessions.epoch == 0


async def test_key_rotation_keeps_sessions_and_retiring_a_key_ends_them(settings: Settings) -> None:
    server = await start_in_process(settings)
    old = await log_in(server)
    await server.stop()
    old_key = settings.session_secret.get_secret_value() if settings.session_secret else ''

    rotated = settings.model_copy(update={'session_secret': SecretStr(f'newer-session-key-31c9,{old_key}')})
    server = await start_in_process(rotated)
    new = await log_in(server)
    assert await session_status(server, old) == 200  # rotation logs nobody out
    await server.stop()

    retired = settings.model_copy(update={'session_secret': SecretStr('newer-session-key-31c9')})
    server = await start_in_process(retired)
    try:
        assert await session_status(server, old) == 401  # signed with a key no longer configured
        assert await session_status(server, new) == 200
    finally:
        await server.stop()


@pytest.mark.parametrize('change', ['password', 'totp'])
async def test_changing_the_password_or_totp_secret_logs_everybody_out(settings: Settings, change: str) -> None:
    server = await start_in_process(settings)
    cookie = await log_in(server)
    await server.stop()
    if change == 'password':
        update = {'password_hash': SecretStr(bcrypt.hashpw(b'another password', bcrypt.gensalt(4)).decode())}
    else:
        update = {'totp_secret': SecretStr('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP')}
    server = await start_in_process(settings.model_copy(update=update))
    try:
        assert await session_status(server, cookie) == 401
    finally:
        await server.stop()


async def test_a_session_expires_on_the_dashboard_clock(settings: Settings) -> None:
    clock = ManualClock()
    configured = settings.model_copy(update={'session_duration': 3600.0})
    server = await start_in_process(configured, Dashboard(configured, clock))
    try:
        cookie = await log_in(server)
        clock.advance(3599)
        assert await session_status(server, cookie) == 200
        clock.advance(1)
        assert await session_status(server, cookie) == 401
    finally:
        await server.stop()


def _signed(settings: Settings, payload: object, key: str | None = None) -> str:
    """A cookie value signed exactly as the dashboard signs (or with another key)."""
    secret = key or (settings.session_secret.get_secret_value() if settings.session_secret else '')
    return URLSafeSerializer([secret], salt=f'nixfleet.session.v1:{credential_binding(settings)}').dumps(payload)


async def test_forged_and_malformed_cookies_are_refused(server: Dashboards, settings: Settings) -> None:
    genuine = (await log_in(server)).partition('=')[2]
    body, _, signature = genuine.rpartition('.')
    now = server.dashboard.clock()
    good = {'sid': 'x', 'iat': now, 'exp': now + 60, 'gen': 0}
    values = [
        'garbage',
        body + '.' + signature[::-1],
        body[:-2] + '.' + signature,
        _signed(settings, good, key='some-other-session-key'),
        _signed(settings, {**good, 'gen': 1}),  # from a future epoch
        _signed(settings, {**good, 'iat': now + 3600, 'exp': now + 7200}),  # issued in the future
        _signed(settings, {**good, 'iat': now - 10 * 86400, 'exp': now + 86400}),  # longer than the duration
        _signed(settings, {'sid': 'x'}),
        _signed(settings, {**good, 'gen': 'one'}),
        _signed(settings, {**good, 'gen': [1]}),
        _signed(settings, {**good, 'iat': None}),
        _signed(settings, {**good, 'exp': float('inf'), 'iat': float('-inf')}),
        _signed(settings, {**good, 'gen': 1e300}),
        _signed(settings, ['sid', 'iat']),
        _signed(settings, 'just a string'),
        _signed(settings, None),
        genuine + 'x' * 600,
        '.' * 300,
    ]
    for value in values:
        status = await session_status(server, f'{COOKIE_NAME}={value}')
        assert status == 401, value
    for raw in ('é' * 40, genuine[:-1] + 'é', '\udcff'):  # not ASCII (sent as UTF-8 / raw bytes)
        cookie = f'{COOKIE_NAME}={raw}'.encode('utf-8', 'surrogateescape')
        assert await session_status(server, cookie) == 401
    # duplicated cookie names and cookie soup: the session is the last one the parser keeps, never a crash
    soup = f'{COOKIE_NAME}=junk; a=b; {COOKIE_NAME}="quoted"; ;;; =; x; {COOKIE_NAME}={genuine}'
    assert await session_status(server, soup) in (200, 401)
    assert await session_status(server, f'{COOKIE_NAME}={genuine}') == 200


async def test_oversized_cookies_and_headers_get_a_clean_answer(server: Dashboards) -> None:
    cookie = await log_in(server)
    async with server.client() as http:
        big_cookie = await http.get('/api/hosts', headers={'Cookie': f'{COOKIE_NAME}={"A" * 8000}; {cookie}'})
        assert big_cookie.status_code in (200, 401)
        many = {f'x-filler-{i}': secrets.token_hex(8) for i in range(200)}
        assert (await http.get('/api/hosts', headers={**many, 'Cookie': cookie})).status_code == 200
        for headers in ({'Cookie': 'a=' + 'B' * 200_000}, {'X-Huge': 'C' * 200_000}):
            try:
                answer = await http.get('/api/hosts', headers=headers)
            except httpx.HTTPError:
                continue  # the HTTP layer may hang up on a request this large: clean too
            assert 400 <= answer.status_code < 500, answer.status_code
        assert (await http.get('/health')).status_code == 200
    assert await session_status(server, cookie) == 200
