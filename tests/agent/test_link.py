"""The agent's link: handshake and backoff, register, heartbeats, keepalive, bad frames, outbox across reconnects."""

from __future__ import annotations

import itertools

from tests.agent.fakes import FAST, FakeDashboard, sim_system

REGISTER_FIELDS = {
    'hostname', 'host_type', 'agent_version', 'os_version', 'nixpkgs_version', 'generation', 'theme_color',
    'heartbeat_interval', 'location', 'device_type', 'repo_url', 'repo_dir', 'source_commit', 'store_path',
    'binary_hash',
}  # fmt: skip
HEARTBEAT_FIELDS = {
    'generation', 'nixpkgs_version', 'pending_command', 'command_pid', 'metrics', 'update_status', 'source_commit',
    'store_path', 'binary_hash', 'lock_hash',
}  # fmt: skip


async def test_rejected_handshakes_back_off_then_register(dashboard: FakeDashboard, start_agent) -> None:
    dashboard.reject_next = 3
    start_agent()

    register = await dashboard.expect('register')

    times = [moment for moment, _status in dashboard.handshakes]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert [status for _moment, status in dashboard.handshakes] == [401, 401, 401, 101]
    assert gaps[0] >= FAST.backoff_initial
    assert gaps[1] >= 2 * FAST.backoff_initial
    assert gaps[2] >= 4 * FAST.backoff_initial
    assert register.conn == 1


async def test_register_carries_every_field_and_python_freshness(dashboard: FakeDashboard, start_agent) -> None:
    run = start_agent(hostname='web-01', location='office', device_type='server', theme_color='#9ece6a')

    register = (await dashboard.expect('register')).payload

    assert set(register) == REGISTER_FIELDS | {'agent_impl'}
    assert register['agent_impl'] == 'python'
    assert register['hostname'] == 'web-01'
    assert register['host_type'] == 'nixos'
    assert register['heartbeat_interval'] == run.config.interval
    assert (register['location'], register['device_type'], register['theme_color']) == ('office', 'server', '#9ece6a')
    assert len(register['generation']) == 7
    assert register['source_commit'] and register['store_path'].startswith('/nix/store/')
    assert len(register['binary_hash']) == 64


async def test_registered_triggers_an_immediate_idle_heartbeat(dashboard: FakeDashboard, start_agent) -> None:
    start_agent(interval=3600)  # the periodic heartbeat is an hour away: only the immediate one can arrive

    heartbeat = (await dashboard.expect('heartbeat')).payload

    assert set(heartbeat) == HEARTBEAT_FIELDS
    assert heartbeat['pending_command'] is None and heartbeat['command_pid'] is None
    assert set(heartbeat['metrics']) == {'cpu', 'ram', 'swap', 'load'}
    assert set(heartbeat['update_status']) == {'git', 'lock', 'system', 'tests'}


async def test_heartbeats_repeat_every_interval(dashboard: FakeDashboard, start_agent) -> None:
    start_agent(interval=1)

    first = await dashboard.expect('heartbeat')
    second = await dashboard.expect('heartbeat', timeout=3)

    assert first.conn == second.conn == 1
    assert [frame.type for frame in dashboard.log].count('heartbeat') == 2


async def test_pongs_echo_the_dashboard_ping_payload(dashboard: FakeDashboard, start_agent) -> None:
    start_agent()
    await dashboard.expect('heartbeat')

    pong = await dashboard.conns[1].ping(b'nixfleet-ping')

    await pong  # websockets resolves it only for a pong echoing this payload


async def test_bad_dashboard_frames_are_ignored(dashboard: FakeDashboard, start_agent) -> None:
    start_agent()
    await dashboard.expect('heartbeat')

    for raw in ('this is not json', '[1,2,3]', '{"payload":{}}', '{"type":"no_such_type"}', '{"type":"command"}',
                '{"type":"command","payload":"pull"}', '{"type":"kill_command","payload":{"pid":"x"}}'):  # fmt: skip
        await dashboard.send('', raw=raw)
    await dashboard.send('', raw=b'{"type":"command","payload":{"command":"refresh-git"}}')

    status = await dashboard.expect('status')
    assert (status.conn, status.payload['command'], status.payload['status']) == (1, 'refresh-git', 'ok')


async def test_status_produced_while_disconnected_arrives_after_reconnect(
    dashboard: FakeDashboard, start_agent
) -> None:
    system = sim_system(slow_ops={'pull': 20})  # 1-3 s x 20 / 200: 0.1-0.3 s
    system.remote.push()
    start_agent(system)
    await dashboard.expect('heartbeat')
    await dashboard.command('pull')
    await dashboard.expect('output')

    dashboard.reject_while = lambda: system.busy  # no link again until the command has finished
    await dashboard.conns[1].close(1011, 'dashboard restarting')

    status = await dashboard.expect('status')
    assert (status.conn, status.payload['status'], status.payload['generation']) == (2, 'ok', system.remote.head)
    assert 401 in [code for _moment, code in dashboard.handshakes]
    lines = [frame.payload['line'] for frame in dashboard.log if frame.type == 'output']
    assert 'Fast-forward' in lines and '✅ Pull goal achieved' in lines
