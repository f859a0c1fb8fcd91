"""No id reaches the file system (issue 15 item 1 acceptance): property-based, over every source of ids.

Host and command ids come from agents (the register frame over a real WebSocket), from the HTTP API (paths, query
and bodies) and from a database: a migrated Go database, or a NixFleet database written before ids were checked.
Hypothesis picks them among traversals (`..`, `.`, `a/../../b`), absolute paths into the test's folder, NUL bytes,
random text and plain hostnames. While the dashboard handles them — registering, running a command with output,
reading logs, retention, removing the host — an audit hook (tests/security/file_ops.py) sees every file operation
of the process: each must stay inside the logs folder. Afterwards every file outside it is still there (the database
and its WAL included), and `/health` is right to say ok: a write lands in the database file on disk.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from nixfleet.config import Settings
from nixfleet.models import CommandStatus
from nixfleet.ops.commands import Command
from nixfleet.store import Store
from tests.security.file_ops import watch_file_ops
from tests.store.test_go_migration import create_go_database
from tests.support import FakeAgent, RunningServer, eventually, register_payload, send_output, send_status, start_server

#: Stands for the absolute path of the test's folder (known only when the test runs).
SANDBOX = '<sandbox>'
#: Ids that name somewhere else when joined to a folder.
NAMED = [
    '..',
    '.',
    '../..',
    'a/../../b',
    '../nixfleet.db',
    '../../victim.txt',
    'web-01/../../..',
    '..\\..',
    '/',
    '\x00',
    'a\x00b',
    '..\x00',
    '',
    '~',
    '.hidden',
    '...',
    SANDBOX,
    f'{SANDBOX}/victim.txt',
    f'{SANDBOX}/data',
    f'{SANDBOX}/data/nixfleet.db',
]
ids = st.one_of(
    st.sampled_from(NAMED),
    st.text(alphabet='./\\\x00a~-', max_size=12),
    st.text(max_size=24),
    st.from_regex(r'[A-Za-z0-9][A-Za-z0-9_-]{0,20}', fullmatch=True),
)
API_TOKEN = 'id-paths-api-token'
OLD = '2020-01-01T00:00:00.000Z'  # before any retention cutoff
PROPERTY = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def placed(value: str, sandbox: Path) -> str:
    """The id with the sandbox placeholder replaced by the real folder."""
    return value.replace(SANDBOX, str(sandbox))


def files_outside(sandbox: Path, logs: Path) -> dict[str, bytes | None]:
    """Every file (with its content) and folder under `sandbox` but outside `logs`, except the database's files."""
    found: dict[str, bytes | None] = {}
    for path in sorted(sandbox.rglob('*')):
        if path == logs or logs in path.parents or path.name.startswith('nixfleet.db'):
            continue
        found[str(path.relative_to(sandbox))] = path.read_bytes() if path.is_file() else None
    return found


def lay_out(sandbox: Path) -> Path:
    """Files an escaping path would hit: a victim beside the data dir and one in it; return the data dir."""
    data = sandbox / 'data'
    (data / 'logs').mkdir(parents=True, exist_ok=True)
    (sandbox / 'victim.txt').write_text('outside the data dir')
    (data / 'keep.txt').write_text('in the data dir, outside the logs folder')
    return data


def database_kept(data: Path) -> bool:
    """Whether the open database's file and its WAL are where they were."""
    return (data / 'nixfleet.db').is_file() and (data / 'nixfleet.db-wal').is_file()


async def health(server: RunningServer) -> tuple[int, str]:
    """/health's status code and status."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.get('/health')
    return answer.status_code, answer.json()['status']


async def probe_on_disk(server: RunningServer, database: Path) -> int:
    """Journal a `probe` event and return how many the database file on disk holds (the writes reach it)."""
    await server.dashboard.events.record('probe', 'written after the ids were handled')
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM event_log WHERE action = 'probe'").fetchone()[0])
    finally:
        conn.close()


def api(server: RunningServer) -> httpx.AsyncClient:
    server.dashboard.api_tokens['ids'] = API_TOKEN
    return httpx.AsyncClient(base_url=server.http, headers={'Authorization': f'Bearer {API_TOKEN}'}, timeout=10)


def segment(value: str) -> str:
    """`value` as one URL path segment (dots too: a client must not fold `..` away before the server sees it)."""
    return quote(value, safe='').replace('.', '%2E')


async def remove(client: httpx.AsyncClient, server: RunningServer, host: str) -> None:
    """Remove a host through the API and wait until it is gone."""
    body = (await client.post('/api/dispatch', json={'op': 'remove', 'hosts': [host]})).json()
    assert [r['status'] for r in body.get('results', [])] == ['started'], body
    await eventually(lambda: host not in server.dashboard.stream.value.hosts)


# -- agents and the API: one dashboard for every example -----------------------------------------------------------
@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A real dashboard (no periodic ticks) on the test's data dir, with the victims laid out around it."""
    lay_out(settings.data_dir.parent)
    running = await start_server(settings.model_copy(update={'tick_interval': 3600.0}))
    yield running
    await running.stop()


