"""`kill -9` of the dashboard process with 10 agents connected, then a restart (SPEC §7, §8; issue 2 acceptance).

Runs the real `nixfleet serve` as a subprocess on a fresh data dir. Proves that after SIGKILL and a restart on the
same data dir:
- every host comes back from the database before any agent reconnects, with its facts and its last flushed
  heartbeat data (last seen, metrics) intact, shown offline;
- nothing committed is lost: every `hosts` row and every `event_log` row written before the kill is still there,
  unchanged, in the same order;
- the state version continues upward from where it was, never repeating a version a client may have seen;
- the agents reconnect as the same hosts (a `connect` event, no second `host_added`) and come back online.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET, FakeAgent, eventually, free_port

HOSTS = [f'host-{i:02d}' for i in range(10)]
SERVE = [sys.executable, '-m', 'nixfleet', 'serve']
REPO_ROOT = Path(__file__).resolve().parents[2]


class ServeProcess:
    """`python -m nixfleet serve` as a child process, its output kept in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open('wb') as out:
            self.proc = subprocess.Popen(SERVE, env=env, cwd=log.parent, stdout=out, stderr=out)

    def output(self) -> str:
        return self.log.read_text(errors='replace')[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `nixfleet serve`: test secrets, a free port, a fresh data dir, a fast LiveState flush."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        NIXFLEET_LISTEN=f'127.0.0.1:{free_port()}',
        NIXFLEET_DATA_DIR=str(tmp_path / 'data'),
        NIXFLEET_AGENT_TOKEN=AGENT_TOKEN,
        NIXFLEET_PASSWORD_HASH=PASSWORD_HASH,
        NIXFLEET_SESSION_SECRET=SESSION_SECRET,
        NIXFLEET_LIVE_FLUSH_INTERVAL='0.1',
        NIXFLEET_LOG_LEVEL='warning',
    )
    return env


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    """Every server process the test starts; all are stopped at the end."""
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.stop()


def _read_db(path: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Hosts by id and all event rows, read with a separate connection (as another process would)."""
    conn = sqlite3.connect(path, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        hosts = {row['id']: dict(row) for row in conn.execute('SELECT * FROM hosts')}
        events = [dict(row) for row in conn.execute('SELECT * FROM event_log ORDER BY id')]
    finally:
        conn.close()
    return hosts, events


async def _healthy(base: str, process: ServeProcess) -> dict[str, Any]:
    """Wait for GET /health to answer 200 and return its body."""

    async def probe() -> dict[str, Any] | None:
        assert process.proc.poll() is None, f'nixfleet serve exited:\n{process.output()}'
        async with httpx.AsyncClient() as client:
            try:
                response = await client.get(f'{base}/health', timeout=1)
            except httpx.TransportError:
                return None
        return response.json() if response.status_code == 200 else None

    try:
        return await eventually(probe, timeout=30, interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f'{exc}\n{process.output()}') from None


async def _connect_all(ws_url: str) -> list[FakeAgent]:
    agents = []
    for i, host in enumerate(HOSTS):
        agent = await FakeAgent(ws_url, host).connect(location=['home', 'office', 'cloud'][i % 3])
        await agent.heartbeat(load=(i + 1) / 100)
        agents.append(agent)
    return agents


@pytest.mark.slow
async def test_kill_dash_9_then_restart_loses_nothing_committed(
    serve_env: dict[str, str], processes: list[ServeProcess], tmp_path: Path
) -> None:
    base = f'http://{serve_env["NIXFLEET_LISTEN"]}'
    ws_url = f'ws://{serve_env["NIXFLEET_LISTEN"]}/ws'
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    processes.append(first := ServeProcess(serve_env, tmp_path / 'serve-1.log'))
    await _healthy(base, first)
    agents = await _connect_all(ws_url)
    try:
        # Committed: every host's row and heartbeat data (flushed from LiveState) are in SQLite.
        def flushed() -> bool:
            hosts, _ = _read_db(db)
            return all(
                h in hosts and hosts[h]['metrics_json'] and f'"load": {(i + 1) / 100}' in hosts[h]['metrics_json']
                for i, h in enumerate(HOSTS)
            )

        await eventually(flushed, timeout=5)
        health = await _healthy(base, first)
        assert health['agents_connected'] == len(HOSTS)
        version_before = health['state_version']
        hosts_before, events_before = _read_db(db)
        assert sorted(hosts_before) == HOSTS
        assert all(row['status'] == 'online' for row in hosts_before.values())

        first.kill()
        for agent in agents:
            await agent.closed()
    finally:
        for agent in agents:
            with contextlib.suppress(Exception):
                await agent.close()

    processes.append(second := ServeProcess(serve_env, tmp_path / 'serve-2.log'))
    health = await _healthy(base, second)
    assert health['state_version'] > version_before, 'the state version never goes back'
    assert health['agents_connected'] == 0

    # Before any agent reconnects, every host is back from the database, unchanged except that it is offline.
    hosts_after, events_after = _read_db(db)
    assert sorted(hosts_after) == HOSTS
    for host, row in hosts_before.items():
        assert hosts_after[host] == {**row, 'status': 'offline'}, host
    assert events_after[: len(events_before)] == events_before, 'every committed event survives, unchanged'

    agents = await _connect_all(ws_url)
    try:
        await eventually(lambda: all(r['status'] == 'online' for r in _read_db(db)[0].values()), timeout=5)
        health = await _healthy(base, second)
        assert health['agents_connected'] == len(HOSTS)
        assert health['state_version'] > version_before
        new_events = _read_db(db)[1][len(events_before) :]
        for host in HOSTS:
            mine = [e['action'] for e in new_events if e['host_id'] == host]
            assert mine == ['connect'], f'{host} came back as the same host: {mine}'
    finally:
        for agent in agents:
            await agent.close()
