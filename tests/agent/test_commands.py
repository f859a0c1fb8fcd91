"""Commands on a simulated host: progress, output, status, busy handling, kills, switch restarts, failures."""

from __future__ import annotations

from nixfleet.agent import SimulatedSystem
from tests.agent.fakes import FakeDashboard, Received, sim_system


def progress(frame: Received) -> tuple[str, str]:
    """Return (phase, status) of an operation_progress frame."""
    ((phase, body),) = frame.payload['progress'].items()
    return phase, body['status']


def frames_between(dashboard: FakeDashboard, first: Received, last: Received) -> list[Received]:
    """Return the logged frames from `first` to `last`, inclusive."""
    return dashboard.log[dashboard.log.index(first) : dashboard.log.index(last) + 1]


async def test_pull_reports_progress_output_status_then_an_idle_heartbeat(
    dashboard: FakeDashboard, start_agent
) -> None:
    system = sim_system()
    system.remote.push()
    start_agent(system)
    await dashboard.expect('heartbeat')

    await dashboard.command('pull')
    started = await dashboard.expect('operation_progress')
    status = await dashboard.expect('status')
    heartbeat = await dashboard.expect('heartbeat')

    frames = frames_between(dashboard, started, status)
    assert progress(started) == ('pull', 'in_progress')
    assert ('pull', 'complete') in [progress(f) for f in frames if f.type == 'operation_progress']
    assert {f.payload['stream'] for f in frames if f.type == 'output'} == {'stdout', 'stderr'}
    assert status.payload == {'status': 'ok', 'command': 'pull', 'exit_code': 0, 'generation': system.remote.head}
    assert dashboard.log.index(heartbeat) == dashboard.log.index(status) + 1
    assert heartbeat.payload['pending_command'] is None and heartbeat.payload['command_pid'] is None
    assert heartbeat.payload['update_status']['system']['status'] == 'outdated'


async def test_a_second_command_while_busy_is_rejected(dashboard: FakeDashboard, start_agent) -> None:
    start_agent(sim_system(slow_ops={'test': 1000}))
    await dashboard.expect('heartbeat')
    await dashboard.command('test')
    await dashboard.expect('operation_progress')  # running from here on

    await dashboard.command('pull')
    rejected = await dashboard.expect('command_rejected')

    assert rejected.payload['reason'] == 'command already running'
    assert rejected.payload['current_command'] == 'test'
    assert isinstance(rejected.payload['current_pid'], int)


async def test_unknown_command_is_an_error_status(dashboard: FakeDashboard, start_agent) -> None:
    start_agent()
    await dashboard.expect('heartbeat')

    await dashboard.command('bump-flake')
    status = await dashboard.expect('status')

    assert (status.payload['status'], status.payload['exit_code']) == ('error', 1)
    assert (status.payload['command'], status.payload['message']) == ('bump-flake', 'unknown command')


async def test_kill_command_stops_the_command_and_the_agent_stays_connected(
    dashboard: FakeDashboard, start_agent
) -> None:
    start_agent(sim_system(slow_ops={'switch': 1000}))
    await dashboard.expect('heartbeat')
    await dashboard.command('switch')
    await dashboard.expect('operation_progress')  # running from here on

    await dashboard.send('kill_command', {'signal': 'SIGTERM', 'pid': 0})
    status = await dashboard.expect('status')
    heartbeat = await dashboard.expect('heartbeat')
    await dashboard.command('refresh-git')
    after = await dashboard.expect('status')

    assert status.payload['status'] == 'stopped' and status.payload['exit_code'] == 130
    assert status.payload['command'] == 'switch'
    assert heartbeat.payload['pending_command'] is None
    assert heartbeat.payload['update_status']['system']['status'] == 'unknown'
    assert (after.conn, after.payload['status']) == (1, 'ok')
    notices = [f.payload['line'] for f in dashboard.log if f.type == 'output' and f.payload['stream'] == 'stderr']
    assert any(line.startswith('⚠️ Received kill command: SIGTERM') for line in notices)


async def test_stop_reports_stopped_and_idle_stop_is_an_error(dashboard: FakeDashboard, start_agent) -> None:
    start_agent(sim_system(slow_ops={'test': 1000}))
    await dashboard.expect('heartbeat')
    await dashboard.command('test')
    await dashboard.expect('operation_progress')  # running from here on

    await dashboard.command('stop')
    stopped = await dashboard.expect('status')
    await dashboard.command('stop')
    idle = await dashboard.expect('status')

    assert (stopped.payload['command'], stopped.payload['status'], stopped.payload['exit_code']) == (
        'test',
        'stopped',
        130,
    )
    assert (idle.payload['command'], idle.payload['status'], idle.payload['message']) == (
        'stop',
        'error',
        'no command running',
    )


