"""`nixfleet demo` in-process: its own version.json and GitHub API, simulated agents tracking them, Do All and
Merge & Deploy turning every compartment green — checked through the public API (`/api/sync`, `/api/dispatch`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from nixfleet.agent import AGENT_VERSION
from nixfleet.demo import Demo, build_demo, demo_settings, listening_socket
from nixfleet.security.tokens import TokenKind, TokenScope
from nixfleet.server import uvicorn_config
from tests.support import eventually, free_port

API_TOKEN = 'demo-test-api-token'
HOSTS = ['atlas', 'hyperion', 'edge-fra1']
GREEN = dict.fromkeys(('agent', 'git', 'lock', 'system', 'tests'), 'ok')


@dataclass
class RunningDemo:
    """The demo served by uvicorn on the test's loop, and an authenticated HTTP client for it."""

    demo: Demo
    port: int
    http: httpx.AsyncClient

    async def state(self) -> dict[str, Any]:
        """The fleet state as a sync client gets it (`init` on `/api/sync`)."""
        headers = {'Authorization': f'Bearer {API_TOKEN}'}
        async with connect(f'ws://127.0.0.1:{self.port}/api/sync', additional_headers=headers) as ws:
            message = json.loads(await ws.recv())
        assert message['type'] == 'init'
        return message['payload']['state']  # type: ignore[no-any-return]

    async def compartments(self) -> dict[str, dict[str, str]]:
        hosts = (await self.state())['hosts']
        return {h['id']: {n: c['status'] for n, c in (h.get('compartments') or {}).items()} for h in hosts}

    async def run_pipeline(self, name: str) -> dict[str, Any]:
        reply = await self.http.post('/api/dispatch/pipeline', json={'pipeline': name, 'hosts': HOSTS})
        assert reply.status_code == 200, reply.text
        run_id = reply.json()['pipeline']['id']

        async def ended() -> dict[str, Any] | None:
            run = (await self.http.get(f'/api/pipelines/{run_id}')).json()
            return run if run['status'] != 'RUNNING' else None

        return await eventually(ended, timeout=60, interval=0.1)  # type: ignore[no-any-return]


@pytest.fixture
async def running(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningDemo]:
    """`nixfleet demo` with 3 fast agents on a free port (no UI, no timer: the test advances the repo)."""
    port = free_port()
    monkeypatch.setenv('NIXFLEET_DATA_DIR', str(tmp_path / 'data'))
    monkeypatch.setenv('NIXFLEET_DEMO_PASSWORD', 'demo-password')
    monkeypatch.setenv('NIXFLEET_SIM_SPEED', '100')
    settings, _ = demo_settings(f'127.0.0.1:{port}')
    demo = build_demo(settings, agents=len(HOSTS), with_ui=False, advance_every=0)
    demo.dashboard.api_tokens['test'] = API_TOKEN
    demo.dashboard.github.recheck_delay = 0
    config = uvicorn_config(demo.app, settings, host='127.0.0.1', port=port, log_level='warning')
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening_socket(settings)]))
    await eventually(lambda: server.started or serving.done(), timeout=15)
    await demo.start()
    headers = {'Authorization': f'Bearer {API_TOKEN}'}
    async with httpx.AsyncClient(base_url=f'http://127.0.0.1:{port}', headers=headers, timeout=10) as http:
        running = RunningDemo(demo, port, http)
        await eventually(lambda: _all_registered(running), timeout=15, interval=0.1)
        yield running
    await demo.stop()
    server.should_exit = True
    await asyncio.wait_for(serving, 15)


async def test_the_demo_serves_its_own_version_json_and_github_api(running: RunningDemo) -> None:
    anonymous = httpx.AsyncClient(base_url=running.http.base_url)
    async with anonymous:
        version = (await anonymous.get('/demo/version.json')).json()
        assert set(version) == {'gitCommit', 'message', 'branch', 'timestamp', 'repo', 'lockHash', 'agentVersion'}
        assert version['agentVersion'] == {'python': AGENT_VERSION}  # the simulated agents' release
        assert (await anonymous.get('/demo/github/repos/demo/nixcfg/pulls')).status_code == 401
        assert (await anonymous.post('/demo/advance')).status_code == 401

    state = await eventually(running.state)
    assert state['fleet']['remote']['commit'] == version['gitCommit']
    assert state['fleet']['github']['configured'] is True and state['fleet']['github']['error'] is None


