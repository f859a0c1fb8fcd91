"""A Go database with hosts whose ids are not hostnames (issue 15 item 1): adopted under safe ids, reported, served.

The Go dashboard accepted any hostname; `..`, `a/b`, `<b>x</b>` and an empty id are what a hostile or broken Go
agent could leave behind. The real dashboard starts on such a database and is read back through the HTTP API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nixfleet.config import Settings
from nixfleet.models import DEFAULT_COLOR
from nixfleet.protocol import HOSTNAME_RE
from nixfleet.store import Store
from nixfleet.store.database import connect
from nixfleet.store.host_ids import safe_id
from nixfleet.store.schema import migrations
from tests.store.test_go_migration import API_TOKEN, create_go_database
from tests.support import Dashboards, eventually, start_in_process

#: Host ids a Go database may hold that are no hostnames, and a colour it may hold that carries CSS.
ODD = ['..', 'a/b', '<b>x</b>', '']
HOSTILE_COLOR = '#fff;position:fixed;inset:0;z-index:9999'
PIPELINE = 'a1b2c3d4-0000-4000-8000-000000000001'


def add_odd_hosts(path: Path) -> None:
    """Add the odd hosts to a Go database, each with a command and an event, one pipeline over two of them, and a
    hostile colour on a plain host."""
    conn = sqlite3.connect(path)
    for n, host in enumerate(ODD):
        conn.execute(
            "INSERT INTO hosts (id, hostname, host_type, status, theme_color) VALUES (?, ?, 'nixos', 'online', ?)",
            [host, host, '#e0af68'],
        )
        conn.execute(
            'INSERT INTO commands (id, host_id, op, status, created_at, finished_at, exit_code) '
            "VALUES (?, ?, 'pull', 'SUCCESS', '2025-12-27 10:00:00', '2025-12-27 10:00:09', 0)",
            [f'odd-{n}', host],
        )
        conn.execute(
            'INSERT INTO event_log (timestamp, category, level, actor, host_id, action, message) '
            "VALUES ('2025-12-27 10:00:09', 'ops', 'info', 'system', ?, 'op:pull', ?)",
            [host, f'pull completed on host {n}'],
        )
    conn.execute(
        "INSERT INTO pipelines (id, name, hosts, status, created_at) VALUES (?, 'do-all', ?, 'COMPLETE', "
        "'2025-12-27 09:00:00')",
        [PIPELINE, '["..", "hsb0", "a/b"]'],
    )
    conn.execute('UPDATE hosts SET theme_color = ? WHERE id = ?', [HOSTILE_COLOR, 'hsb0'])
    conn.commit()
    conn.close()


@pytest.fixture
async def adopted(settings: Settings) -> AsyncIterator[Dashboards]:
    """The real dashboard started on a Go database with the odd hosts (API token `API_TOKEN`)."""
    create_go_database(settings.database_path)
    add_odd_hosts(settings.database_path)
    running = await start_in_process(settings)
    running.dashboard.api_tokens['ci'] = API_TOKEN
    yield running
    await running.stop()


def api(server: Dashboards) -> httpx.AsyncClient:
    return server.client(headers={'Authorization': f'Bearer {API_TOKEN}'})


def _renamed(server: Dashboards) -> dict[str, str]:
    """Original id → the id it was adopted under, as the migration's summary event reports it."""
    [adoption] = [e for e in server.dashboard.stream.value.events if e['message'].startswith('adopted the Go')]
    return {r['from']: r['to'] for r in adoption['details']['hosts_renamed']}


async def test_each_odd_host_is_adopted_under_a_safe_id_and_the_report_says_so(adopted: Dashboards) -> None:
    events = adopted.dashboard.stream.value.events
    [adoption] = [e for e in events if e['message'].startswith('adopted the Go')]
    assert '4 hosts whose ids are not hostnames adopted under safe ids' in adoption['message']
    assert '1 theme colours that are not #rgb/#rrggbb dropped' in adoption['message']
    renamed = _renamed(adopted)
    assert set(renamed) == set(ODD)
    assert len(set(renamed.values())) == 4 and all(HOSTNAME_RE.match(new) for new in renamed.values())
    assert renamed['a/b'].startswith('a-b-') and renamed['<b>x</b>'].startswith('b-x-b-')
    assert renamed['..'].startswith('host-') and renamed[''].startswith('host-')
    for original, new in renamed.items():  # one event per host, in that host's history
        [event] = [e for e in events if e['host_id'] == new and e['action'] == 'migrate']
        assert (
            event['level'] == 'warn'
            and f'host id {original!r} is not a hostname: adopted as {new}' in (event['message'])
        )
    [dropped] = adoption['details']['colors_dropped']
    assert dropped == {'host': 'hsb0', 'column': 'theme_color', 'value': HOSTILE_COLOR}
    assert any(e['host_id'] == 'hsb0' and 'dropped: not #rgb/#rrggbb' in e['message'] for e in events)


