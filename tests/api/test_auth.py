"""Admin authentication: signed sessions (rotation, expiry, revocation), password and TOTP checks, login routes."""

from __future__ import annotations

import asyncio
import json

import bcrypt
import httpx
import pyotp
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nixfleet.config import Settings
from nixfleet.security.password import verify_password
from nixfleet.security.sessions import COOKIE_NAME, SessionSigner, login_redirect, safe_next
from nixfleet.security.totp import TotpGuard
from tests.support import PASSWORD, PASSWORD_HASH, ManualClock, start_server

DAY = 24 * 3600.0


# -- signing -------------------------------------------------------------------------------------------------------
def test_issued_session_verifies_and_carries_its_times() -> None:
    clock = ManualClock()
    signer = SessionSigner(['k1'], DAY, clock)
    session, token = signer.issue()
    assert signer.verify(token) == session
    assert session.expires_at == clock.now + DAY
    assert len(token) < 200


@pytest.mark.parametrize('bad', ['', 'garbage', 'a.b', 'x' * 600])
def test_junk_tokens_are_rejected(bad: str) -> None:
    assert SessionSigner(['k1'], DAY).verify(bad) is None
    assert SessionSigner(['k1'], DAY).verify(None) is None


def test_tampered_token_is_rejected() -> None:
    signer = SessionSigner(['k1'], DAY)
    _, token = signer.issue()
    payload, _, signature = token.rpartition('.')
    assert signer.verify(payload + '.' + signature[::-1]) is None
    assert signer.verify(payload[:-1] + ('A' if payload[-1] != 'A' else 'B') + '.' + signature) is None


def test_token_from_another_key_is_rejected() -> None:
    _, token = SessionSigner(['other'], DAY).issue()
    assert SessionSigner(['k1'], DAY).verify(token) is None


def test_rotation_newest_key_signs_every_listed_key_verifies() -> None:
    _, old_token = SessionSigner(['old'], DAY).issue()
    rotated = SessionSigner(['new', 'old'], DAY)
    assert rotated.verify(old_token) is not None  # nobody is logged out by the rotation
    _, new_token = rotated.issue()
    assert SessionSigner(['new'], DAY).verify(new_token) is not None  # signed with the first (newest) key
    assert SessionSigner(['old'], DAY).verify(new_token) is None
    assert SessionSigner(['new'], DAY).verify(old_token) is None  # retiring the old key ends its sessions


def test_session_expires_after_the_duration() -> None:
    clock = ManualClock()
    signer = SessionSigner(['k1'], 3600, clock)
    _, token = signer.issue()
    clock.now += 3599
    assert signer.verify(token) is not None
    clock.now += 1
    assert signer.verify(token) is None


def test_shortened_duration_applies_to_existing_sessions() -> None:
    clock = ManualClock()
    _, token = SessionSigner(['k1'], DAY, clock).issue()
    clock.now += 2 * 3600
    assert SessionSigner(['k1'], DAY, clock).verify(token) is not None
    assert SessionSigner(['k1'], 3600, clock).verify(token) is None


def test_revoked_session_is_rejected_and_others_are_not() -> None:
    clock = ManualClock()
    signer = SessionSigner(['k1'], 60, clock)
    session, token = signer.issue()
    other, other_token = signer.issue()
    signer.revoke(session)
    assert signer.verify(token) is None
    assert signer.verify(other_token) == other


def test_no_key_means_no_session() -> None:
    signer = SessionSigner([], DAY)
    assert signer.verify('anything.at.all') is None
    with pytest.raises(RuntimeError, match='NIXFLEET_SESSION_SECRET'):
        signer.issue()


# -- password and TOTP ---------------------------------------------------------------------------------------------
def test_password_check() -> None:
    assert verify_password(PASSWORD_HASH, PASSWORD)
    assert not verify_password(PASSWORD_HASH, PASSWORD + 'x')
    assert not verify_password(PASSWORD_HASH, '')
    assert not verify_password(None, PASSWORD)
    assert not verify_password('not-a-bcrypt-hash', PASSWORD)
    long_hash = bcrypt.hashpw(b'a' * 72, bcrypt.gensalt(4)).decode()
    assert not verify_password(long_hash, 'a' * 100)  # bcrypt 5 refuses >72 bytes: a refusal, not a crash


def test_totp_check_accepts_one_step_of_skew() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = 1_800_000_000.0

    def accepted(code: str, guard_secret: str | None = secret) -> bool:
        """Whether a fresh guard at `now` accepts the code (fresh: no step used yet, no failures counted)."""
        return TotpGuard(guard_secret, lambda: now).check(code) is None

    assert accepted(totp.at(now))
    assert accepted(totp.at(now - 30))
    assert accepted(totp.at(now + 30))
    assert not accepted(totp.at(now - 90))
    assert not accepted('abcdef')
    assert not accepted('')
    assert not accepted(totp.at(now), guard_secret=None)