async def registered(agent: FakeAgent) -> bool:
    """Whether the dashboard accepted the agent's register (False: it closed the link instead)."""
    assert agent._reader is not None  # the link's reader ends when the link closes (not cancelled here)
    reply = asyncio.ensure_future(agent.expect('registered'))
    await asyncio.wait({reply, agent._reader}, return_when=asyncio.FIRST_COMPLETED)
    if reply.done():
        return bool(reply.result())
    reply.cancel()
    await asyncio.gather(reply, return_exceptions=True)
    return False


@settings(PROPERTY, max_examples=20)
@given(host=ids)
async def test_no_agent_hostname_leads_a_file_operation_out_of_the_logs_folder(
    server: RunningServer, settings: Settings, host: str
) -> None:
    sandbox, logs = settings.data_dir.parent, settings.logs_dir
    host = placed(host, sandbox)
    before = files_outside(sandbox, logs)
    with watch_file_ops(logs, sandbox) as ops:
        agent = await FakeAgent(server.ws_url, host).connect(register=False)
        await agent.send('register', register_payload(host))
        accepted = await registered(agent)
        event('registered' if accepted else 'refused')
        if accepted:
            await agent.heartbeat()
            await eventually(lambda: server.dashboard.stream.value.hosts[host].get('lock_hash'))
            async with api(server) as client:
                body = (await client.post('/api/dispatch', json={'op': 'test', 'hosts': [host]})).json()
                assert body['results'][0]['status'] == 'started', body
                cid = body['results'][0]['command_id']
                await agent.expect('command')
                await send_output(agent, 'checking', '../../escaped')
                await send_status(agent, 'test')
                await eventually(lambda: (server.dashboard.stream.value.commands.get(cid) or {}).get('terminal'))
                assert 'checking' in (await client.get(f'/api/commands/{cid}/output')).text
                await agent.close()
                await eventually(lambda: server.dashboard.stream.value.hosts[host]['connection'] == 'offline')
                await remove(client, server, host)
        await agent.close()
    assert ops.escapes() == [], 'a file operation left the logs folder'
    assert files_outside(sandbox, logs) == before, 'something outside the logs folder changed'
    assert database_kept(settings.data_dir)


@settings(PROPERTY, max_examples=40)
@given(host=ids, command=ids)
async def test_no_id_sent_to_the_api_leads_a_file_operation_out_of_the_logs_folder(
    server: RunningServer, settings: Settings, host: str, command: str
) -> None:
    sandbox, logs = settings.data_dir.parent, settings.logs_dir
    host, command = placed(host, sandbox), placed(command, sandbox)
    before = files_outside(sandbox, logs)
    with watch_file_ops(logs, sandbox) as ops:
        async with api(server) as client:
            for op, args in (('remove', {}), ('set-color', {'color': '#fff'}), ('test', {})):
                response = await client.post('/api/dispatch', json={'op': op, 'hosts': [host], 'args': args})
                assert response.status_code < 500, response.text
            for method, path in (
                ('GET', f'/api/hosts/{segment(host)}'),
                ('DELETE', f'/api/hosts/{segment(host)}'),
                ('PUT', f'/api/hosts/{segment(host)}/color'),
                ('GET', f'/api/commands/{segment(command)}'),
                ('GET', f'/api/commands/{segment(command)}/output'),
            ):
                body = {'color': '#fff'} if method == 'PUT' else None
                assert (await client.request(method, path, json=body)).status_code < 500, (method, path)
            for path, params in (('/api/commands', {'host': host}), ('/api/events', {'host': host})):
                assert (await client.get(path, params=params)).status_code < 500
    assert ops.escapes() == [], 'a file operation left the logs folder'
    assert files_outside(sandbox, logs) == before, 'something outside the logs folder changed'
    assert database_kept(settings.data_dir)


