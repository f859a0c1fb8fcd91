"""`nixfleet pipeline run` survives a dashboard restart: it reconnects to /api/sync, catches up over HTTP and
prints every line of output exactly once, then exits by the outcome of the resumed run."""

from __future__ import annotations

import asyncio
import re

import uvicorn

from nixfleet.agent import SimBehaviour, SimulatedFleet
from nixfleet.agent.sim_tools import TESTS
from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings
from nixfleet.server import uvicorn_config
from tests.api.live_fleet import API_TOKEN, SPEED
from tests.cli.test_cli import BAR, cli_env, spawn
from tests.support import AGENT_TOKEN, FAST, RunningServer, eventually, free_port


async def serve_on(settings: Settings, port: int) -> RunningServer:
    """A dashboard on a fixed port (so agents and the CLI find it again after a restart)."""
    dashboard = Dashboard(settings)
    dashboard.api_tokens['tests'] = API_TOKEN
    config = uvicorn_config(build_app(dashboard), settings, host='127.0.0.1', port=port, log_level='warning')
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=15)
    if task.done():
        task.result()
    return RunningServer(dashboard, server, task, port)


async def test_a_dashboard_restart_mid_run_loses_and_repeats_no_line(settings: Settings) -> None:
    settings = settings.model_copy(update={'tick_interval': 3600.0})
    port = free_port()
    server = await serve_on(settings, port)
    slow_tests = SimBehaviour(speed=SPEED, slow_ops={'test': 80.0})  # its tests take a few seconds
    fleet = SimulatedFleet(
        url=server.ws_url,
        token=AGENT_TOKEN,
        count=1,
        interval=1,
        speed=SPEED,
        timing=FAST,
        behaviours={'sim-01': slow_tests},
    )
    await fleet.start()
    try:
        await eventually(lambda: server.dashboard.stream.value.hosts.get('sim-01', {}).get('lock_hash'), timeout=10)
        process = await spawn(cli_env(server.http), 'pipeline', 'run', 'do-all', '--host', 'sim-01')
        assert process.stdout is not None
        before: list[str] = []
        while not (before and re.match(rf'^sim-01\s+{BAR} T02 PASS$', before[-1])):
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, before
            before.append(line.decode().rstrip('\n'))

        await server.stop()  # mid-test: the agent keeps running it and buffers its output
        server = await serve_on(settings, port)
        rest, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fleet.stop()
        await server.stop()

    out = before + rest.decode().splitlines()
    assert process.returncode == 0, '\n'.join(out) + err.decode()
    said = [m[1] for line in out if (m := re.match(rf'^sim-01\s+{BAR} (T\d\d .*)$', line))]
    assert said == [line for n, name in enumerate(TESTS, 1) for line in (f'T{n:02d} {name}', f'T{n:02d} PASS')]
    assert 'COMPLETE, 1/1 hosts done' in out[-1]
