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
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.process.conftest import Dashboard
from tests.process.helpers import AFTER, BEFORE, api, ended, events_like, held_fleet, hosts_ready, query
from tests.support import eventually

HOSTS = ['sim-01', 'sim-02', 'sim-03', 'sim-04']
OPS = ['pull', 'switch', 'test']


@pytest.mark.slow
async def test_kill_dash_9_mid_do_all_readopts_the_switches_and_completes(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    release = asyncio.Event()
    fleet, systems = held_fleet(first.ws_url, release, count=len(HOSTS))
    await fleet.start()
    try:
        async with api(first, api_token) as client:
            await eventually(lambda: hosts_ready(client, HOSTS), timeout=20)
            started = await client.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': HOSTS})
            assert started.status_code == 200, started.text
            run_id = started.json()['pipeline']['id']

        # Every switch runs on its agent, is journaled EXECUTING, and its first line is in its log file.
        await eventually(lambda: all(systems[h].held.is_set() for h in HOSTS), timeout=30)
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
