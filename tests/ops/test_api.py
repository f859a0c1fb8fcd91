"""The ops API (docs/architecture.md#api-and-cli): auth, dispatch, pipelines, command actions and output, error
envelope."""

from __future__ import annotations

import httpx

from tests.ops.helpers import Fleet, hang, ok
from tests.support import eventually

TOKEN = 'ops-test-api-token'


def client(fleet: Fleet, token: str | None = TOKEN) -> httpx.AsyncClient:
    fleet.dashboard.api_tokens['ci'] = TOKEN
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    return fleet.server.client(headers=headers)


async def test_api_requires_auth_with_json_401(fleet: Fleet) -> None:
    async with client(fleet, token=None) as anon, client(fleet, token='wrong') as wrong:
        for api in (anon, wrong):
            response = await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['web-01']})
            assert response.status_code == 401
            assert response.json()['error']['code'] == 'unauthorized'


async def test_dispatch_output_and_actions_over_http(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=ok, pull=hang)
    async with client(fleet) as api:
        body = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['web-01', 'ghost']})).json()
        assert body['status'] == 'partial' and body['summary'] == {'started': 1, 'blocked': 1, 'total': 2}
        started, ghost = body['results']
        assert ghost['code'] == 'unknown_host'
        cid = started['command_id']
        await fleet.ended(cid)
        command = (await api.get(f'/api/commands/{cid}')).json()
        assert command['status'] == 'SUCCESS' and command['success'] is True and command['actor'] == 'api:ci'
        output = await api.get(f'/api/commands/{cid}/output')
        assert 'running test' in output.text
        pull = (await api.post('/api/dispatch', json={'op': 'pull', 'hosts': ['web-01']})).json()['results'][0]
        busy = (await api.post('/api/dispatch', json={'op': 'test', 'hosts': ['web-01'], 'force': True})).json()
        assert busy['results'][0]['code'] == 'command_pending'
        waited = (await api.post(f'/api/commands/{pull["command_id"]}/wait', json={'minutes': 5})).json()
        assert waited['status'] == 'EXECUTING'
        cancelled = (await api.post(f'/api/commands/{pull["command_id"]}/cancel')).json()
        assert cancelled['status'] == 'CANCELLED'
        again = await api.post(f'/api/commands/{pull["command_id"]}/kill')
        assert again.status_code == 409 and again.json()['error']['code'] == 'invalid_state'
        unknown = await api.post('/api/dispatch', json={'op': 'nope', 'hosts': ['web-01']})
        assert unknown.status_code == 400 and unknown.json()['error']['code'] == 'unknown_op'
        reboot = await api.post('/api/dispatch', json={'op': 'reboot', 'hosts': ['web-01']})
        assert reboot.status_code == 403 and reboot.json()['error']['code'] == 'totp_required'
        invalid = await api.post('/api/dispatch', json={'hosts': ['web-01']})
        assert invalid.status_code == 422 and invalid.json()['error']['code'] == 'invalid_request'
        listed = (await api.get('/api/commands', params={'host': 'web-01'})).json()['commands']
        assert {c['op'] for c in listed} == {'test', 'pull'}
        ops = (await api.get('/api/ops')).json()
        assert {o['id'] for o in ops['ops']} >= {'pull', 'bump-flake', 'force-rebuild', 'merge-pr', 'remove'}


async def test_pipeline_routes(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(pull=hang)
    async with client(fleet) as api:
        started = await api.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': ['web-01']})
        assert started.status_code == 200
        pid = started.json()['pipeline']['id']
        await eventually(lambda: fleet.agents['web-01'].seen == ['pull'])
        assert (await api.get(f'/api/pipelines/{pid}')).json()['status'] == 'RUNNING'
        retry = await api.post(f'/api/pipelines/{pid}/retry-failed')
        assert retry.status_code == 409
        assert (await api.post(f'/api/pipelines/{pid}/cancel')).json()['cancel_requested'] is True
        cid = fleet.engine.lifecycle.active_for('web-01').id
        await api.post(f'/api/commands/{cid}/cancel')
        await eventually(lambda: fleet.dashboard.stream.value.pipelines[pid]['status'] == 'CANCELLED')
        assert [p['id'] for p in (await api.get('/api/pipelines')).json()['pipelines']] == [pid]
        missing = await api.get('/api/pipelines/p-nope')
        assert missing.status_code == 404 and missing.json()['error']['code'] == 'unknown_pipeline'
