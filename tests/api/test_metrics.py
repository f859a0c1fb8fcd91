"""`GET /metrics` on a real server (docs/architecture.md#api-and-cli, issue 8 scope 3 and its acceptance).

Proves that the endpoint needs an API token (401 JSON otherwise), that its output parses with prometheus_client's
text parser, and that its numbers follow the fleet: hosts by state and per-host gauges as an agent connects and
leaves, agent messages and malformed frames, sync clients, compartments, commands by op and status with a duration
histogram, and pipeline runs.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from nixfleet import __version__
from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.timeutil import iso
from tests.security.helpers import ADMIN_TOKEN, admin_client, create_token
from tests.support import FakeAgent, ManualClock, RunningServer, eventually, start_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: RunningServer, token: str = ADMIN_TOKEN) -> Samples:
    """Fetch /metrics and parse it with the Prometheus text parser into `{(name, labels): value}`."""
    async with admin_client(server, token) as client:
        response = await client.get('/metrics')
    assert response.status_code == 200, response.text
    assert response.headers['content-type'].startswith('text/plain')
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when it is absent."""
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: Samples, name: str) -> float:
    """Sum of all samples of a name."""
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.mark.parametrize('authorization', [None, 'Bearer wrong', 'Basic YWRtaW46YWRtaW4='])
async def test_metrics_need_an_api_token(server: RunningServer, authorization: str | None) -> None:
    headers = {'Authorization': authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=server.http, follow_redirects=False) as client:
        response = await client.get('/metrics', headers=headers)

    assert response.status_code == 401
    assert response.json()['error']['code'] == 'unauthorized'


async def test_a_stored_api_token_can_scrape(server: RunningServer) -> None:
    prometheus = await create_token(server, kind='api', name='prometheus')

    samples = await scrape(server, prometheus['token'])

    assert value(samples, 'nixfleet_info', version=__version__) == 1
    async with admin_client(server) as client:
        listed = (await client.get(f'/api/tokens/api/{prometheus["id"]}')).json()
    assert listed['last_used_at'] is not None


async def test_host_metrics_follow_an_agent_connecting_and_leaving(server: RunningServer) -> None:
    before = await scrape(server)
    assert value(before, 'nixfleet_hosts', state='online') == 0
    assert value(before, 'nixfleet_agent_links') == 0

    agent = await FakeAgent(server.ws_url, 'web1').connect()
    await agent.heartbeat()
    await eventually(lambda: server.dashboard.stream.value.hosts.get('web1', {}).get('metrics'))
    online = await scrape(server)

    assert value(online, 'nixfleet_hosts', state='online') == 1
    assert value(online, 'nixfleet_host_up', host='web1') == 1
    assert value(online, 'nixfleet_host_connection', host='web1', state='online') == 1
    assert value(online, 'nixfleet_host_connection', host='web1', state='offline') == 0
    assert value(online, 'nixfleet_host_last_seen_timestamp_seconds', host='web1') > 1.6e9
    assert value(online, 'nixfleet_agent_links') == 1
    assert value(online, 'nixfleet_agent_messages_total', type='register') == 1
    assert value(online, 'nixfleet_agent_messages_total', type='heartbeat') == 1
    assert value(online, 'nixfleet_state_version') > value(before, 'nixfleet_state_version')

    await agent.send_raw('{"type": "heartbeat", "payload": ')  # not JSON: counted, ignored
    await agent.send_raw('not json at all')
    await eventually(lambda: sum(server.dashboard.gateway.malformed.values()) == 2)
    await agent.close()
    await eventually(lambda: server.dashboard.stream.value.hosts['web1']['connection'] == 'offline')
    after = await scrape(server)

    assert value(after, 'nixfleet_hosts', state='online') == 0
    assert value(after, 'nixfleet_hosts', state='offline') == 1
    assert value(after, 'nixfleet_host_up', host='web1') == 0
    assert value(after, 'nixfleet_agent_links') == 0
    assert total(after, 'nixfleet_agent_malformed_frames_total') == 2


async def test_sync_clients_are_counted(server: RunningServer) -> None:
    assert value(await scrape(server), 'nixfleet_sync_clients') == 0
    server.dashboard.api_tokens['admin'] = ADMIN_TOKEN
    url = f'ws://127.0.0.1:{server.port}/api/sync'
    async with connect(url, additional_headers={'Authorization': f'Bearer {ADMIN_TOKEN}'}) as ws:
        await ws.recv()  # init
        await ws.send('{"type": "get_state"}')
        await ws.recv()  # full_state
        samples = await scrape(server)
        assert value(samples, 'nixfleet_sync_clients') == 1
        assert value(samples, 'nixfleet_sync_state_requests_total') == 1
    await eventually(lambda: not server.dashboard.sync.clients)
    assert value(await scrape(server), 'nixfleet_sync_clients') == 0


