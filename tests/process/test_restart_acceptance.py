"""`kill -9` of the real dashboard mid-pipeline, then a restart (issue 14 acceptance, items 3 and 4).

Simulated agents (the real agent client on simulated Nix tools, in this test process) outlive the dashboard and
reconnect on their own. Whatever the moment of the kill, after the restart every healthy host runs every stage
exactly once, the pipeline ends COMPLETE, nothing is BLOCKED `host_offline` because of the restart, and the journal
holds each command once with exactly one "started" and one "ended" event. (A command the kill cuts off before its
agent got it ends ORPHANED and the resumed run sends it again: the agent still runs that stage once.)
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from nixfleet.agent import SimulatedFleet
from tests.process.conftest import Dashboard
from tests.process.helpers import HeldStep, api, ended, events_like, held_fleet, hosts_ready, query
from tests.support import FakeAgent, eventually

OPS = ['pull', 'switch', 'test']


def stage_report(db: Path, run_id: str, hosts: list[str], systems: dict[str, HeldStep]) -> dict[str, object]:
    """What the journal and the hosts say of the run's stages: compare with `each_stage_once(hosts)`."""
    started, finished = Counter[str](), Counter[str]()
    for details, message in query(db, "SELECT details, message FROM event_log WHERE action LIKE 'op:%'"):
        command_id = json.loads(details)['command_id']
        if ' started on ' in message:
            started[command_id] += 1
        elif ' ended ' in message:
            finished[command_id] += 1
    ids = [cid for (cid,) in query(db, 'SELECT id FROM commands')]
    journal = 'SELECT host_id, stage, op, status FROM commands WHERE pipeline_id = ? ORDER BY 1, 2'
    return {
        'journal': sorted(query(db, journal, run_id)),
        'commands': query(db, 'SELECT count(*) FROM commands')[0][0],
        'started': started - Counter(ids) or Counter(ids) - started,  # empty when each command started once
        'ended': finished - Counter(ids) or Counter(ids) - finished,  # empty when each command ended once
        'ran': {host: systems[host].ran for host in hosts},
        # each event's first part ("pull on sim-01 ended ORPHANED"), not the cause after the colon
        'orphaned_or_blocked': sorted(
            m.partition(':')[0] for m in events_like(db, 'ORPHANED') + events_like(db, 'blocked')
        ),
    }


def each_stage_once(hosts: list[str], lost_in_flight: Sequence[tuple[str, int, str, str]] = ()) -> dict[str, object]:
    """The stage report of a run where every host ran every stage once, all SUCCESS, each journaled once; plus the
    `lost_in_flight` commands (ORPHANED, never run by their agent) the run replaced by a new attempt."""
    journal = [(h, k, op, 'SUCCESS') for h in sorted(hosts) for k, op in enumerate(OPS)]
    return {
        'journal': sorted(journal + list(lost_in_flight)),
        'commands': len(hosts) * len(OPS) + len(lost_in_flight),
        'started': Counter(),
        'ended': Counter(),
        'ran': dict.fromkeys(hosts, OPS),
        'orphaned_or_blocked': [f'{op} on {host} ended ORPHANED' for host, _, op, _ in lost_in_flight],
    }