async def test_the_hosts_keep_their_original_as_name_and_their_commands_events_and_runs_follow(
    adopted: Dashboards,
) -> None:
    renamed = _renamed(adopted)
    async with api(adopted) as client:
        hosts = {h['id']: h for h in (await client.get('/api/hosts')).json()['hosts']}
        assert set(ODD).isdisjoint(hosts) and set(renamed.values()) <= set(hosts)
        for original, new in renamed.items():
            assert hosts[new]['hostname'] == original
            [command] = (await client.get('/api/commands', params={'host': new})).json()['commands']
            assert command['op'] == 'pull' and command['status'] == 'SUCCESS'
            messages = [e['message'] for e in (await client.get('/api/events', params={'host': new})).json()['events']]
            assert f'pull completed on host {ODD.index(original)}' in messages
        assert hosts['hsb0']['theme_color'] == DEFAULT_COLOR  # its hostile colour dropped
        run = (await client.get(f'/api/pipelines/{PIPELINE}')).json()
        assert run['hosts'] == [renamed['..'], 'hsb0', renamed['a/b']]
        assert set(run['host_state']) == set(run['hosts'])


def _entries(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name != 'logs')


async def test_removing_the_adopted_hosts_deletes_only_their_own(adopted: Dashboards, settings: Settings) -> None:
    renamed = _renamed(adopted)
    data_dir = Path(settings.data_dir)
    before = _entries(data_dir)
    async with api(adopted) as client:
        for new in renamed.values():
            body = (await client.delete(f'/api/hosts/{new}')).json()
            assert body['command']['status'] in ('SUCCESS', 'EXECUTING'), body
        await eventually(lambda: set(renamed.values()).isdisjoint(adopted.dashboard.stream.value.hosts))
        assert _entries(data_dir) == before  # the database and its WAL among them
        assert (await client.get('/health')).json()['status'] == 'ok'
        assert {h['id'] for h in (await client.get('/api/hosts')).json()['hosts']} == {'hsb0', 'imac0', 'gpc0', 'csb1'}


def test_a_nixfleet_database_adopted_before_the_fix_is_made_safe_at_the_next_start(tmp_path: Path) -> None:
    """A database whose Go adoption (m010) ran before ids were checked still holds the odd ids: the next start
    renames them the same way and journals it."""
    path = tmp_path / 'nixfleet.db'
    create_go_database(path)
    add_odd_hosts(path)
    db = connect(path)
    migrations.apply(db, stop_before='m011_safe_host_ids')
    db.execute("UPDATE hosts SET id = '..', hostname = '..' WHERE id = ?", [safe_id('..', set())])
    db.execute("UPDATE commands SET host_id = '..' WHERE id = 'odd-0'")
    db.conn.close()

    store = Store(path)
    store.open()
    rows: list[Any] = store.read_sync(lambda db: db.execute('SELECT id, hostname FROM hosts').fetchall())
    owner = store.read_sync(lambda db: db.execute("SELECT host_id FROM commands WHERE id = 'odd-0'").fetchone()[0])
    report = store.read_sync(
        lambda db: db.execute("SELECT message FROM event_log WHERE message LIKE 'stored hosts made safe%'").fetchall()
    )
    store.close()
    assert all(HOSTNAME_RE.match(host) for host, _ in rows)
    assert (safe_id('..', set()), '..') in rows and owner == safe_id('..', set())
    assert report == [
        ('stored hosts made safe: 1 hosts whose ids are not hostnames adopted under safe ids (one event each)',)
    ]


def test_safe_ids_are_deterministic_unique_and_hostnames() -> None:
    first = safe_id('a/b', set())
    assert first == safe_id('a/b', set()) and HOSTNAME_RE.match(first)
    taken = {first}
    second = safe_id('a/b', taken)
    assert second != first and HOSTNAME_RE.match(second)
    taken.add(second)
    third = safe_id('a/b', taken)
    assert third not in taken and HOSTNAME_RE.match(third)
    assert HOSTNAME_RE.match(safe_id('é' * 200 + '/' * 50, set()))
