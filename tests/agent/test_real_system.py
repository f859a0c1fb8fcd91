"""RealSystem: real child processes in their own process group, every output line read, a real flake checkout."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from nixfleet.agent import AgentConfig, Platform, Step
from nixfleet.agent.real import RealSystem
from tests.agent.fakes import FakeDashboard


def make_repo(root: Path, hostname: str) -> Path:
    """Create a git flake checkout with a flake.lock and two executable host tests."""
    repo = root / 'nixcfg'
    tests = repo / 'hosts' / hostname / 'tests'
    tests.mkdir(parents=True)
    (repo / 'flake.lock').write_text('{"nodes": {}}\n')
    for number, stream in ((1, ''), (2, ' >&2')):
        script = tests / f'T0{number}.sh'
        script.write_text(f'#!/bin/sh\necho "T0{number} checking"{stream}\necho "T0{number} PASS"\n')
        script.chmod(0o755)
    env = {**os.environ, 'GIT_AUTHOR_NAME': 't', 'GIT_AUTHOR_EMAIL': 't@t', 'GIT_COMMITTER_NAME': 't',
           'GIT_COMMITTER_EMAIL': 't@t'}  # fmt: skip
    for argv in (['git', 'init', '-q', '-b', 'main'], ['git', 'add', '.'], ['git', 'commit', '-q', '-m', 'init']):
        subprocess.run(argv, cwd=repo, env=env, check=True)
    return repo


def all_ended(processes: list[psutil.Process], timeout: float) -> bool:
    """Wait up to `timeout` s until every process ended (a zombie awaiting its reaper counts as ended)."""

    def running(process: psutil.Process) -> bool:
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    while any(running(process) for process in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def real_system(tmp_path: Path) -> RealSystem:
    """A RealSystem (NixOS commands) on a fresh git checkout under tmp_path."""
    config = AgentConfig(
        url='ws://127.0.0.1:1/ws', token='t', hostname='real-01', repo_dir=str(make_repo(tmp_path, 'real-01'))
    )
    return RealSystem(config, Platform.NIXOS)


async def test_every_output_line_arrives_before_the_exit_code(real_system: RealSystem) -> None:
    script = 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo last-err >&2'
    lines: list[tuple[str, str]] = []

    job = await real_system.start(Step(kind='probe', argv=('sh', '-c', script)))
    code = await job.run(lambda stream, line: lines.append((stream, line)))

    assert code == 0
    assert [line for stream, line in lines if stream == 'stdout'] == [f'line {i}' for i in range(3000)]
    assert ('stderr', 'last-err') in lines


async def test_signal_reaches_the_whole_child_group_but_not_the_agent(real_system: RealSystem) -> None:
    job = await real_system.start(Step(kind='probe', argv=('sh', '-c', 'sleep 60 & sleep 60 & echo started; wait')))
    started = asyncio.Event()
    running = asyncio.create_task(job.run(lambda _stream, line: started.set()))
    async with asyncio.timeout(5):
        await started.wait()
    children = psutil.Process(job.pid).children(recursive=True)

    assert os.getpgid(job.pid) != os.getpgid(0)
    job.signal(signal.SIGTERM)
    code = await asyncio.wait_for(running, 5)

    assert code == -signal.SIGTERM
    assert await asyncio.to_thread(all_ended, children, 5.0)


@pytest.mark.skipif(shutil.which('git') is None, reason='needs git')
async def test_real_agent_runs_host_tests_and_reports_psutil_metrics(
    dashboard: FakeDashboard, start_agent, real_system: RealSystem
) -> None:
    start_agent(real_system, hostname='real-01', repo_dir=real_system.config.repo_dir)
    register = (await dashboard.expect('register')).payload
    await dashboard.expect('heartbeat')

    await dashboard.command('test')
    status = await dashboard.expect('status')
    heartbeat = await dashboard.expect('heartbeat')

    assert register['agent_impl'] == 'python' and len(register['binary_hash']) == 64
    assert register['store_path'].endswith('nixfleet')
    assert len(register['generation']) == 7
    lines = [f.payload['line'] for f in dashboard.log if f.type == 'output']
    assert {'T01 PASS', 'T02 PASS', 'T02 checking'} <= set(lines)
    assert (status.payload['status'], status.payload['exit_code']) == ('ok', 0)
    metrics = heartbeat.payload['metrics']
    assert set(metrics) == {'cpu', 'ram', 'swap', 'load'} and 0 < metrics['ram'] <= 100
    assert heartbeat.payload['lock_hash'] and heartbeat.payload['update_status']['tests']['status'] == 'ok'
