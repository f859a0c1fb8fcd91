"""A fast smoke run of the fleet benchmark (bench/fleet_load.py, plus two passive bench/syncwatch.py clients)
against a real dashboard. It asserts correctness only: every agent connected and stayed connected, every heartbeat's
change reached the observer, no version gap and no resync caused by the server. Never a timing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import AGENT_TOKEN, PASSWORD, RunningServer

BENCH = Path(__file__).resolve().parents[2] / 'bench'
AGENTS = 20
API_TOKEN = 'bench-smoke-api-token-7d1e'


async def run_json(*command: str, timeout: float) -> Any:
    """Run a bench script (while this loop keeps serving the dashboard); return its last JSON line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, err.decode(errors='replace')[-2000:]
    lines = [line for line in out.decode().splitlines() if line.startswith(('{', '['))]
    assert lines, err.decode(errors='replace')[-2000:]
    return json.loads(lines[-1])


@pytest.mark.slow
async def test_the_fleet_benchmark_runs_clean(server: RunningServer) -> None:
    server.dashboard.api_tokens['bench'] = API_TOKEN
    harness = run_json(
        str(BENCH / 'fleet_load.py'), '--url', server.ws_url, '--token', AGENT_TOKEN, '--agents', str(AGENTS),
        '--interval', '1', '--duration', '6', '--observer', 'sync', '--password', PASSWORD, timeout=90,
    )  # fmt: skip
    watchers = run_json(
        str(BENCH / 'syncwatch.py'), '--url', f'ws://127.0.0.1:{server.port}/api/sync', '--token', API_TOKEN,
        '--clients', '2', '--seconds', '10', timeout=60,
    )  # fmt: skip
    summary, watched = await asyncio.gather(harness, watchers)
    assert (summary['connected'], summary['registered_hosts']) == (AGENTS, AGENTS)
    assert (summary['disconnects'], summary['connect_failures']) == (0, 0)
    assert summary['latency_samples'] > 0 and summary['delivered_pct'] == 100.0
    observer = summary['observer_stats']
    assert (observer['version_gaps'], observer['resyncs'], observer['beacon_mismatch']) == (0, 0, 0)
    for watcher in watched:
        assert watcher['init_ms'] is not None
        assert (watcher['gaps'], watcher['resyncs']) == (0, 0)
        assert watcher['by_type'].get('host_updated', 0) >= summary['heartbeats_in_window']


@pytest.mark.slow
async def test_the_storm_benchmark_runs_clean(server: RunningServer) -> None:
    summary = await run_json(
        str(BENCH / 'storm_load.py'), '--url', server.ws_url, '--token', AGENT_TOKEN, '--agents', str(AGENTS),
        '--ramp', '1', '--interval', '1', '--duration', '4', '--pid', str(os.getpid()), '--password', PASSWORD,
        timeout=90,
    )  # fmt: skip
    assert (summary['registered_hosts'], summary['shown_hosts'], summary['connected']) == (AGENTS, AGENTS, AGENTS)
    assert (summary['disconnects'], summary['connect_failures']) == (0, 0)
    assert summary['all_registered_s'] is not None and summary['all_shown_s'] is not None
    assert summary['register_ms_median'] is not None and 'cpu_x_harness' in summary
    assert (summary['observer_stats']['version_gaps'], summary['observer_stats']['resyncs']) == (0, 0)


def test_profile_costs_split_the_busy_samples(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    import profiling

    raw = tmp_path / 'profile.txt'
    raw.write_text(
        'thread (1): MainThread;run (asyncio/runners.py:1);EpollSelector.select (selectors.py:1) 6\n'
        'thread (1): MainThread;SyncClient.run (nixfleet/streams/sync.py:1);write (selector_events.py:1) 3\n'
        'thread (1): MainThread;AgentGateway._frame (nixfleet/gateway/agents.py:1);parse_agent_frame (x.py:1) 1\n'
    )
    costs = profiling.costs(raw)
    assert (costs['busy_samples'], costs['idle_samples']) == (4, 6)
    assert dict(costs['busy_pct']) == {
        'sync send: one WebSocket frame + socket write per delta per client': 75.0,
        'frame parse: json + pydantic validation': 25.0,
    }