def test_return_path_is_local_only() -> None:
    assert safe_next('/hosts?x=1') == '/hosts?x=1'
    for bad in ('//evil.example', 'https://evil.example/', '/\\evil', '', None):
        assert safe_next(bad) == '/'
    assert login_redirect() == '/login'
    assert login_redirect('credentials', '/x') == '/login?error=credentials&next=%2Fx'


# -- the routes on a real server (no UI) ---------------------------------------------------------------------------
def _cookie_header(response: httpx.Response) -> str:
    return next(v for v in response.headers.get_list('set-cookie') if v.startswith(COOKIE_NAME + '='))


async def test_login_sets_a_hardened_cookie_and_redirects_home(settings: Settings) -> None:
    server = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            response = await http.post('/login', data={'password': PASSWORD})
            assert response.status_code == 303
            assert response.headers['location'] == '/'
            cookie = _cookie_header(response).lower()
            assert 'httponly' in cookie and 'samesite=lax' in cookie and 'path=/' in cookie
            assert f'max-age={int(settings.session_duration)}' in cookie
            assert 'secure' not in cookie.replace('nixfleet_session', '')
            spoofed = await http.post('/login', data={'password': PASSWORD}, headers={'X-Forwarded-Proto': 'https'})
            assert '; secure' not in _cookie_header(spoofed).lower()  # 127.0.0.1 is no trusted proxy here
        events = server.dashboard.stream.value.events
        assert any(e['action'] == 'login' and e['category'] == 'audit' for e in events)
        assert PASSWORD not in json.dumps(list(events))
    finally:
        await server.stop()


async def test_a_trusted_proxy_saying_https_makes_the_cookie_secure(settings: Settings) -> None:
    server = await start_server(settings.model_copy(update={'trusted_proxies': ['127.0.0.0/8']}))
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            behind_tls = await http.post('/login', data={'password': PASSWORD}, headers={'X-Forwarded-Proto': 'https'})
            assert '; secure' in _cookie_header(behind_tls).lower()
            plain = await http.post('/login', data={'password': PASSWORD}, headers={'X-Forwarded-Proto': 'http'})
            assert '; secure' not in _cookie_header(plain).lower()
    finally:
        await server.stop()


async def test_wrong_password_returns_to_the_form_without_a_cookie(settings: Settings) -> None:
    server = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            for form in ({'password': 'wrong'}, {}, {'password': PASSWORD * 10}):
                response = await http.post('/login', data=form)
                assert response.status_code == 303
                assert response.headers['location'] == '/login?error=credentials'
                assert COOKIE_NAME not in response.headers.get('set-cookie', '')
        failures = [e for e in server.dashboard.stream.value.events if e['action'] == 'login_failed']
        assert len(failures) == 3 and all(e['level'] == 'warn' for e in failures)
    finally:
        await server.stop()


async def test_totp_is_required_when_configured(settings: Settings) -> None:
    secret = pyotp.random_base32()
    server = await start_server(settings.model_copy(update={'totp_secret': SecretStr(secret)}))
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            without = await http.post('/login', data={'password': PASSWORD})
            assert without.headers['location'] == '/login?error=credentials'
            code = pyotp.TOTP(secret).now()
            wrong_password = await http.post('/login', data={'password': 'nope', 'totp': code})
            assert wrong_password.headers['location'] == '/login?error=credentials'
            ok = await http.post('/login', data={'password': PASSWORD, 'totp': code, 'next': '/history'})
            assert ok.headers['location'] == '/history'
            assert COOKIE_NAME in ok.headers['set-cookie']
    finally:
        await server.stop()


async def test_session_opens_the_sync_socket_and_logout_revokes_it(settings: Settings) -> None:
    """The admin session cookie is what the sync endpoint admits browsers with; a logout revokes it."""
    server = await start_server(settings)
    url = f'ws://127.0.0.1:{server.port}/api/sync'
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            login = await http.post('/login', data={'password': PASSWORD})
            cookie = _cookie_header(login).split(';', 1)[0]
            async with connect(url, additional_headers={'Cookie': cookie}) as ws:
                init = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert init['type'] == 'init'
            logout = await http.post('/logout', headers={'Cookie': cookie})
            assert logout.status_code == 303 and logout.headers['location'] == '/login?error=logged_out'
            assert f'{COOKIE_NAME}=""' in logout.headers['set-cookie'] or 'max-age=0' in logout.headers['set-cookie']
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers={'Cookie': cookie}):
                pass
        assert refused.value.response.status_code == 401
    finally:
        await server.stop()
