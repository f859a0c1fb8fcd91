"""`kill -9` of the real dashboard while a wave of a rollout soaks (issue 19): after the restart the soak ends when it
was due (it is journaled, not restarted), the hosts the restart disconnected are not failed for it, the next wave
starts, and nothing runs twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nixfleet.timeutil import parse_iso
from tests.process.conftest import Dashboard
from tests.process.helpers import api, ended, held_fleet, hosts_ready, query
from tests.process.test_restart_acceptance import OPS
from tests.support import eventually

SOAK = 6.0


def soak_until(db: Path, run_id: str) -> str | None:
    """When the first wave's soak ends, as the journal holds it (None before the soak started)."""
    [(state,)] = query(db, 'SELECT host_status_json FROM pipelines WHERE id = ?', run_id)
    return json.loads(state or '{}').get('gates', {}).get('0', {}).get('soak_until')


@pytest.mark.slow
async def test_kill_dash_9_during_a_waves_soak_resumes_the_soak_and_runs_the_next_wave_once(
    serve_env: dict[str, str], api_token: str, start_dashboard: Callable[[], Dashboard]
) -> None:
    hosts = [f'sim-{i:02d}' for i in range(1, 6)]
    db = Path(serve_env['NIXFLEET_DATA_DIR']) / 'nixfleet.db'
    first = start_dashboard()
    await first.healthy()
    fleet, systems = held_fleet(first.ws_url, asyncio.Event(), count=len(hosts), kind='nothing is held')
    await fleet.start()
    try:
        async with api(first, api_token) as client:
            await eventually(lambda: hosts_ready(client, hosts), timeout=30)
            body = {'pipeline': 'do-all', 'hosts': hosts, 'waves': '2,rest', 'soak': SOAK}
            started = await client.post('/api/dispatch/pipeline', json=body)
            assert started.status_code == 200, started.text
            run_id = started.json()['pipeline']['id']

        due = await eventually(lambda: soak_until(db, run_id), timeout=60)  # wave 1 passed its stages, soaks
        assert all(systems[h].ran == [] for h in hosts[2:])  # wave 2 waits for the soak
        first.kill()
        # the dashboard is down past the soak's end: at the restart the soak is over while the agents of wave 1 are
        # still reconnecting, which is the dashboard's doing, not theirs (the gate waits for them to come back)
        await eventually(lambda: time.time() > (parse_iso(due) or 0), timeout=SOAK + 5)
        second = start_dashboard()
        await second.healthy()
        async with api(second, api_token) as client:
            run = await eventually(ended(client, run_id), timeout=90)
    finally:
        await fleet.stop()

    assert run['status'] == 'COMPLETE', run
    assert run['gates']['0']['soak_until'] == due  # the journaled soak went on, it did not start over
    assert [run['gates'][w]['state'] for w in ('0', '1')] == ['passed', 'passed']
    journal = sorted(query(db, 'SELECT host_id, stage, op, status FROM commands WHERE pipeline_id = ?', run_id))
    assert journal == sorted((h, k, op, 'SUCCESS') for h in hosts for k, op in enumerate(OPS))
    assert {h: systems[h].ran for h in hosts} == dict.fromkeys(hosts, OPS)  # every stage ran once on each host
