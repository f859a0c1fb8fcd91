"""An agent flooding output (issue 15 item 6, acceptance): the dashboard stays responsive, the command's log stops
at the limit with a marker, the command's result still lands, and nothing the dashboard keeps grows with the flood.

The flooding agent runs in a process of its own (a real agent does not share the dashboard's event loop) and sends
tens of megabytes as fast as the socket takes them, over a real WebSocket to a real server on virtual time (the
output rate's bucket does not refill: what passes is exactly what the limits allow).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from nixfleet.config import Settings
from nixfleet.models import CommandStatus
from nixfleet.ops.output_cap import LINE_OVERHEAD
from nixfleet.streams.changes import ChangeType, VersionedChange
from tests.ops.helpers import Fleet
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
KIB, MIB = 1024, 1024 * 1024
#: The command's output limit in these tests (below the default 512 KiB burst, so the total is what cuts).
LIMIT = 256 * KIB
#: Floods: tens of megabytes in long lines (bytes to parse), and short lines (frames to handle: the costly kind).
FLOODS = {'32 MiB in 16 KiB lines': (32 * MIB, 16 * KIB), '2 MiB in 200-byte lines': (2 * MIB, 200)}
#: The user-visible promise: /health answers within this while an agent floods (p99).
HEALTH_P99 = 0.100
#: Answers the p99 is taken over at least (a loaded machine answers fewer in the flood's few seconds).
ANSWERS = 50
#: Log lines besides the output: the header (3), the marker, the closing summary and the footer.
SLACK = 2 * KIB


@pytest.fixture
async def fleet(served_fleet: Fleet) -> Fleet:
    """Served on a free port: the flooding agent is another process, and /health is probed over HTTP."""
    return served_fleet


@pytest.fixture
def ops_settings(ops_settings: Settings) -> Settings:
    """The op-engine settings with a 256 KiB output limit per command."""
    return ops_settings.model_copy(update={'output_limit': LIMIT})


@contextlib.asynccontextmanager
async def flooding_agent(url: str, host: str, total: int, line: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """A `flood_agent` process registered as `host`: it floods `total` bytes of output at the next command."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        '-m',
        'tests.ops.flood_agent',
        url,
        host,
        str(total),
        str(line),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 60) == b'ready\n'
        yield proc
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def run_queue_wait() -> float:
    """Seconds this process's threads have waited for a CPU while ready to run (Linux schedstat; 0.0 elsewhere)."""
    waited = 0
    for stat in Path('/proc/self/task').glob('*/schedstat'):
        with contextlib.suppress(OSError, IndexError, ValueError):
            waited += int(stat.read_text().split()[1])
    return waited / 1e9


@dataclass(slots=True)
class Latencies:
    """`/health` answer times: as measured, and without the time other processes had the CPU (`own`)."""

    wall: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)


async def health_latencies(url: str, done: asyncio.Event) -> Latencies:
    """Ask `/health` every 5 ms until `done`, timing each answer.

    The dashboard and this probe share the test's process. While its threads wait on the run queue (the machine's
    cores busy with other processes: other test runs, the flooding agent itself, which a real deployment runs
    elsewhere) the dashboard cannot run, or waits for a thread that holds the GIL but not a core; that wait is the
    machine's, not the dashboard's, and `own` leaves it out. On an idle machine the two are the same.
    """
    measured = Latencies()
    async with httpx.AsyncClient() as client:
        while not done.is_set():
            start, waited = time.perf_counter(), run_queue_wait()
            response = await client.get(url)
            wall = time.perf_counter() - start
            measured.wall.append(wall)
            measured.own.append(wall - (run_queue_wait() - waited))
            assert response.status_code == 200
            await asyncio.sleep(0.005)  # pacing the probe, not waiting for an effect
    return measured


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


@pytest.mark.parametrize(('flood', 'line'), list(FLOODS.values()), ids=list(FLOODS))
async def test_an_agent_flooding_output_leaves_the_dashboard_responsive_and_the_log_bounded(
    fleet: Fleet, flood: int, line: int, record_property: Any, perf: bool
) -> None:
    published: list[int] = []

    def on_delta(item: VersionedChange) -> None:
        if item.change.type is ChangeType.COMMAND_OUTPUT and item.change.payload:
            published.append(sum(len(e['line'].encode()) + LINE_OVERHEAD for e in item.change.payload['lines']))

    async with flooding_agent(fleet.server.ws_url, 'flood', flood, line) as agent:
        await eventually(lambda: fleet.host('flood').get('lock_hash'))
        _, subscription = fleet.dashboard.stream.snapshot_and_subscribe(on_delta)
        done = asyncio.Event()
        probe = asyncio.create_task(health_latencies(f'{fleet.server.http}/health', done))
        started = time.perf_counter()
        cid = await fleet.started('test', 'flood')
        cmd = await fleet.ended(cid, timeout=120)
        elapsed = time.perf_counter() - started
        done.set()
        latencies = await probe
        subscription.dispose()
        assert agent.stdout is not None and await agent.stdout.readline() == b'flooded\n'

    assert cmd.status is CommandStatus.SUCCESS, 'the command ran on and its result landed'
    assert cmd.view()['output_truncated'] is True
    answers = len(latencies.own)
    assert answers > 0, 'the dashboard answered /health during the flood'
    record_property('health_answers', answers)
    record_property('health_p99_own_ms', round(p99(latencies.own) * 1000) if answers > 1 else None)
    if perf:  # the bound holds on a quiet machine; the default run records the latencies
        assert p99(latencies.own) < HEALTH_P99, (
            f'/health p99 {p99(latencies.own) * 1000:.0f} ms during the flood (median '
            f'{statistics.median(latencies.own) * 1000:.0f} ms, {answers} answers in {elapsed:.1f} s; as measured, '
            f'with the time other processes had the CPU: p99 {p99(latencies.wall) * 1000:.0f} ms)'
        )
        assert answers >= ANSWERS, f'only {answers} /health answers in {elapsed:.1f} s: too few for a p99'

    log = fleet.engine.logs.path_for('flood', cid)
    # stdout lines are charged as if they had the 6-byte `[ERR] ` tag: the file holds a little less than the limit
    assert 0.8 * LIMIT < log.stat().st_size <= LIMIT + SLACK
    text = await fleet.engine.read_output(cid)
    assert text.count('[nixfleet: output truncated at the limit of 256KiB per command; the command keeps running') == 1
    assert '[nixfleet: output truncated — ' in text and 'bytes over the limits were dropped]' in text
    assert text.rstrip().endswith('SUCCESS exit 0')
    assert sum(published) <= LIMIT + SLACK, 'what clients were sent is bounded like the log'
    ended = await fleet.dashboard.store.read(
        lambda db: [r[0] for r in db.execute("SELECT message FROM event_log WHERE action = 'op:test'")]
    )
    assert any('ended SUCCESS' in m for m in ended), ended