@pytest.mark.slow
async def test_kill_dash_9_near_the_end_of_a_rolling_do_all(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    """max_parallel 5 on 10 hosts, killed while 5 tests run and 5 wait for a slot: after the restart the waiting
    hosts' tests start only once their agents are back (none is refused `host_offline`)."""
    hosts = [f'sim-{i:02d}' for i in range(1, 11)]
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    release = asyncio.Event()
    fleet, systems = held_fleet(first.ws_url, release, count=len(hosts), kind='test')
    await fleet.start()
    try:
        async with api(first, api_token) as client:
            await eventually(lambda: hosts_ready(client, hosts), timeout=30)
            body = {'pipeline': 'do-all', 'hosts': hosts, 'max_parallel': 5}
            started = await client.post('/api/dispatch/pipeline', json=body)
            assert started.status_code == 200, started.text
            run_id = started.json()['pipeline']['id']

        sql = "SELECT count(*) FROM commands WHERE pipeline_id = ? AND op = 'test' AND status = 'EXECUTING'"
        await eventually(lambda: sum(s.held.is_set() for s in systems.values()) == 5, timeout=60)
        await eventually(lambda: query(db, sql, run_id) == [(5,)])

        first.kill()
        second = start_dashboard()
        await second.healthy()
        await eventually(lambda: len(events_like(db, 're-adopted after a dashboard restart')) == 5, 30)
        release.set()
        async with api(second, api_token) as client:
            run = await eventually(ended(client, run_id), timeout=60)
    finally:
        await fleet.stop()

    assert run['status'] == 'COMPLETE', run
    assert stage_report(db, run_id, hosts, systems) == each_stage_once(hosts)


@pytest.mark.slow
async def test_switches_that_finish_while_the_dashboard_is_down_complete_after_the_restart(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    """Killed mid-switch; the dashboard stays down until every switch has ended on its agent (the agents' status
    waits in their outbox). The agents' old processes deliver it after the restart and only then restart onto the
    new binary: the test stage waits for that, so no test goes into an agent's restart gap."""
    hosts = [f'sim-{i:02d}' for i in range(1, 5)]
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    release = asyncio.Event()
    fleet, systems = held_fleet(first.ws_url, release, count=len(hosts), kind='switch')
    await fleet.start()
    try:
        async with api(first, api_token) as client:
            await eventually(lambda: hosts_ready(client, hosts), timeout=30)
            started = await client.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': hosts})
            assert started.status_code == 200, started.text
            run_id = started.json()['pipeline']['id']

        sql = "SELECT count(*) FROM commands WHERE pipeline_id = ? AND op = 'switch' AND status = 'EXECUTING'"
        await eventually(lambda: all(s.held.is_set() for s in systems.values()), timeout=60)
        await eventually(lambda: query(db, sql, run_id) == [(len(hosts),)])

        first.kill()
        release.set()  # the switches finish while nobody listens
        await eventually(lambda: all(s.done.is_set() for s in systems.values()), timeout=30)
        second = start_dashboard()
        async with api(second, api_token) as client:
            await second.healthy()
            run = await eventually(ended(client, run_id), timeout=60)
    finally:
        await fleet.stop()

    assert run['status'] == 'COMPLETE', run
    assert stage_report(db, run_id, hosts, systems) == each_stage_once(hosts)
    for (message,) in query(db, "SELECT message FROM commands WHERE op = 'switch'"):
        assert message == 'agent is back with a new binary'


async def ready_fleet(
    start_dashboard: Callable[[], Dashboard], api_token: str, hosts: list[str]
) -> tuple[Dashboard, SimulatedFleet, dict[str, HeldStep]]:
    """A dashboard and its simulated agents, all online and idle (nothing held: `release` is set)."""
    first = start_dashboard()
    await first.healthy()
    release = asyncio.Event()
    release.set()
    fleet, systems = held_fleet(first.ws_url, release, count=len(hosts))
    await fleet.start()
    async with api(first, api_token) as client:
        await eventually(lambda: hosts_ready(client, hosts), timeout=30)
    return first, fleet, systems


@pytest.mark.slow
async def test_kill_dash_9_right_after_the_client_was_told_started(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    """The client was told "started" and the dashboard dies at once: the run exists and completes after the
    restart."""
    hosts = [f'sim-{i:02d}' for i in range(1, 5)]
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first, fleet, systems = await ready_fleet(start_dashboard, api_token, hosts)
    try:
        async with api(first, api_token) as client:
            started = await client.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': hosts})
            first.kill()
        assert started.status_code == 200, started.text
        run_id = started.json()['pipeline']['id']
        second = start_dashboard()
        await second.healthy()
        async with api(second, api_token) as client:
            run = await eventually(ended(client, run_id), timeout=60)
    finally:
        await fleet.stop()

    assert run['status'] == 'COMPLETE', run
    report = stage_report(db, run_id, hosts, systems)
    assert report == each_stage_once(hosts, lost_in_flight=lost_first_pulls(report))


def lost_first_pulls(report: dict[str, object]) -> list[tuple[str, int, str, str]]:
    """The first-stage pulls a kill right after dispatch cut off before their agent got them: journaled as sent, the
    agent came back idle without them, so they ended ORPHANED and the resumed run sent a new pull (docs/architecture.md
    #restart-recovery). Whether one was still in flight depends on the kill's moment; any later stage never is."""
    journal = report['journal']
    assert isinstance(journal, list)
    lost = [entry for entry in journal if entry[3] == 'ORPHANED']
    assert all(entry[1:3] == (0, 'pull') for entry in lost), journal
    return lost


@pytest.mark.slow
async def test_kill_dash_9_before_the_request_was_journaled_leaves_nothing_half_made(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    """The request reached the dashboard's socket but the process died (frozen first, so it is certain) before it
    journaled anything: after the restart there is no run, no command, no event of it, and the hosts are free."""
    hosts = [f'sim-{i:02d}' for i in range(1, 5)]
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first, fleet, systems = await ready_fleet(start_dashboard, api_token, hosts)
    try:
        events_before = query(db, 'SELECT count(*) FROM event_log')
        first.proc.send_signal(signal.SIGSTOP)
        host, port = first.env['NIXFLEET_LISTEN'].split(':')
        body = json.dumps({'pipeline': 'do-all', 'hosts': hosts}).encode()
        request = (
            f'POST /api/dispatch/pipeline HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api_token}\r\n'
            f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n'
        ).encode() + body
        with socket.create_connection((host, int(port)), timeout=5) as sock:  # the kernel's backlog accepts it
            sock.sendall(request)
            first.kill()
        assert query(db, 'SELECT count(*) FROM event_log') == events_before
        second = start_dashboard()
        await second.healthy()
        assert query(db, 'SELECT count(*) FROM pipelines') == [(0,)]
        assert query(db, 'SELECT count(*) FROM commands') == [(0,)]
        assert events_like(db, 'pipeline do-all') == []
        async with api(second, api_token) as client:  # nothing holds the hosts: a new run starts and completes
            await eventually(lambda: hosts_ready(client, hosts), timeout=30)
            started = await client.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': hosts})
            assert started.status_code == 200, started.text
            run_id = started.json()['pipeline']['id']
            run = await eventually(ended(client, run_id), timeout=60)
    finally:
        await fleet.stop()
    assert run['status'] == 'COMPLETE', run
    assert stage_report(db, run_id, hosts, systems) == each_stage_once(hosts)


@pytest.mark.slow
async def test_sigterm_closes_agents_with_1001_and_journals_one_stop_event(
    serve_env: dict[str, str], start_dashboard: Callable[[], Dashboard]
) -> None:
    """`nixfleet serve` (UI mounted) stopped by SIGTERM: agents see 1001, the journal one "dashboard stopped"."""
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    agents = [await FakeAgent(first.ws_url, f'host-{i}').connect() for i in range(3)]
    await eventually(lambda: query(db, "SELECT count(*) FROM hosts WHERE status = 'online'") == [(3,)])
    await asyncio.to_thread(first.stop)  # SIGTERM, and wait for the exit
    assert first.proc.returncode in (0, -signal.SIGTERM)
    assert [await agent.closed() for agent in agents] == [1001] * 3
    assert query(db, "SELECT action FROM event_log WHERE action IN ('disconnect', 'shutdown')") == [('shutdown',)]
