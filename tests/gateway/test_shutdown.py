"""Graceful shutdown (docs/architecture.md#startup-and-shutdown): agents are closed with 1001 by the dashboard
itself, and a restart journals one
"dashboard stopped" event instead of a burst of per-host disconnects (issue 14 item 9).

A real server (uvicorn, the same server class `nixfleet serve` uses) and real WebSocket agents; the journal is read
from the SQLite file after the server stopped.
"""

from __future__ import annotations

import sqlite3

from nixfleet.config import Settings
from tests.support import FakeAgent, eventually, start_server

HOSTS = [f'host-{i}' for i in range(5)]


def actions(settings: Settings) -> list[tuple[str, str | None]]:
    conn = sqlite3.connect(settings.database_path)
    try:
        return conn.execute('SELECT action, host_id FROM event_log ORDER BY id').fetchall()
    finally:
        conn.close()


async def test_shutdown_closes_agents_with_1001_and_journals_one_stop_event(settings: Settings) -> None:
    server = await start_server(settings)
    agents = [await FakeAgent(server.ws_url, host).connect() for host in HOSTS]
    for agent in agents:
        await agent.heartbeat()
    await eventually(lambda: len(server.dashboard.gateway.links) == len(HOSTS))
    before = len(actions(settings))

    await server.stop()

    assert [await agent.closed() for agent in agents] == [1001] * len(HOSTS)
    stopped = actions(settings)[before:]
    assert stopped == [('shutdown', None)], 'one "dashboard stopped" event, no per-host disconnects'
    conn = sqlite3.connect(settings.database_path)
    try:
        assert conn.execute('SELECT DISTINCT status FROM hosts').fetchall() == [('offline',)]
        [(message,)] = conn.execute("SELECT message FROM event_log WHERE action = 'shutdown'").fetchall()
    finally:
        conn.close()
    assert message == f'dashboard stopped ({len(HOSTS)} agents disconnected)'

    again = await start_server(settings)  # the restart: agents reconnect, each with one `connect` event
    try:
        for agent in agents:
            agent.url = again.ws_url
            await agent.connect()
        await eventually(lambda: len(again.dashboard.gateway.links) == len(HOSTS))
    finally:
        await again.stop()
    restarted = [a for a, _ in actions(settings)[before + 1 :]]
    assert 'disconnect' not in restarted and restarted.count('connect') == len(HOSTS), restarted
