"""Secrets never in events, the database, API answers or error messages (docs/architecture.md#security, issue 7 scope
7).

A scenario presents every configured secret in the wrong places — the agent token as a password and as an API
token, the password as an agent token and a TOTP code, the session secret as a cookie, created tokens where the
other kind belongs — next to the right uses (logins with TOTP, agents, token creation and revocation, a reboot).
Then every answer (except the one that hands out a new token), every row of every table, and the journaled events
must contain none of them. The log side is the session-wide scan in tests/conftest.py (tests/security/secret_scan.py).
"""

from __future__ import annotations

import httpx
import pyotp
from pydantic import SecretStr
from sqlite_utils import Database

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from tests.security.helpers import ADMIN_TOKEN, admin_client, create_token, upgrade_status
from tests.support import (
    AGENT_TOKEN,
    PASSWORD,
    PASSWORD_HASH,
    SESSION_SECRET,
    Dashboards,
    ManualClock,
    start_in_process,
)

TOTP_SECRET = pyotp.random_base32()


def _dump(db: Database) -> str:
    """Every row of every table, as text."""
    return '\n'.join(str(row) for name in db.table_names() for row in db.table(name).rows)


async def _scenario(server: Dashboards, clock: ManualClock) -> tuple[list[str], list[str]]:
    """Run the scenario; return the secrets involved and the text of every answer that must not hold one."""
    answers: list[httpx.Response] = []
    agent_token = (await create_token(server, kind='agent', hostname='web1'))['token']
    api_token = (await create_token(server, kind='api', name='ci'))['token']
    async with server.client() as http:
        answers.append(await http.post('/login', data={'password': AGENT_TOKEN}))
        answers.append(await http.post('/login', data={'password': PASSWORD, 'totp': PASSWORD}))
        code = pyotp.TOTP(TOTP_SECRET).at(clock())
        answers.append(await http.post('/login', data={'password': PASSWORD, 'totp': code}))
        for bearer in (AGENT_TOKEN, SESSION_SECRET, agent_token, PASSWORD):
            answers.append(await http.get('/api/hosts', headers={'Authorization': f'Bearer {bearer}'}))
        answers.append(await http.get('/api/hosts', headers={'Cookie': f'nixfleet_session={SESSION_SECRET}'}))
        answers.append(await http.get('/metrics', headers={'Authorization': f'Bearer {AGENT_TOKEN}'}))
    for token in (api_token, PASSWORD, SESSION_SECRET):
        assert await upgrade_status(server, token) == 401
    agent = await server.agent('web1', token=agent_token).connect()
    await agent.heartbeat()
    async with admin_client(server) as api:
        clock.advance(30)
        for totp in (PASSWORD, AGENT_TOKEN, pyotp.TOTP(TOTP_SECRET).at(clock())):
            answers.append(await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['web1'], 'totp': totp}))
        tokens = (await api.get('/api/tokens', params={'all': 'true'})).json()
        for record in tokens['tokens']:
            answers.append(await api.delete(f'/api/tokens/{record["kind"]}/{record["id"]}'))
        for path in ('/api/hosts', '/api/hosts/web1', '/api/events', '/api/commands', '/api/tokens', '/api/ops',
                     '/api/pipelines', '/metrics', '/health', '/openapi.json'):  # fmt: skip
            answers.append(await api.get(path))
    await agent.close()
    secrets = [AGENT_TOKEN, PASSWORD, PASSWORD_HASH, SESSION_SECRET, TOTP_SECRET, ADMIN_TOKEN, agent_token, api_token]
    texts = [f'{a.status_code} {a.headers} {a.text}' for a in answers]
    return secrets, texts


async def test_no_secret_in_answers_events_or_the_database(settings: Settings) -> None:
    clock = ManualClock()
    configured = settings.model_copy(update={'totp_secret': SecretStr(TOTP_SECRET)})
    server = await start_in_process(configured, Dashboard(configured, clock))
    try:
        secrets, answers = await _scenario(server, clock)
        await server.dashboard.security.drain()
        events = str(server.dashboard.stream.value.events)
        stored = server.dashboard.store.read_sync(_dump)
    finally:
        await server.stop()
    assert 'totp_refused' in events and 'login_failed' in events  # the scenario did reach the journal
    for secret in secrets:
        assert secret not in events, secret[:6]
        assert secret not in stored, secret[:6]
        for answer in answers:
            assert secret not in answer, (secret[:6], answer[:300])