def _command(cid: str, op: str, status: str, started: str, finished: str | None) -> Change:
    fields: dict[str, Any] = {'id': cid, 'host_id': 'web1', 'op': op, 'status': status}
    fields |= {'created_at': started, 'started_at': started, 'finished_at': finished}
    kind = ChangeType.COMMAND_FINISHED if finished else ChangeType.COMMAND_STARTED
    return Change(kind, id=cid, fields=fields)


async def test_commands_pipelines_and_compartments_come_from_the_fleet_state(server: RunningServer) -> None:
    assert total(await scrape(server), 'nixfleet_commands') == 0
    agent = await FakeAgent(server.ws_url, 'web1').connect()
    await eventually(lambda: 'web1' in server.dashboard.stream.value.hosts)

    start = time.time() - 60  # ended within the last hour
    server.dashboard.stream.emit(
        _command('c1', 'pull', 'SUCCESS', iso(start), iso(start + 4)),
        _command('c2', 'pull', 'ERROR', iso(start), iso(start + 20)),
        _command('c3', 'switch', 'EXECUTING', iso(start), None),
        Change(ChangeType.PIPELINE_UPDATED, id='p1', payload={'id': 'p1', 'name': 'do-all', 'status': 'RUNNING'}),
        Change(
            ChangeType.HOST_UPDATED,
            id='web1',
            fields={'compartments': {'git': {'status': 'ok', 'message': ''}, 'lock': 'outdated'}},
        ),
    )
    samples = await scrape(server)

    assert value(samples, 'nixfleet_commands', op='pull', status='SUCCESS') == 1
    assert value(samples, 'nixfleet_commands', op='pull', status='ERROR') == 1
    assert value(samples, 'nixfleet_commands', op='switch', status='EXECUTING') == 1
    assert value(samples, 'nixfleet_command_duration_seconds_bucket', op='pull', le='5.0') == 1
    assert value(samples, 'nixfleet_command_duration_seconds_bucket', op='pull', le='30.0') == 2
    assert value(samples, 'nixfleet_command_duration_seconds_bucket', op='pull', le='+Inf') == 2
    assert value(samples, 'nixfleet_command_duration_seconds_gsum', op='pull') == 24
    assert value(samples, 'nixfleet_command_duration_seconds_bucket', op='switch', le='+Inf') is None
    assert value(samples, 'nixfleet_pipeline_runs', pipeline='do-all', status='RUNNING') == 1
    assert value(samples, 'nixfleet_host_compartment', host='web1', compartment='git', status='ok') == 1
    assert value(samples, 'nixfleet_host_compartment', host='web1', compartment='lock', status='outdated') == 1
    assert value(samples, 'nixfleet_host_compartment', host='web1', compartment='lock', status='ok') == 0
    assert value(samples, 'nixfleet_host_compartment', host='web1', compartment='tests', status='unknown') == 1
    await agent.close()


async def test_last_hour_figures_count_every_end_of_a_sliding_hour_not_what_the_state_kept(settings: Settings) -> None:
    clock = ManualClock()
    small = settings.model_copy(update={'state_finished_commands': 2, 'stale_cleanup_interval': 3600.0})
    server = await start_server(small, Dashboard(small, clock=clock))
    try:
        at = clock()
        server.dashboard.stream.emit(*(_command(f'c{i}', 'test', 'SUCCESS', iso(at - 3), iso(at)) for i in range(6)))
        server.dashboard.stream.emit(
            Change(ChangeType.PIPELINE_UPDATED, id='p1', payload={'id': 'p1', 'name': 'do-all', 'status': 'RUNNING'}),
            Change(
                ChangeType.PIPELINE_UPDATED,
                id='p1',
                payload={'id': 'p1', 'name': 'do-all', 'status': 'COMPLETE', 'finished_at': iso(at)},
            ),
        )
        await eventually(lambda: len(server.dashboard.stream.value.commands) <= 2)  # the live state keeps two

        samples = await scrape(server)
        assert value(samples, 'nixfleet_commands', op='test', status='SUCCESS') == 6
        assert value(samples, 'nixfleet_command_duration_seconds_bucket', op='test', le='5.0') == 6
        assert value(samples, 'nixfleet_pipeline_runs', pipeline='do-all', status='COMPLETE') == 1
        assert value(samples, 'nixfleet_state_commands') <= 2

        clock.advance(59 * 60)
        assert value(await scrape(server), 'nixfleet_commands', op='test', status='SUCCESS') == 6
        clock.advance(2 * 60)
        samples = await scrape(server)
        assert value(samples, 'nixfleet_commands', op='test', status='SUCCESS') is None, 'an hour later: gone'
        assert value(samples, 'nixfleet_pipeline_runs', pipeline='do-all', status='COMPLETE') is None
    finally:
        await server.stop()
