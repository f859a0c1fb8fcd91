"""Per-host agent tokens on a real server (docs/agent-protocol.md#connection-and-authentication, issue 7 scope 3 and
its acceptance).

Proves that:
- a per-host token registers its own host and cannot register as another one (close 4403, an event, no host row),
  nor evict the link of the host it names;
- a revoked token gets HTTP 401 on its next upgrade and its open link is closed: at once when revoked through the
  API, within the check interval when revoked by `nixfleet token revoke` from another process;
- the shared NIXFLEET_AGENT_TOKEN still registers any host without a per-host token (those with one: see
  tests/gateway/test_host_token_binding.py), and a host's shared-token link is closed (4403) once it gets its own
  token — at once through the API, within the check interval through the CLI;
- only a SHA-256 digest is stored, and the last-used time is kept and reaches the database.
"""

from __future__ import annotations

import hashlib

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from tests.security.helpers import admin_client, create_token, run_cli, run_cli_json, upgrade_status
from tests.support import FakeAgent, RunningServer, eventually, register_payload, start_server


def _events(server: RunningServer, action: str) -> list[dict]:
    return [e for e in server.dashboard.stream.value.events if e.get('action') == action]


async def test_a_host_token_registers_its_own_host(server: RunningServer) -> None:
    created = await create_token(server, kind='agent', hostname='web1')
    assert created['token'].startswith('nfagent_') and created['hostname'] == 'web1'

    agent = await FakeAgent(server.ws_url, 'web1', token=created['token']).connect()
    await agent.heartbeat()
    await eventually(lambda: server.dashboard.stream.value.hosts.get('web1', {}).get('connection') == 'online')
    await agent.close()


async def test_a_host_token_cannot_register_as_another_host(server: RunningServer) -> None:
    web1 = await create_token(server, kind='agent', hostname='web1')

    intruder = FakeAgent(server.ws_url, 'web2', token=web1['token'])
    await intruder.connect(register=False)
    await intruder.send('register', register_payload('web2'))

    assert await intruder.closed() == 4403
    assert 'web2' not in server.dashboard.stream.value.hosts
    refused = await eventually(lambda: _events(server, 'agent_refused'))
    assert refused[0]['host_id'] == 'web2' and 'web1' in refused[0]['message']


async def test_a_host_token_cannot_evict_the_host_it_does_not_own(server: RunningServer) -> None:
    web1 = await create_token(server, kind='agent', hostname='web1')
    web2 = await create_token(server, kind='agent', hostname='web2')
    owner = await FakeAgent(server.ws_url, 'web1', token=web1['token']).connect()

    impostor = FakeAgent(server.ws_url, 'web1', token=web2['token'])
    await impostor.connect(register=False)
    await impostor.send('register', register_payload('web1'))
    assert await impostor.closed() == 4403

    await owner.heartbeat(load=7.5)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts['web1'].get('metrics') or {}).get('load') == 7.5)
    assert server.dashboard.gateway.is_connected('web1')
    await owner.close()


async def test_revoking_through_the_api_closes_the_link_and_refuses_the_token(server: RunningServer) -> None:
    created = await create_token(server, kind='agent', hostname='web1')
    agent = await FakeAgent(server.ws_url, 'web1', token=created['token']).connect()

    async with admin_client(server) as client:
        response = await client.delete(f'/api/tokens/agent/{created["id"]}')
    assert response.status_code == 200
    assert response.json()['active'] is False and response.json()['revoked_by'] == 'api:admin'

    assert await agent.closed() == 1008
    assert await upgrade_status(server, created['token']) == 401
    await eventually(lambda: server.dashboard.stream.value.hosts['web1']['connection'] == 'offline')
    revoked = await eventually(lambda: _events(server, 'token:revoke'))
    assert revoked[0]['category'] == 'audit' and revoked[0]['actor'] == 'api:admin'
    assert created['token'] not in str(server.dashboard.stream.value.events)


async def test_revoking_another_token_of_the_host_keeps_the_link(server: RunningServer) -> None:
    old = await create_token(server, kind='agent', hostname='web1')
    new = await create_token(server, kind='agent', hostname='web1')
    agent = await FakeAgent(server.ws_url, 'web1', token=new['token']).connect()

    async with admin_client(server) as client:
        assert (await client.delete(f'/api/tokens/agent/{old["id"]}')).status_code == 200

    assert await upgrade_status(server, old['token']) == 401
    await agent.heartbeat(load=3.25)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts['web1'].get('metrics') or {}).get('load') == 3.25)
    assert server.dashboard.gateway.is_connected('web1')
    await agent.close()


