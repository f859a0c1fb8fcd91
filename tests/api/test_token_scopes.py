"""API token scopes (issue 15 item 9): a `read` token reads everything and changes nothing; `operate` also dispatches.

On a real server with a real SQLite file: a `read` token gets 403 with the error envelope on dispatch and every
mutating route (and on token management, so it cannot mint itself an `operate` token) while hosts, commands, events,
ops, pipelines, `/metrics` and `/api/sync` answer it; an `operate` token dispatches; tokens stored before scopes
existed are `operate`; revoking an API token closes the `/api/sync` links that use it, at once through the API and
within one `maintain` round when revoked by another process; last-used times reach the database at most once a
minute per token (virtual time), an open sync link counting as use.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlite_utils import Database
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.security.tokens import TokenKind, digest, get_token
from nixfleet.store.schema import migrations
from nixfleet.timeutil import iso
from tests.security.helpers import admin_client, create_token, run_cli, run_cli_json
from tests.support import FakeAgent, ManualClock, RunningServer, eventually, start_server

#: Every route that changes something, with a body that would be accepted (a `read` token must never get past auth).
MUTATING = [
    ('POST', '/api/dispatch', {'op': 'pull', 'hosts': ['web1']}),
    ('POST', '/api/dispatch/pipeline', {'pipeline': 'do-all', 'hosts': ['web1']}),
    ('POST', '/api/pipelines/p1/cancel', None),
    ('POST', '/api/pipelines/p1/retry-failed', None),
    ('POST', '/api/commands/c1/kill', None),
    ('POST', '/api/commands/c1/cancel', None),
    ('DELETE', '/api/hosts/web1', None),
    ('PUT', '/api/hosts/web1/color', {'color': '#ff9e64'}),
    ('POST', '/api/hosts/web1/color', {'color': '#ff9e64'}),
    ('POST', '/api/tokens', {'kind': 'api', 'name': 'escalate', 'scope': 'operate'}),
    ('DELETE', '/api/tokens/api/abc', None),
    ('POST', '/api/no-such-route', None),
]
#: Reads a `read` token may make.
READS = ['/api/hosts', '/api/hosts/web1', '/api/commands', '/api/events', '/api/ops', '/api/pipelines', '/metrics']


async def online_host(server: RunningServer, host: str = 'web1') -> FakeAgent:
    """A fake agent registered and heartbeating: a host ops can run on."""
    agent = await FakeAgent(server.ws_url, host).connect()
    await agent.heartbeat()
    await eventually(lambda: (server.dashboard.stream.value.hosts.get(host) or {}).get('connection') == 'online')
    return agent


def sync_socket(server: RunningServer, token: str) -> Any:
    """An `/api/sync` WebSocket authenticated with `token`."""
    return connect(f'ws://127.0.0.1:{server.port}/api/sync', additional_headers={'Authorization': f'Bearer {token}'})


async def first_message(ws: ClientConnection) -> dict[str, Any]:
    """The first sync message (`init`)."""
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))


async def close_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Read until the server closes the socket; return its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None, 'the socket ended without a close frame from the server'
    return closed.value.rcvd.code


@pytest.mark.parametrize(('method', 'path', 'body'), MUTATING, ids=[f'{m} {p}' for m, p, _ in MUTATING])
async def test_a_read_token_is_refused_on_every_change(
    server: RunningServer, method: str, path: str, body: dict[str, Any] | None
) -> None:
    agent = await online_host(server)
    reader = await create_token(server, kind='api', name='dash', scope='read')
    assert reader['scope'] == 'read'

    async with admin_client(server, reader['token']) as client:
        response = await client.request(method, path, json=body)

    assert response.status_code == 403, response.text
    error = response.json()['error']
    assert error['code'] == 'forbidden' and 'operate' in error['message']
    assert reader['token'] not in response.text
    assert server.dashboard.ops.lifecycle.active_for('web1') is None
    assert 'web1' in server.dashboard.stream.value.hosts
    assert [e['action'] for e in server.dashboard.stream.value.events if e['actor'] == 'api:dash'] == []
    await agent.close()


async def test_a_read_token_reads_hosts_commands_events_metrics_and_sync(server: RunningServer) -> None:
    agent = await online_host(server)
    reader = await create_token(server, kind='api', name='grafana', scope='read')

    async with admin_client(server, reader['token']) as client:
        answers = {path: await client.get(path) for path in READS}
        listing = await client.get('/api/tokens')
    async with sync_socket(server, reader['token']) as ws:
        init = await first_message(ws)

    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(READS, 200)
    assert [h['id'] for h in answers['/api/hosts'].json()['hosts']] == ['web1']
    assert 'nixfleet_hosts' in answers['/metrics'].text
    assert init['type'] == 'init' and [h['id'] for h in init['payload']['state']['hosts']] == ['web1']
    assert listing.status_code == 403 and listing.json()['error']['code'] == 'forbidden'
    await agent.close()


async def test_an_operate_token_dispatches(server: RunningServer) -> None:
    agent = await online_host(server)
    operator = await create_token(server, kind='api', name='ci', scope='operate')

    async with admin_client(server, operator['token']) as client:
        response = await client.post('/api/dispatch', json={'op': 'check-version', 'hosts': ['web1']})

    assert response.status_code == 200, response.text
    command = await agent.expect('command')
    assert command['payload']['command'] == 'check-version'
    assert server.dashboard.ops.lifecycle.active_for('web1') is not None
    await agent.close()


async def test_a_token_created_without_a_scope_operates(server: RunningServer) -> None:
    created = await create_token(server, kind='api', name='legacy')
    assert created['scope'] == 'operate'


async def test_tokens_stored_before_scopes_existed_become_operate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    db = Database(settings.database_path)
    migrations.apply(db, stop_before='m006_api_token_scope')
    secret = 'nfapi_' + 'o' * 43
    db.table('api_tokens').insert(
        {'id': 'old1', 'name': 'old-ci', 'token_hash': digest(secret), 'prefix': 'nfapi_oooooo', 'created_at': 'x'}
    )
    db.conn.close()

    server = await start_server(settings)
    try:
        agent = await online_host(server)
        async with admin_client(server, secret) as client:
            response = await client.post('/api/dispatch', json={'op': 'check-version', 'hosts': ['web1']})
        listed = await server.dashboard.tokens.records()
        await agent.close()
    finally:
        await server.stop()

    assert response.status_code == 200, response.text
    assert [(r.subject, r.scope and r.scope.value) for r in listed] == [('old-ci', 'operate')]


async def test_revoking_an_api_token_closes_its_sync_links_at_once(server: RunningServer) -> None:
    reader = await create_token(server, kind='api', name='watcher', scope='read')
    other = await create_token(server, kind='api', name='other', scope='read')

    async with sync_socket(server, reader['token']) as ws, sync_socket(server, other['token']) as kept:
        await first_message(ws)
        await first_message(kept)
        async with admin_client(server) as admin:
            revoked = await admin.delete(f'/api/tokens/api/{reader["id"]}')
        assert revoked.status_code == 200
        assert await close_code(ws) == 1008
        await kept.send(json.dumps({'type': 'get_state'}))
        while (await first_message(kept))['type'] != 'full_state':
            pass  # the other token's link is untouched

    async with admin_client(server, reader['token']) as client:
        assert (await client.get('/api/hosts')).status_code == 401


async def test_a_revocation_by_another_process_closes_the_sync_link_at_the_next_check(
    server: RunningServer, settings: Settings
) -> None:
    reader = await create_token(server, kind='api', name='watcher', scope='read')

    async with sync_socket(server, reader['token']) as ws:
        await first_message(ws)
        code, _, err = await run_cli(settings, 'revoke', '--name', 'watcher')
        assert code == 0, err
        await server.dashboard.tokens.maintain()  # what the dashboard runs every few seconds
        assert await close_code(ws) == 1008


async def test_the_cli_creates_and_lists_scoped_tokens(server: RunningServer, settings: Settings) -> None:
    created = await run_cli_json(settings, 'create', '--name', 'board', '--scope', 'read')
    listed = await run_cli_json(settings, 'list')
    code, _, err = await run_cli(settings, 'create', '--host', 'web1', '--scope', 'read')

    assert created['scope'] == 'read' and created['token'].startswith('nfapi_')
    assert [(t['name'], t['scope']) for t in listed['tokens']] == [('board', 'read')]
    assert code == 2 and 'scope' in err
    async with admin_client(server, created['token']) as client:
        assert (await client.post('/api/dispatch', json={'op': 'pull', 'hosts': ['web1']})).status_code == 403
        assert (await client.get('/api/hosts')).status_code == 200


async def test_last_used_reaches_the_database_at_most_once_a_minute(settings: Settings) -> None:
    clock = ManualClock()
    server = await start_server(settings, Dashboard(settings, clock))
    tokens = server.dashboard.tokens

    async def stored(token_id: str) -> str | None:
        record = await server.dashboard.store.read(lambda db: get_token(db, TokenKind.API, token_id))
        assert record is not None
        return record.last_used_at

    try:
        reader = await create_token(server, kind='api', name='poller', scope='read')
        start = clock()
        async with admin_client(server, reader['token']) as client:
            assert (await client.get('/api/hosts')).status_code == 200
            await tokens.maintain()
            assert await stored(reader['id']) == iso(start)

            clock.advance(10)
            assert (await client.get('/api/hosts')).status_code == 200
            await tokens.maintain()
            assert await stored(reader['id']) == iso(start), 'written again within a minute'
            [listed] = [r for r in await tokens.records() if r.id == reader['id']]
            assert listed.last_used_at == iso(start + 10)  # the list shows the newest use all the same

            clock.advance(55)
            await tokens.maintain()
            assert await stored(reader['id']) == iso(start + 10)

        async with sync_socket(server, reader['token']) as ws:  # a long-lived link is in use while it is open
            await first_message(ws)
            clock.advance(120)
            await tokens.maintain()
            assert await stored(reader['id']) == iso(start + 185)
    finally:
        await server.stop()
