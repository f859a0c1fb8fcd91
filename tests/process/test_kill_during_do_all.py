"""`kill -9` of the dashboard in the middle of a `do-all` on 4 hosts with slow switches running (issue 3 acceptance).

The real `nixfleet serve` runs as a child process. Four simulated agents (the real agent client on simulated Nix
tools, in this test process) survive its death and reconnect on their own. Each agent's switch keeps building until
the test releases it, so the kill always lands while all four switches run, however slow the machine is. After
SIGKILL and a restart on the same data dir:
- the running switches are re-adopted (not re-sent, not orphaned) and finish when the agents come back with the
  new binary their switch installed;
- the pipeline resumes without re-running `pull`, runs `test`, and ends COMPLETE;
- the journal holds each command of the run exactly once, all SUCCESS, and each agent ran each tool once;
- each switch's output log continues across the restart under its one header.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from nixfleet.agent import SimulatedFleet, SimulatedSystem, Step, Timing
from nixfleet.agent.sim import SimJob
from nixfleet.agent.system import Emit
from tests.process.conftest import Dashboard
from tests.support import AGENT_TOKEN, eventually

HOSTS = ['sim-01', 'sim-02', 'sim-03', 'sim-04']
OPS = ['pull', 'switch', 'test']
#: Agents reconnect quickly once the dashboard is back.
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)
#: Simulated durations are divided by this (pull, test and the rest of a switch take well under a second).
SPEED = 50.0
BEFORE = 'building the system configuration (slow: held by the test)...'
AFTER = 'build released by the test'


class HeldSwitch(SimulatedSystem):
    """A simulated host whose switch prints its first line, then builds only once `release` is set."""

    def __init__(self, *, release: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.switching = asyncio.Event()
        self.ran: list[str] = []  #: the tools it ran, in order

    async def start(self, step: Step) -> SimJob:
        job = await super().start(step)
        if step.kind != 'refresh-lock':  # the agent's own periodic lock check is not a command
            self.ran.append(step.kind)
        return SimJob(partial(self._held, job), lambda: None) if step.kind == 'switch' else job

    async def _held(self, job: SimJob, emit: Emit) -> int:
        emit('stderr', BEFORE)
        self.switching.set()
        await self.release.wait()
        emit('stderr', AFTER)
        return await job.run(emit)


def held_fleet(url: str, release: asyncio.Event) -> tuple[SimulatedFleet, dict[str, HeldSwitch]]:
    """Four simulated agents whose switches wait for `release`; upstream has a new commit and agent release."""
    fleet = SimulatedFleet(url=url, token=AGENT_TOKEN, count=len(HOSTS), interval=1, speed=SPEED, timing=FAST)
    systems = {}
    for name, host in fleet.hosts.items():
        systems[name] = host.system = HeldSwitch(
            release=release,
            hostname=name,
            platform=host.system.platform,
            behaviour=host.system.behaviour,
            remote=fleet.remote,
        )
    fleet.remote.push(agent_version='9.9.9')  # pull fetches it, switch installs it, the restart runs it
    return fleet, systems


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the journal with a separate connection, as another process would."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def events_like(db: Path, text: str) -> list[str]:
    return [row[0] for row in query(db, 'SELECT message FROM event_log WHERE message LIKE ?', f'%{text}%')]


def api(dashboard: Dashboard, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=dashboard.http, headers={'Authorization': f'Bearer {token}'}, timeout=10)


async def hosts_ready(client: httpx.AsyncClient) -> bool:
    """Every agent registered, heartbeating and idle."""
    hosts = {h['id']: h for h in (await client.get('/api/hosts')).json()['hosts']}
    return all(
        h in hosts and hosts[h]['connection'] == 'online' and hosts[h]['metrics'] and not hosts[h]['busy']
        for h in HOSTS
    )


def ended(client: httpx.AsyncClient, run_id: str) -> Callable[[], Any]:
    async def check() -> dict[str, Any] | None:
        run: dict[str, Any] = (await client.get(f'/api/pipelines/{run_id}')).json()
        return run if run['status'] != 'RUNNING' else None

    return check


@pytest.mark.slow
async def test_kill_dash_9_mid_do_all_readopts_the_switches_and_completes(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    release = asyncio.Event()
    fleet, systems = held_fleet(first.ws_url, release)
    await fleet.start()
    try:
        async with api(first, api_token) as client:
            await eventually(lambda: hosts_ready(client), timeout=20)
            started = await client.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': HOSTS})
            assert started.status_code == 200, started.text
            run_id = started.json()['pipeline']['id']

        # Every switch runs on its agent, is journaled EXECUTING, and its first line is in its log file.
        await eventually(lambda: all(systems[h].switching.is_set() for h in HOSTS), timeout=30)
        sql = "SELECT host_id, id, output_file FROM commands WHERE pipeline_id = ? AND op = 'switch' AND status = ?"
        running = await eventually(lambda: len(rows := query(db, sql, run_id, 'EXECUTING')) == len(HOSTS) and rows)
        switches = {host: (cid, Path(path)) for host, cid, path in running}
        await eventually(lambda: all(p.exists() and BEFORE in p.read_text() for _, p in switches.values()))

        first.kill()
        second = start_dashboard()
        await second.healthy()
        await eventually(lambda: len(events_like(db, 're-adopted after a dashboard restart')) == len(HOSTS), 30)
        release.set()
        async with api(second, api_token) as client:
            run = await eventually(ended(client, run_id), timeout=60)
    finally:
        await fleet.stop()

    assert run['status'] == 'COMPLETE', run
    assert run['host_state'] == {h: {'state': 'done'} for h in HOSTS}
    journal = query(db, 'SELECT host_id, stage, op, status, pipeline_id FROM commands ORDER BY host_id, stage')
    assert journal == [(h, k, op, 'SUCCESS', run_id) for h in HOSTS for k, op in enumerate(OPS)], 'each once'
    for host, (cid, log) in switches.items():
        [(status, message)] = query(db, 'SELECT status, message FROM commands WHERE id = ?', cid)  # the same command
        assert (status, message) == ('SUCCESS', 'agent is back with a new binary')
        text = log.read_text()
        assert text.count('# Command: switch') == 1 and BEFORE in text and AFTER in text, text
        assert text.index(BEFORE) < text.index(AFTER) < text.index('# Finished:'), text
        assert systems[host].ran == OPS, f'{host} ran {systems[host].ran}'
    assert len(events_like(db, 're-adopted after a dashboard restart')) == len(HOSTS)
    assert events_like(db, 'ORPHANED') == []
