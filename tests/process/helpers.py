"""Helpers for `kill -9` tests: simulated agents whose chosen step is held by the test, and journal queries.

The simulated agents (the real agent client on simulated Nix tools) run in the test process and survive the
dashboard's death; a step they hold keeps running until the test releases it, so a kill always lands where the
test wants it, however slow the machine is.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from nixfleet.agent import SimulatedFleet, SimulatedSystem, Step, Timing
from nixfleet.agent.sim import SimJob
from nixfleet.agent.system import Emit
from tests.process.conftest import Dashboard
from tests.support import AGENT_TOKEN

#: Agents reconnect quickly once the dashboard is back.
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)
#: Simulated durations are divided by this (pull, test and the rest of a switch take well under a second).
SPEED = 50.0
BEFORE = 'building the system configuration (slow: held by the test)...'
AFTER = 'build released by the test'


class HeldStep(SimulatedSystem):
    """A simulated host whose `kind` step prints its first line, then goes on only once `release` is set."""

    def __init__(self, *, release: asyncio.Event, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.kind = kind
        self.held = asyncio.Event()  #: the held step is running (and waiting for `release`)
        self.done = asyncio.Event()  #: the held step has ended on the agent (its status is sent or queued)
        self.ran: list[str] = []  #: the tools it ran, in order

    async def start(self, step: Step) -> SimJob:
        job = await super().start(step)
        if step.kind != 'refresh-lock':  # the agent's own periodic lock check is not a command
            self.ran.append(step.kind)
        return SimJob(partial(self._held, job), lambda: None) if step.kind == self.kind else job

    async def _held(self, job: SimJob, emit: Emit) -> int:
        emit('stderr', BEFORE)
        self.held.set()
        await self.release.wait()
        emit('stderr', AFTER)
        try:
            return await job.run(emit)
        finally:
            self.done.set()


def held_fleet(
    url: str, release: asyncio.Event, *, count: int, kind: str = 'switch'
) -> tuple[SimulatedFleet, dict[str, HeldStep]]:
    """`count` simulated agents (`sim-01`…) whose `kind` step waits for `release`; upstream has a new commit and
    agent release (pull fetches it, switch installs it, the agent's restart runs it)."""
    fleet = SimulatedFleet(url=url, token=AGENT_TOKEN, count=count, interval=1, speed=SPEED, timing=FAST)
    systems = {}
    for name, host in fleet.hosts.items():
        systems[name] = host.system = HeldStep(
            release=release,
            kind=kind,
            hostname=name,
            platform=host.system.platform,
            behaviour=host.system.behaviour,
            remote=fleet.remote,
        )
    fleet.remote.push(agent_version='9.9.9')
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


async def hosts_ready(client: httpx.AsyncClient, hosts: list[str]) -> bool:
    """Every agent registered, heartbeating and idle."""
    views = {h['id']: h for h in (await client.get('/api/hosts')).json()['hosts']}
    return all(
        h in views and views[h]['connection'] == 'online' and views[h]['metrics'] and not views[h]['busy']
        for h in hosts
    )


def ended(client: httpx.AsyncClient, run_id: str) -> Callable[[], Any]:
    """A check for `eventually`: the run once it is no longer RUNNING."""

    async def check() -> dict[str, Any] | None:
        run: dict[str, Any] = (await client.get(f'/api/pipelines/{run_id}')).json()
        return run if run['status'] != 'RUNNING' else None

    return check
