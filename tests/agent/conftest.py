"""Fixtures for agent tests: `dashboard` (a fake dashboard on a free port) and `start_agent` (agents under test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from nixfleet.agent import AgentConfig, System, run_agent
from tests.agent.fakes import FAST, TOKEN, AgentRun, FakeDashboard, sim_system


@pytest.fixture
async def dashboard() -> AsyncIterator[FakeDashboard]:
    """A started FakeDashboard on a free loopback port; asserts at teardown that every frame was valid."""
    fake = FakeDashboard()
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.invalid == []


@pytest.fixture
async def start_agent(dashboard: FakeDashboard) -> AsyncIterator[Callable[..., AgentRun]]:
    """Start agents against `dashboard` (simulated by default, restarting in-process); stop them at teardown."""
    runs: list[AgentRun] = []

    def start(
        system: System | None = None, *, hostname: str = 'sim-test', interval: int = 3600, **fields: Any
    ) -> AgentRun:
        system = system or sim_system(hostname)
        fields.setdefault('repo_dir', '/home/admin/nixcfg')
        config = AgentConfig(url=dashboard.url, token=TOKEN, hostname=hostname, interval=interval, **fields)
        stop = asyncio.Event()
        on_restart = getattr(system, 'restart', None)
        task = asyncio.create_task(
            run_agent(config, system=system, stop_event=stop, on_restart=on_restart, timing=FAST)
        )
        run = AgentRun(system=system, stop=stop, task=task, config=config)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop.set()
    async with asyncio.timeout(10):
        await asyncio.gather(*(run.task for run in runs))