async def test_advancing_the_demo_repo_needs_a_token_that_may_change_things(running: RunningDemo) -> None:
    tokens = running.demo.dashboard.tokens
    reader = await tokens.create(TokenKind.API, 'reader', actor='test', scope=TokenScope.READ)
    before = (await running.http.get('/demo/version.json')).json()['gitCommit']
    as_reader = {'Authorization': f'Bearer {reader.secret}'}
    refused = await running.http.post('/demo/advance', headers=as_reader)
    assert refused.status_code == 403
    assert refused.json()['error']['code'] == 'forbidden'
    assert (await running.http.get('/demo/version.json')).json()['gitCommit'] == before

    advanced = await running.http.post('/demo/advance')  # the fixture's token may operate
    assert advanced.status_code == 200
    assert advanced.json()['version']['gitCommit'] != before


async def test_hosts_start_behind_do_all_makes_them_green_and_an_advance_makes_them_behind(
    running: RunningDemo,
) -> None:
    async def behind() -> bool:
        found = await running.compartments()
        return set(found) == set(HOSTS) and all(c.get('git') == 'outdated' for c in found.values())

    await eventually(behind, timeout=15, interval=0.1)
    advanced = (await running.http.post('/demo/advance')).json()['version']
    await eventually(lambda: _commit_is(running, advanced['gitCommit']), timeout=10, interval=0.05)
    assert await behind()

    run = await running.run_pipeline('do-all')
    assert run['status'] == 'COMPLETE', run

    async def green() -> bool:
        return all(c == GREEN for c in (await running.compartments()).values())

    await eventually(green, timeout=15, interval=0.1)
    hosts = {h['id']: h for h in (await running.state())['hosts']}
    assert {h['generation'] for h in hosts.values()} == {advanced['gitCommit'][:7]}
    assert {h['lock_hash'] for h in hosts.values()} == {advanced['lockHash']}

    await running.http.post('/demo/advance')
    await eventually(behind, timeout=10, interval=0.05)


async def test_merge_and_deploy_merges_the_simulated_flake_pr_and_deploys_it(running: RunningDemo) -> None:
    async def mergeable() -> dict[str, Any] | None:
        pending = (await running.state())['fleet'].get('pending_pr')
        return pending if pending and pending['can_merge'] else None

    pending = await eventually(mergeable, timeout=10, interval=0.1)
    before = (await running.http.get('/demo/version.json')).json()

    run = await running.run_pipeline('merge-deploy')

    assert run['status'] == 'COMPLETE', run
    after = (await running.http.get('/demo/version.json')).json()
    assert after['lockHash'] != before['lockHash'] and after['message'].startswith(
        f'Merge pull request #{pending["number"]}'
    )
    state = await running.state()
    assert state['fleet']['pending_pr'] is None
    assert state['fleet']['remote']['commit'] == after['gitCommit']
    for host in state['hosts']:
        assert (host['generation'], host['lock_hash']) == (after['gitCommit'][:7], after['lockHash'])
    assert all(c == GREEN for c in (await running.compartments()).values())

    opened = (await running.http.post('/demo/advance', json={'pr': True})).json()  # on demand: a new PR
    pending = await eventually(mergeable, timeout=10, interval=0.1)
    assert pending['number'] == opened['pending_pr'] == 2


async def _commit_is(running: RunningDemo, commit: str) -> bool:
    return bool((await running.state())['fleet']['remote']['commit'] == commit)


async def _all_registered(running: RunningDemo) -> bool:
    hosts = (await running.state())['hosts']
    return {h['id'] for h in hosts if h.get('connection') == 'online'} == set(HOSTS)
