"""Every `/api` route (docs/architecture.md#api-and-cli, issue 8): success, validation error and JSON 401, on a real
server with agents.

The table `ROUTES` names one request per route; a test checks it against the served OpenAPI schema, so a route
added without a row here fails. Deeper behaviour (filters, paging, follow, dispatch of host ops) is tested below.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nixfleet.config import Settings
from nixfleet.streams.changes import ChangeType
from tests.api.live_fleet import LiveFleet, live_fleet
from tests.support import PASSWORD, FakeAgent, RunningServer, eventually, send_output, send_status

#: One request per route: (method, path, JSON body). `{cmd}` and `{run}` are filled with real ids.
ROUTES: list[tuple[str, str, Any]] = [
    ('GET', '/api/hosts', None),
    ('GET', '/api/hosts/sim-01', None),
    ('GET', '/api/hosts/sim-01/metrics', None),
    ('DELETE', '/api/hosts/sim-01', None),
    ('PUT', '/api/hosts/sim-01/color', {'color': '#ff9e64'}),
    ('POST', '/api/hosts/sim-01/color', {'color': None}),
    ('GET', '/api/ops', None),
    ('POST', '/api/dispatch', {'op': 'test', 'hosts': ['sim-01']}),
    ('POST', '/api/dispatch/pipeline', {'pipeline': 'do-all', 'hosts': ['sim-02']}),
    ('GET', '/api/pipelines', None),
    ('GET', '/api/pipelines/{run}', None),
    ('POST', '/api/pipelines/{run}/cancel', None),
    ('POST', '/api/pipelines/{run}/retry-failed', None),
    ('POST', '/api/pipelines/{run}/continue', None),
    ('POST', '/api/pipelines/{run}/rollback-wave', None),
    ('GET', '/api/commands', None),
    ('GET', '/api/commands/{cmd}', None),
    ('GET', '/api/commands/{cmd}/output', None),
    ('POST', '/api/commands/{cmd}/wait', {'minutes': 5}),
    ('GET', '/api/events', None),
    ('GET', '/api/tokens', None),
    ('POST', '/api/tokens', {'kind': 'api', 'name': 'x'}),
    ('GET', '/api/tokens/api/abc', None),
    ('DELETE', '/api/tokens/api/abc', None),
    ('GET', '/metrics', None),
]

#: Requests each route must refuse as `invalid_request` (422) before doing anything.
INVALID: list[tuple[str, str, dict[str, Any]]] = [
    ('GET', '/api/hosts', {'params': {'connection': 'sideways'}}),
    ('PUT', '/api/hosts/sim-01/color', {'json': {'color': 'red'}}),
    ('POST', '/api/hosts/sim-01/color', {'json': {'color': '#fff', 'extra': 1}}),
    ('POST', '/api/hosts/sim-01/color', {'json': {}}),
    ('POST', '/api/dispatch', {'json': {'hosts': ['sim-01']}}),
    ('POST', '/api/dispatch', {'json': {'op': 'test', 'hosts': []}}),
    ('POST', '/api/dispatch/pipeline', {'json': {'pipeline': 'do-all', 'hosts': ['sim-01'], 'max_parallel': 0}}),
    ('GET', '/api/pipelines', {'params': {'limit': 0}}),
    ('GET', '/api/commands', {'params': {'limit': 0}}),
    ('GET', '/api/commands', {'params': {'status': 'DONE'}}),
    ('GET', '/api/commands', {'params': {'since': 'yesterday'}}),
    ('GET', '/api/commands', {'params': {'cursor': 'not-a-cursor'}}),
    ('GET', '/api/commands', {'params': {'cursor': 'WyJhIiwgImIiXQ', 'offset': 5}}),
    ('GET', '/api/commands/{cmd}/output', {'params': {'format': 'xml'}}),
    ('POST', '/api/commands/{cmd}/wait', {'json': {'minutes': 0}}),
    ('GET', '/api/events', {'params': {'level': 'loud'}}),
    ('GET', '/api/events', {'params': {'category': 'gossip'}}),
    ('GET', '/api/events', {'params': {'until': '0001-01-01T00:00:00+05:00'}}),
    ('GET', '/api/events', {'params': {'since': '1700000000'}}),
    ('GET', '/api/events', {'params': {'since': '2026-02-30'}}),
    ('PUT', '/api/hosts/sim-01/color', {'content': b'{not json', 'headers': {'content-type': 'application/json'}}),
    ('GET', '/api/events', {'params': {'cursor': 'WyJ4Il0'}}),
    ('GET', '/api/events', {'params': {'limit': 5000}}),
]


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveFleet]:
    """A served dashboard with three simulated agents (sim-01..03), online and idle."""
    async with live_fleet(settings) as fleet:
        yield fleet


async def _ids(live: LiveFleet, api: httpx.AsyncClient) -> dict[str, str]:
    """A finished command and a finished pipeline run to put into paths."""
    started = (await api.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': ['sim-03']})).json()
    run = started['pipeline']['id']
    await live.server.dashboard.ops.pipelines.wait(run)
    cmd = (await api.get('/api/commands', params={'pipeline': run, 'limit': 1})).json()['commands'][0]['id']
    return {'run': run, 'cmd': cmd}


def test_the_route_table_covers_every_route_in_the_schema(server: RunningServer) -> None:
    schema = server.server.config.app.openapi()  # type: ignore[attr-defined]
    served = {
        (method.upper(), path)
        for path, operations in schema['paths'].items()
        for method in operations
        if path.startswith('/api') or path == '/metrics'
    }
    generic = {
        (m, p.replace('sim-01', '{host_id}').replace('{run}', '{pipeline_id}').replace('{cmd}', '{command_id}'))
        for m, p, _ in ROUTES
    }
    generic = {
        (m, p.replace('/wait', '/{action}').replace('/api/tokens/api/abc', '/api/tokens/{kind}/{token_id}'))
        for m, p in generic
    }
    assert served == generic


@pytest.mark.parametrize('authorization', [None, 'Bearer wrong-token', 'Basic dXNlcjpwYXNz'])
async def test_every_route_answers_401_json_without_a_valid_token(
    server: RunningServer, authorization: str | None
) -> None:
    headers = {'Authorization': authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=server.http, headers=headers, follow_redirects=False) as anon:
        for method, path, body in ROUTES:
            path = path.format(run='p-x', cmd='c-x')
            response = await anon.request(method, path, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers['content-type'] == 'application/json'
            assert response.json()['error']['code'] == 'unauthorized', (method, path)
            assert response.headers['www-authenticate'] == 'Bearer'


async def _raw(server: RunningServer, request: bytes) -> tuple[bytes, bytes]:
    """Send bytes that no HTTP client would send; the status line and the body of the answer."""
    reader, writer = await asyncio.open_connection('127.0.0.1', server.port)
    writer.write(request)
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b'\r\n\r\n')
    return head.split(b'\r\n')[0], body


@pytest.mark.parametrize('header', [b'Authorization: Bearer \x0b', b'Authorization: \x00', b'Cookie: a=\x7f'])
async def test_a_request_that_is_not_valid_http_gets_the_documented_envelope(
    server: RunningServer, header: bytes
) -> None:
    status, body = await _raw(server, b'GET /api/hosts HTTP/1.1\r\nHost: x\r\n' + header + b'\r\n\r\n')

    assert status == b'HTTP/1.1 400 Bad Request'
    assert json.loads(body)['error']['code'] == 'malformed_request'
    schema = server.server.config.app.openapi()  # type: ignore[attr-defined]
    for path, operations in schema['paths'].items():  # every operation says so
        for method, operation in operations.items():
            documented = operation['responses'].get('400', {})
            assert 'malformed_request' in documented.get('description', ''), (method, path)
            assert documented['content']['application/json']['schema'] == {'$ref': '#/components/schemas/ErrorBody'}


@pytest.mark.parametrize(('method', 'path', 'request_kw'), INVALID, ids=[f'{m} {p} {k}' for m, p, k in INVALID])
async def test_invalid_requests_are_refused_with_the_envelope(
    live: LiveFleet, method: str, path: str, request_kw: dict[str, Any]
) -> None:
    async with live.client() as api:
        ids = await _ids(live, api) if '{' in path else {}
        response = await api.request(method, path.format(**ids), **request_kw)

    assert response.status_code == 422, response.text
    error = response.json()['error']
    assert error['code'] == 'invalid_request' and error['message']


async def test_every_route_succeeds_with_a_token(live: LiveFleet) -> None:
    async with live.client() as api:
        ids = await _ids(live, api)
        token = (await api.post('/api/tokens', json={'kind': 'api', 'name': 'routes'})).json()
        expected = {
            ('DELETE', '/api/hosts/sim-01'): 409,  # online: its removal is tested below
            ('POST', '/api/pipelines/{run}/cancel'): 409,  # finished: cancelling is tested in tests/ops
            ('POST', '/api/pipelines/{run}/retry-failed'): 409,  # nothing failed
            ('POST', '/api/pipelines/{run}/continue'): 409,  # not a halted rollout: tested in tests/ops/test_rollout.py
            ('POST', '/api/pipelines/{run}/rollback-wave'): 409,  # the same
            ('POST', '/api/commands/{cmd}/wait'): 409,  # finished
            ('GET', '/api/tokens/api/abc'): 404,
            ('DELETE', '/api/tokens/api/abc'): 404,
            ('POST', '/api/tokens'): 201,
        }
        for method, path, body in ROUTES:
            if path.startswith('/api/tokens/api/abc'):
                path = f'/api/tokens/api/{token["id"]}'
                expected[method, path] = 200
            response = await api.request(method, path.format(**ids), json=body)
            assert response.status_code == expected.get((method, path), 200), (method, path, response.text)
            if response.status_code >= 400:
                assert response.json()['error']['code'] in ('host_online', 'invalid_state')


# -- hosts -----------------------------------------------------------------------------------------------------
async def test_hosts_list_get_and_filter(live: LiveFleet) -> None:
    async with live.client() as api:
        listed = (await api.get('/api/hosts')).json()
        one = (await api.get('/api/hosts/sim-02')).json()
        offline = (await api.get('/api/hosts', params={'connection': 'offline'})).json()
        missing = await api.get('/api/hosts/ghost')

    assert [h['id'] for h in listed['hosts']] == ['sim-01', 'sim-02', 'sim-03']
    assert listed['counts'] == {'online': 3, 'stale': 0, 'offline': 0, 'total': 3}
    assert one['connection'] == 'online' and one['busy'] is False and 'test' in one['available_ops']
    assert set(one['compartments']) == {'agent', 'git', 'lock', 'system', 'tests'}
    assert offline['hosts'] == []
    assert missing.status_code == 404 and missing.json()['error']['code'] == 'unknown_host'


async def test_color_is_set_and_reset_through_dispatch(live: LiveFleet) -> None:
    agent_color = live.host('sim-01')['theme_color']
    async with live.client() as api:
        put = (await api.put('/api/hosts/sim-01/color', json={'color': '#FF9E64'})).json()
        after_put = (await api.get('/api/hosts/sim-01')).json()
        reset = (await api.post('/api/hosts/sim-01/color', json={'color': 'default'})).json()
        commands = (await api.get('/api/commands', params={'host': 'sim-01', 'op': 'set-color'})).json()
        ghost = await api.put('/api/hosts/ghost/color', json={'color': '#fff'})

    assert put['command']['op'] == 'set-color' and put['command']['status'] == 'SUCCESS'
    assert put['command']['actor'] == 'api:tests'
    assert after_put['theme_color'] == '#ff9e64' and after_put['color_source'] == 'dashboard'
    assert reset['host']['theme_color'] == agent_color and reset['host']['color_source'] == 'agent'
    assert commands['total'] == 2
    assert ghost.status_code == 404 and ghost.json()['error']['code'] == 'unknown_host'


async def test_color_is_refused_while_the_host_is_busy(live: LiveFleet) -> None:
    live.fleet.hosts['sim-01'].system.behaviour.slow_ops['test'] = 1000.0
    async with live.client() as api:
        await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['sim-01']})
        busy = await api.put('/api/hosts/sim-01/color', json={'color': '#123'})
        cid = live.host('sim-01')['command_id']
        await api.post(f'/api/commands/{cid}/cancel')

    assert busy.status_code == 409 and busy.json()['error']['code'] == 'command_pending'


async def test_an_offline_host_is_removed_with_its_commands_and_events_stay(server: RunningServer) -> None:
    server.dashboard.api_tokens['tests'] = 'tok'
    agent = await FakeAgent(server.ws_url, 'old-box').connect()
    await agent.heartbeat()
    await eventually(lambda: server.dashboard.stream.value.hosts.get('old-box', {}).get('lock_hash'))
    async with httpx.AsyncClient(base_url=server.http, headers={'Authorization': 'Bearer tok'}) as api:
        online = await api.delete('/api/hosts/old-box')
        test = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['old-box']})).json()['results'][0]
        await agent.expect('command')
        await send_status(agent, 'test')
        await server.dashboard.ops.lifecycle.wait_terminal(test['command_id'])
        await agent.close()
        await eventually(lambda: server.dashboard.stream.value.hosts['old-box']['connection'] == 'offline')
        removed = await api.delete('/api/hosts/old-box')
        gone = await api.get('/api/hosts/old-box')
        again = await api.delete('/api/hosts/old-box')
        commands = (await api.get('/api/commands', params={'host': 'old-box'})).json()
        events = (await api.get('/api/events', params={'host': 'old-box'})).json()

    assert online.status_code == 409 and online.json()['error']['code'] == 'host_online'
    assert removed.status_code == 200, removed.text
    assert removed.json()['command']['op'] == 'remove' and removed.json()['host'] is None
    assert gone.status_code == 404 and again.status_code == 404
    assert [c['op'] for c in commands['commands']] == ['remove']  # the others went with the host
    assert {'host_added', 'disconnect'} <= {e['action'] for e in events['events']}


async def test_a_browser_session_works_too(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http, follow_redirects=False) as browser:
        login = await browser.post('/login', data={'password': PASSWORD})
        assert login.status_code == 303
        hosts = await browser.get('/api/hosts')

    assert hosts.status_code == 200 and hosts.json()['hosts'] == []


# -- commands --------------------------------------------------------------------------------------------------
async def test_command_filters_and_cursor_paging(live: LiveFleet) -> None:
    async with live.client() as api:
        for host in ('sim-01', 'sim-02', 'sim-01'):
            result = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': [host]})).json()
            await live.server.dashboard.ops.lifecycle.wait_terminal(result['results'][0]['command_id'])
        await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['sim-03']})  # refused: TOTP, no command
        blocked = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['ghost']})).json()
        everything = (await api.get('/api/commands')).json()
        first = (await api.get('/api/commands', params={'limit': 2})).json()
        await api.post('/api/hosts/sim-02/color', json={'color': '#abc'})  # a newer command must not shift pages
        second = (await api.get('/api/commands', params={'limit': 2, 'cursor': first['next_cursor']})).json()
        by_offset = (await api.get('/api/commands', params={'limit': 2, 'offset': 2})).json()
        sim01 = (await api.get('/api/commands', params={'host': 'sim-01', 'status': ['SUCCESS', 'PARTIAL']})).json()
        since = everything['commands'][1]['created_at']
        window = (await api.get('/api/commands', params={'since': since, 'until': '2999-01-01'})).json()
        nothing = (await api.get('/api/commands', params={'op': 'switch'})).json()

    assert blocked['results'][0]['code'] == 'unknown_host'
    assert everything['total'] == 3 and everything['next_cursor'] is None
    assert [c['host_id'] for c in everything['commands']] == ['sim-01', 'sim-02', 'sim-01']  # newest first
    assert [c['id'] for c in first['commands'] + second['commands']] == [c['id'] for c in everything['commands']]
    assert second['next_cursor'] is None and second['total'] == 4
    assert [c['id'] for c in by_offset['commands']][:1] == [everything['commands'][1]['id']]
    assert sim01['total'] == 2 and {c['status'] for c in sim01['commands']} == {'SUCCESS'}
    assert [c['id'] for c in window['commands']][-2:] == [c['id'] for c in everything['commands'][:2]]
    assert nothing == {'commands': [], 'total': 0, 'limit': 100, 'offset': 0, 'next_cursor': None}


async def test_pipeline_filter_lists_the_commands_of_one_run(live: LiveFleet) -> None:
    async with live.client() as api:
        run = await api.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': ['sim-01', 'sim-02']})
        run_id = run.json()['pipeline']['id']
        await live.server.dashboard.ops.pipelines.wait(run_id)
        page = (await api.get('/api/commands', params={'pipeline': run_id})).json()

    assert page['total'] == 6
    assert {(c['op'], c['host_id']) for c in page['commands']} == {
        (op, host) for op in ('pull', 'switch', 'test') for host in ('sim-01', 'sim-02')
    }


async def test_output_as_text_and_ndjson(live: LiveFleet) -> None:
    async with live.client() as api:
        result = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['sim-02']})).json()
        cid = result['results'][0]['command_id']
        await live.server.dashboard.ops.lifecycle.wait_terminal(cid)
        text = await api.get(f'/api/commands/{cid}/output')
        ndjson = await api.get(f'/api/commands/{cid}/output', params={'format': 'ndjson'})
        missing = await api.get('/api/commands/nope/output')

    assert text.headers['content-type'].startswith('text/plain')
    assert '# Command: test' in text.text and 'T08 PASS' in text.text
    records = [httpx.Response(200, content=line).json() for line in ndjson.text.splitlines()]
    assert ndjson.headers['content-type'] == 'application/x-ndjson'
    assert records[0] == {'type': 'line', 'ts': None, 'stream': 'meta', 'line': f'Command: test ({cid})'}
    assert any(r.get('line') == 'T08 PASS' and r['stream'] == 'stdout' for r in records)
    assert records[-1]['type'] == 'status' and records[-1]['command']['status'] == 'SUCCESS'
    assert missing.status_code == 404 and missing.json()['error']['code'] == 'unknown_command'


async def _follow(api: httpx.AsyncClient, cid: str, output_format: str) -> list[str]:
    params = {'follow': 'true', 'format': output_format}
    async with api.stream('GET', f'/api/commands/{cid}/output', params=params) as response:
        assert response.status_code == 200
        return [line async for line in response.aiter_lines()]


@pytest.mark.parametrize('output_format', ['text', 'ndjson'])
async def test_follow_streams_output_from_before_and_after_until_the_command_ends(
    server: RunningServer, output_format: str
) -> None:
    server.dashboard.api_tokens['tests'] = 'tok'
    agent = await FakeAgent(server.ws_url, 'web1').connect()
    await agent.heartbeat()
    await eventually(lambda: server.dashboard.stream.value.hosts.get('web1', {}).get('lock_hash'))
    async with httpx.AsyncClient(base_url=server.http, headers={'Authorization': 'Bearer tok'}, timeout=10) as api:
        cid = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['web1']})).json()['results'][0][
            'command_id'
        ]
        await agent.expect('command')
        await send_output(agent, 'before the follower')
        log = server.dashboard.ops.logs.path_for('web1', cid)
        await eventually(lambda: log.exists() and 'before the follower' in log.read_text())  # written before we follow
        follower = asyncio.create_task(_follow(api, cid, output_format))
        await send_output(agent, 'while following 1', 'while following 2')
        await send_output(agent, 'to stderr', stream='stderr')
        await send_status(agent, 'test')
        lines = await asyncio.wait_for(follower, 10)
        late = await _follow(api, cid, output_format)  # a finished command: everything at once, then the end
    await agent.close()

    if output_format == 'text':
        body = [line.split('] ', 1)[-1] for line in lines if not line.startswith('#')]
        assert body == ['before the follower', 'while following 1', 'while following 2', '[ERR] to stderr']
        assert lines[-1].startswith('# Finished:') and 'SUCCESS' in lines[-1]
    else:
        records = [httpx.Response(200, content=line).json() for line in lines]
        said = [(r['stream'], r['line']) for r in records if r['type'] == 'line' and r['stream'] != 'meta']
        assert said == [
            ('stdout', 'before the follower'),
            ('stdout', 'while following 1'),
            ('stdout', 'while following 2'),
            ('stderr', 'to stderr'),
        ]
        assert records[-1]['type'] == 'status' and records[-1]['command']['terminal'] is True
    assert late == lines


async def test_a_log_read_says_the_sync_version_its_lines_are_exact_for(server: RunningServer) -> None:
    """A client that follows deltas and reads the log to catch up skips the deltas up to that version, and no more."""
    server.dashboard.api_tokens['tests'] = 'tok'
    agent = await FakeAgent(server.ws_url, 'web1').connect()
    await agent.heartbeat()
    await eventually(lambda: server.dashboard.stream.value.hosts.get('web1', {}).get('lock_hash'))
    deltas: list[tuple[int, list[str]]] = []
    subscription = server.dashboard.stream.deltas.subscribe(
        lambda d: (
            deltas.append((d.version, [e['line'] for e in d.change.payload['lines']]))
            if d.change.type is ChangeType.COMMAND_OUTPUT
            else None
        )
    )
    logs = server.dashboard.ops.logs
    written, publish = threading.Event(), threading.Event()
    append_all = logs._files.append_all

    def held_after_writing(batches: list[tuple[Path, str]]) -> None:  # a flush between its write and its publish
        append_all(batches)
        written.set()
        publish.wait(10)

    async with httpx.AsyncClient(base_url=server.http, headers={'Authorization': 'Bearer tok'}, timeout=10) as api:
        response = await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['web1']})
        cid = response.json()['results'][0]['command_id']
        await agent.expect('command')
        await send_output(agent, 'published before the read')
        await eventually(lambda: any('published before the read' in lines for _, lines in deltas))
        logs._files.append_all = held_after_writing  # type: ignore[method-assign]
        await send_output(agent, 'written, not yet published')
        await eventually(written.is_set)
        read = asyncio.create_task(api.get(f'/api/commands/{cid}/output', params={'format': 'ndjson'}))
        publish.set()
        records = [json.loads(line) for line in (await read).text.splitlines()]
        await send_output(agent, 'after the read')
        await eventually(lambda: any('after the read' in lines for _, lines in deltas))
    subscription.dispose()
    await agent.close()

    version = records[-1]['version']
    assert [r['line'] for r in records if r['type'] == 'line'] == [
        line for v, lines in deltas if v <= version for line in lines
    ]
    assert [line for v, lines in deltas if v > version for line in lines] == ['after the read']


# -- events ----------------------------------------------------------------------------------------------------
async def test_event_filters_and_paging(live: LiveFleet) -> None:
    async with live.client() as api:
        await api.post('/api/hosts/sim-01/color', json={'color': '#123456'})
        await api.post('/api/dispatch', json={'op': 'nope', 'hosts': ['sim-01']})
        everything = (await api.get('/api/events', params={'limit': 1000})).json()
        ops = (await api.get('/api/events', params={'action': 'op:*', 'host': 'sim-01'})).json()
        audit = (await api.get('/api/events', params={'category': 'audit', 'actor': 'api:tests'})).json()
        levels = (await api.get('/api/events', params={'level': ['success', 'warn']})).json()
        pages, cursor = [], None
        while True:
            page = (await api.get('/api/events', params={'limit': 2, **({'cursor': cursor} if cursor else {})})).json()
            pages.append(page)
            if (cursor := page['next_cursor']) is None:
                break
        middle = everything['events'][len(everything['events']) // 2]['timestamp']
        older = (await api.get('/api/events', params={'until': middle})).json()
        newer = (await api.get('/api/events', params={'since': middle})).json()
        skipped = (await api.get('/api/events', params={'offset': 1, 'limit': 1})).json()

    events = everything['events']
    assert everything['total'] == len(events) >= 6
    assert [e['id'] for e in events] == sorted((e['id'] for e in events), reverse=True)
    assert {e['action'] for e in ops['events']} == {'op:set-color'} and ops['total'] == 2
    assert audit['events'] and all(e['category'] == 'audit' and e['actor'] == 'api:tests' for e in audit['events'])
    assert levels['events'] and {e['level'] for e in levels['events']} <= {'success', 'warn'}
    assert [e['id'] for p in pages for e in p['events']] == [e['id'] for e in events]
    assert older['total'] + newer['total'] == everything['total']
    assert all(e['timestamp'] < middle for e in older['events'])
    assert skipped['events'][0]['id'] == events[1]['id'] and skipped['next_cursor'] is not None