# -- a database holding any ids: each example starts a dashboard on its own ---------------------------------------
def go_database(data: Path, hosts: list[str], commands: list[str]) -> None:
    """A Go dashboard's database holding `hosts`, and `commands` spread over them (their logs named after the ids)."""
    create_go_database(data / 'nixfleet.db')
    conn = sqlite3.connect(data / 'nixfleet.db')
    for host in hosts:
        conn.execute(
            "INSERT INTO hosts (id, hostname, host_type, status) VALUES (?, ?, 'nixos', 'online')", [host, host]
        )
    for cid, host in zip(commands, itertools.cycle(hosts), strict=False):
        conn.execute(
            'INSERT INTO commands (id, host_id, op, status, created_at, finished_at, exit_code, output_file) '
            "VALUES (?, ?, 'pull', 'SUCCESS', '2020-01-01 10:00:00', '2020-01-01 10:00:09', 0, ?)",
            [cid, host, str(data / 'logs' / host / cid)],
        )
    conn.commit()
    conn.close()


def database_before_the_fix(data: Path, hosts: list[str], commands: list[str]) -> None:
    """A NixFleet database (every migration applied) into which `hosts` and their `commands` were written as they
    are, as a Go adoption before ids were checked left them."""
    store = Store(data / 'nixfleet.db')
    store.open()

    def write(db: Any) -> None:
        for host in hosts:
            db['hosts'].insert({'id': host, 'hostname': host, 'host_type': 'nixos', 'status': 'offline'})
        for cid, host in zip(commands, itertools.cycle(hosts), strict=False):
            cmd = Command(
                id=cid, host=host, op='test', agent_command='test', status=CommandStatus.SUCCESS, actor='user',
                created_at=1_577_872_800.0, finished_at=1_577_872_809.0, output_file=str(data / 'logs' / host / cid),
            )  # fmt: skip
            db['commands'].insert(cmd.row())

    store.write_sync(write)
    store.close()


@settings(PROPERTY, max_examples=6)
@given(
    hosts=st.lists(ids, min_size=1, max_size=4, unique=True),
    commands=st.lists(ids, max_size=3, unique=True),
    migrated=st.booleans(),
)
@example(hosts=['..', '.', 'a/../../b', SANDBOX, '\x00'], commands=['..', '../nixfleet.db', '/'], migrated=False)
@example(hosts=['..', 'a/b', '<b>x</b>', ''], commands=['../../victim.txt'], migrated=True)
async def test_no_stored_id_leads_a_file_operation_out_of_the_logs_folder(
    tmp_path: Path, settings: Settings, hosts: list[str], commands: list[str], migrated: bool
) -> None:
    """Read every command's log, run retention, remove every host: nothing outside the logs folder is touched."""
    sandbox = Path(tempfile.mkdtemp(dir=tmp_path))
    data = lay_out(sandbox)
    hosts = [placed(h, sandbox) for h in hosts]
    commands = [placed(c, sandbox) for c in commands]
    (go_database if migrated else database_before_the_fix)(data, hosts, commands)
    config = settings.model_copy(update={'data_dir': data, 'tick_interval': 3600.0})
    before = files_outside(sandbox, config.logs_dir)
    server = await start_server(config)  # it makes sure of the data dir (a mkdir outside the logs folder)
    with watch_file_ops(config.logs_dir, sandbox) as ops:
        try:
            async with api(server) as client:
                for cid in commands:  # over HTTP (an id holding `/` names no command there) and in the engine
                    assert (await client.get(f'/api/commands/{segment(cid)}/output')).status_code in (200, 404)
                    assert (await server.dashboard.ops.read_output_at(cid)).text == ''  # no log was ever written
                await server.dashboard.retention.run()
                for host in [h for h in server.dashboard.stream.value.hosts if h]:  # '' names no host to dispatch to
                    await remove(client, server, host)
            assert database_kept(data)
            assert await health(server) == (200, 'ok')
            assert await probe_on_disk(server, data / 'nixfleet.db') >= 1, 'the writes reach the file on disk'
        finally:
            await server.stop()
    assert ops.escapes() == [], 'a file operation left the logs folder'
    assert files_outside(sandbox, config.logs_dir) == before, 'something outside the logs folder changed'
