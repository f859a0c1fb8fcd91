"""`/api/tokens` in-process (the app, without a socket)
(docs/architecture.md#security, docs/architecture.md#api-and-cli, issue 7 scope 4, issue 8 scope 1 for tokens).

Proves that every route answers 401 JSON without credentials (never a redirect), accepts a session-less API token
created through the API itself and names it as the actor, refuses bad bodies, unknown ids and duplicate names with
the error envelope and a stable code, and that a revoked API token is refused at once.
"""

from __future__ import annotations

import pytest

from tests.security.helpers import admin_client, create_token
from tests.support import InProcess

ROUTES = [
    ('GET', '/api/tokens', None),
    ('POST', '/api/tokens', {'kind': 'api', 'name': 'ci'}),
    ('GET', '/api/tokens/api/abc', None),
    ('DELETE', '/api/tokens/agent/abc', None),
]


@pytest.mark.parametrize(('method', 'path', 'body'), ROUTES)
@pytest.mark.parametrize('token', [None, 'wrong', 'nfapi_' + 'x' * 43], ids=['none', 'wrong', 'unknown'])
async def test_every_route_needs_credentials(
    inproc: InProcess, method: str, path: str, body: dict | None, token: str | None
) -> None:
    async with admin_client(inproc, token) as client:
        response = await client.request(method, path, json=body)

    assert response.status_code == 401
    assert response.headers['www-authenticate'] == 'Bearer'
    assert response.json()['error']['code'] == 'unauthorized'
    assert all(e['action'] != 'token:create' for e in inproc.dashboard.stream.value.events)


async def test_an_api_token_created_through_the_api_authenticates_as_its_name(inproc: InProcess) -> None:
    ci = await create_token(inproc, kind='api', name='ci')
    assert ci['token'].startswith('nfapi_') and ci['created_by'] == 'api:admin'

    async with admin_client(inproc, ci['token']) as client:
        created = await client.post('/api/tokens', json={'kind': 'agent', 'hostname': 'web1'})
        listed = await client.get('/api/tokens')

    assert created.status_code == 201 and created.json()['created_by'] == 'api:ci'
    assert listed.status_code == 200
    tokens = listed.json()['tokens']
    assert [(t['kind'], t['hostname'], t['name']) for t in tokens] == [('agent', 'web1', None), ('api', None, 'ci')]
    assert all('token' not in t and 'token_hash' not in t for t in tokens)
    [ci_listed] = [t for t in tokens if t['kind'] == 'api']
    assert ci_listed['last_used_at'] is not None


@pytest.mark.parametrize(
    'body',
    [
        {'kind': 'agent'},
        {'kind': 'api'},
        {'kind': 'agent', 'hostname': 'web1', 'name': 'x'},
        {'kind': 'robot', 'name': 'x'},
        {'kind': 'api', 'name': 'ci', 'extra': 1},
        {'kind': 'agent', 'hostname': 'bad host'},
        {'kind': 'agent', 'hostname': 'x' * 65},
        {'kind': 'api', 'name': '-starts-with-dash'},
        [],
        'not an object',
    ],
)
async def test_bad_bodies_are_refused_with_the_envelope(inproc: InProcess, body: object) -> None:
    async with admin_client(inproc) as client:
        response = await client.post('/api/tokens', json=body)
        listed = await client.get('/api/tokens', params={'include_revoked': 'true'})

    assert response.status_code == 422
    assert response.json()['error']['code'] == 'invalid_request' and response.json()['error']['message']
    assert listed.json()['tokens'] == []


async def test_a_body_that_is_not_json_is_refused(inproc: InProcess) -> None:
    async with admin_client(inproc) as client:
        response = await client.post('/api/tokens', content=b'{nope', headers={'content-type': 'application/json'})

    assert response.status_code == 422 and response.json()['error']['code'] == 'invalid_request'


async def test_unknown_tokens_and_kinds(inproc: InProcess) -> None:
    async with admin_client(inproc) as client:
        missing = await client.delete('/api/tokens/agent/nope')
        missing_get = await client.get('/api/tokens/api/nope')
        bad_kind = await client.delete('/api/tokens/robot/nope')
        bad_filter = await client.get('/api/tokens', params={'kind': 'robot'})

    assert (missing.status_code, missing.json()['error']['code']) == (404, 'unknown_token')
    assert (missing_get.status_code, missing_get.json()['error']['code']) == (404, 'unknown_token')
    assert (bad_kind.status_code, bad_kind.json()['error']['code']) == (422, 'invalid_request')
    assert (bad_filter.status_code, bad_filter.json()['error']['code']) == (422, 'invalid_request')


async def test_names_are_unique_among_active_tokens(inproc: InProcess) -> None:
    first = await create_token(inproc, kind='api', name='ci')
    async with admin_client(inproc) as client:
        duplicate = await client.post('/api/tokens', json={'kind': 'api', 'name': 'ci'})
        assert (await client.delete(f'/api/tokens/api/{first["id"]}')).status_code == 200
        again = await client.post('/api/tokens', json={'kind': 'api', 'name': 'ci'})

    assert (duplicate.status_code, duplicate.json()['error']['code']) == (409, 'token_exists')
    assert again.status_code == 201 and again.json()['id'] != first['id']


async def test_a_revoked_api_token_is_refused_at_once_and_revoking_is_idempotent(inproc: InProcess) -> None:
    ci = await create_token(inproc, kind='api', name='ci')
    async with admin_client(inproc, ci['token']) as client:
        assert (await client.get('/api/tokens')).status_code == 200

    async with admin_client(inproc) as admin:
        first = await admin.delete(f'/api/tokens/api/{ci["id"]}')
        second = await admin.delete(f'/api/tokens/api/{ci["id"]}')
        listed = await admin.get('/api/tokens', params={'kind': 'api', 'include_revoked': 'true'})
        active = await admin.get('/api/tokens', params={'kind': 'api'})

    assert first.status_code == second.status_code == 200
    assert first.json()['revoked_at'] == second.json()['revoked_at'] is not None
    assert [t['active'] for t in listed.json()['tokens']] == [False]
    assert active.json()['tokens'] == []
    async with admin_client(inproc, ci['token']) as client:
        assert (await client.get('/api/tokens')).status_code == 401
    revokes = [e for e in inproc.dashboard.stream.value.events if e['action'] == 'token:revoke']
    assert len(revokes) == 1 and revokes[0]['actor'] == 'api:admin' and revokes[0]['category'] == 'audit'