async def test_a_cli_revocation_closes_the_link_of_a_running_dashboard(settings: Settings) -> None:
    dashboard = Dashboard(settings)
    dashboard.tokens.check_interval = 0.2
    server = await start_server(settings, dashboard)
    try:
        created = await run_cli_json(settings, 'create', '--host', 'web1')
        agent = await FakeAgent(server.ws_url, 'web1', token=created['token']).connect()

        code, _, err = await run_cli(settings, 'revoke', '--host', 'web1')
        assert code == 0, err

        assert await agent.closed(timeout=10) == 1008
        assert await upgrade_status(server, created['token']) == 401
        assert await eventually(lambda: _events(server, 'disconnect'))
    finally:
        await server.stop()


async def test_a_token_created_before_the_dashboard_starts_works(settings: Settings) -> None:
    created = await run_cli_json(settings, 'create', '--kind', 'agent', '--host', 'db1')
    server = await start_server(settings)
    try:
        agent = await FakeAgent(server.ws_url, 'db1', token=created['token']).connect()
        await agent.close()
    finally:
        await server.stop()


async def test_the_shared_token_still_registers_hosts_without_their_own_token(server: RunningServer) -> None:
    await create_token(server, kind='agent', hostname='web1')
    for hostname in ('web2', 'laptop'):
        agent = await FakeAgent(server.ws_url, hostname).connect()
        await agent.close()


async def test_giving_a_host_its_own_token_closes_its_shared_token_link(server: RunningServer) -> None:
    shared = await FakeAgent(server.ws_url, 'web1').connect()
    other = await FakeAgent(server.ws_url, 'web2').connect()

    await create_token(server, kind='agent', hostname='web1')

    assert await shared.closed() == 4403
    closed = await eventually(lambda: [e for e in _events(server, 'disconnect') if 'own agent token' in e['message']])
    assert closed[0]['host_id'] == 'web1' and closed[0]['level'] == 'warn'
    await other.heartbeat(load=2.5)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts['web2'].get('metrics') or {}).get('load') == 2.5)
    await other.close()


async def test_a_cli_created_host_token_closes_the_shared_link_of_a_running_dashboard(settings: Settings) -> None:
    dashboard = Dashboard(settings)
    dashboard.tokens.check_interval = 0.2
    server = await start_server(settings, dashboard)
    try:
        shared = await FakeAgent(server.ws_url, 'web1').connect()
        await run_cli_json(settings, 'create', '--host', 'web1')
        assert await shared.closed(timeout=10) == 4403
    finally:
        await server.stop()


async def test_only_a_digest_is_stored(server: RunningServer) -> None:
    created = await create_token(server, kind='agent', hostname='web1')

    rows = await server.dashboard.store.read(lambda db: list(db.table('host_tokens').rows))
    assert len(rows) == 1
    assert rows[0]['token_hash'] == hashlib.sha256(created['token'].encode()).hexdigest()
    assert all(created['token'] not in str(value) for value in rows[0].values())
    assert created['token'].startswith(rows[0]['prefix'])

    async with admin_client(server) as client:
        listed = (await client.get('/api/tokens')).text
    assert created['token'] not in listed and rows[0]['token_hash'] not in listed


async def test_last_used_is_kept_and_reaches_the_database(server: RunningServer) -> None:
    created = await create_token(server, kind='agent', hostname='web1')
    assert created['last_used_at'] is None

    agent = await FakeAgent(server.ws_url, 'web1', token=created['token']).connect()
    async with admin_client(server) as client:
        listed = (await client.get(f'/api/tokens/agent/{created["id"]}')).json()
    assert listed['last_used_at'] is not None
    await agent.close()

    await server.stop()  # shutdown writes the pending last-used times
    stored = await run_cli_json(server.dashboard.settings, 'list')
    [token] = stored['tokens']
    assert token['last_used_at'] >= listed['last_used_at']  # the link was in use until it closed


async def test_the_running_dashboard_learns_cli_token_changes_for_the_shared_token_check(settings: Settings) -> None:
    dashboard = Dashboard(settings)
    dashboard.tokens.check_interval = 0.2
    server = await start_server(settings, dashboard)
    try:
        shared = await FakeAgent(server.ws_url, 'web1').connect()
        await run_cli_json(settings, 'create', '--host', 'web1')
        assert await shared.closed(timeout=10) == 4403  # the check job saw the token the CLI created

        again = FakeAgent(server.ws_url, 'web1')  # the shared token
        await again.connect(register=False)
        await again.send('register', register_payload('web1'))
        assert await again.closed() == 4403

        code, _, err = await run_cli(settings, 'revoke', '--host', 'web1')
        assert code == 0, err
        await eventually(lambda: not dashboard.tokens.has_agent_token('web1'), timeout=10)
        agent = await FakeAgent(server.ws_url, 'web1').connect()
        await agent.close()
    finally:
        await server.stop()
