"""`kill -9` of the dashboard process with 10 agents connected, then a restart
(docs/architecture.md#store, docs/architecture.md#state-versions; issue 2 acceptance).

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
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.process.conftest import Dashboard
from tests.support import FakeAgent, eventually

HOSTS = [f'host-{i:02d}' for i in range(10)]


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


async def _connect_all(ws_url: str) -> list[FakeAgent]:
    agents = []
    for i, host in enumerate(HOSTS):
        agent = await FakeAgent(ws_url, host).connect(location=['home', 'office', 'cloud'][i % 3])
        await agent.heartbeat(load=(i + 1) / 100)
        agents.append(agent)
    return agents


@pytest.mark.slow
async def test_kill_dash_9_then_restart_loses_nothing_committed(
    serve_env: dict[str, str], start_dashboard: Callable[[], Dashboard]
) -> None:
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    ws_url = first.ws_url
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
        health = await first.healthy()
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

    second = start_dashboard()
    health = await second.healthy()
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
        health = await second.healthy()
        assert health['agents_connected'] == len(HOSTS)
        assert health['state_version'] > version_before
        new_events = _read_db(db)[1][len(events_before) :]
        for host in HOSTS:
            mine = [e['action'] for e in new_events if e['host_id'] == host]
            assert mine == ['connect'], f'{host} came back as the same host: {mine}'
    finally:
        for agent in agents:
            await agent.close()