async def test_switch_closes_1000_and_reconnects_with_new_freshness(dashboard: FakeDashboard, start_agent) -> None:
    system = sim_system()
    start_agent(system)
    first = (await dashboard.expect('register')).payload
    await dashboard.expect('heartbeat')
    system.publish_agent('9.9.9')  # the configuration being switched to ships a new agent build

    await dashboard.command('switch')
    status = await dashboard.expect('status')
    heartbeat = await dashboard.expect('heartbeat')
    conn, code, reason = await dashboard.expect_close()
    second = await dashboard.expect('register')

    assert status.payload['status'] == 'ok'
    assert heartbeat.payload['pending_command'] is None
    assert (conn, code, reason) == (1, 1000, 'shutdown')
    assert second.conn == 2
    assert second.payload['agent_version'] == '9.9.9'
    assert second.payload['store_path'] != first['store_path']
    assert second.payload['binary_hash'] != first['binary_hash']
    assert second.payload['source_commit'] != first['source_commit']


async def test_failing_switch_reports_error_and_keeps_the_link(dashboard: FakeDashboard, start_agent) -> None:
    start_agent(sim_system(fail_ops={'switch'}))
    await dashboard.expect('heartbeat')

    await dashboard.command('switch')
    failed = await dashboard.expect('operation_progress', where=lambda f: progress(f)[1] != 'in_progress')
    status = await dashboard.expect('status')
    heartbeat = await dashboard.expect('heartbeat')

    assert progress(failed) == ('system', 'error')
    assert (status.payload['status'], status.payload['exit_code'], status.payload['message']) == (
        'error',
        1,
        'command failed',
    )
    assert heartbeat.conn == 1
    assert heartbeat.payload['update_status']['system']['status'] == 'error'


async def test_test_command_reports_eight_passing_tests(dashboard: FakeDashboard, start_agent) -> None:
    start_agent()
    await dashboard.expect('heartbeat')

    await dashboard.command('test')
    status = await dashboard.expect('status')
    heartbeat = await dashboard.expect('heartbeat')

    lines = [f.payload['line'] for f in dashboard.log if f.type == 'output']
    assert [line for line in lines if line.endswith('PASS')] == [f'T{n:02d} PASS' for n in range(1, 9)]
    assert status.payload['status'] == 'ok'
    assert heartbeat.payload['update_status']['tests']['status'] == 'ok'


async def test_restart_closes_1000_and_comes_back(dashboard: FakeDashboard, start_agent) -> None:
    system: SimulatedSystem = sim_system()
    start_agent(system)
    await dashboard.expect('heartbeat')

    await dashboard.command('restart')
    conn, code, reason = await dashboard.expect_close()
    again = await dashboard.expect('register')

    assert (conn, code, reason) == (1, 1000, 'shutdown')
    assert again.conn == 2
    assert [f.type for f in dashboard.log].count('status') == 0
    assert system.restarts == 1


async def test_check_version_warns_when_a_newer_agent_is_installed(dashboard: FakeDashboard, start_agent) -> None:
    system = sim_system()
    system.installed_agent_version = '9.9.9'
    start_agent(system)
    await dashboard.expect('heartbeat')

    await dashboard.command('check-version')
    status = await dashboard.expect('status')

    assert (status.payload['status'], status.payload['exit_code']) == ('warning', 0)
    assert status.payload['message'].startswith('mismatch: running=') and status.payload['message'].endswith('9.9.9')


async def test_restart_while_busy_stops_the_command_first(dashboard: FakeDashboard, start_agent) -> None:
    start_agent(sim_system(slow_ops={'switch': 1000}))
    await dashboard.expect('heartbeat')
    await dashboard.command('switch')
    await dashboard.expect('operation_progress')  # running from here on

    await dashboard.command('restart')
    stopped = await dashboard.expect('status')
    conn, code, _reason = await dashboard.expect_close()
    again = await dashboard.expect('heartbeat', where=lambda frame: frame.conn == 2)

    assert (stopped.payload['command'], stopped.payload['status']) == ('switch', 'stopped')
    assert (conn, code) == (1, 1000)
    assert again.payload['pending_command'] is None
