#!/usr/bin/env python3
"""Issue 3's benchmark: `do-all` on 200 simulated agents at once, and command output at 10,000 lines/s.

    python bench/do_all.py                                # both phases, defaults below
    python bench/do_all.py --agents 200 --speed 1 --rate 10000 --seconds 20 --repeat 3

Phase 1 (do-all): a fresh `nixfleet serve` (bench/serverctl.py), N simulated agents (nixfleet.agent.SimulatedFleet,
the real agent client on simulated Nix tools) in a child process, upstream moved on so every pull brings a change.
One `POST /api/dispatch/pipeline` starts do-all on all of them; an /api/sync watcher (bench/syncwatch.py) sees the
run end. The agents record when each simulated tool ran (and the simulated restart after the switch), so the
result separates the agents' own time from the dashboard's:
- pipeline time: the run's `created_at` → `finished_at` in the journal (and dispatch → end as the client saw it);
- agents' critical path: per stage the longest agent-side time of one host (its tools' run time, plus the restart
  for switch), summed over the stages: what the run would take with a dashboard that costs nothing;
- overhead = pipeline time - critical path; per command, journaled run time - that host's own time, split into
  dispatch → the agent's first tool starting, and its last tool (or restart) ending → the journaled end. Both
  include the agents' own event-loop delays (all N agents share one process), so they are upper bounds.
Output of the run: lines in the log files and lines streamed to the watcher (they must match).

Phase 2 (output): a fresh dashboard, `--spew` raw agents (bench/agents.py spew) that answer `test` with `--rate`
output lines per second in total for `--seconds`; one dispatch starts them all. Measured: lines sent, persisted
(log files) and streamed (/api/sync watcher), the streaming rate, and each line's agent-send → watcher lag over
the run (first vs last tenth: a growing lag means the dashboard falls behind), plus the server's CPU.

Each run appends one JSON line to bench/results/do-all.jsonl; the last line printed is a bench/README.md row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers next to this file

from record import BENCH, append, log, median, metadata, percentile
from sampling import Sampler
from serverctl import Server, running_server
from syncwatch import Watcher, auth_headers

SCENARIO = 'do-all'
OPS = ('pull', 'switch', 'test')
TABLE_HEAD = (
    "| agents | speed | pipeline | agents' critical path | overhead | per-command overhead p50 / p95 | do-all lines "
    'persisted / streamed | output offered | persisted | streamed | lag p50 / p99 (first → last tenth) '
    '| server CPU |\n|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|---|'
)


# -- the agents' side (a child process) --------------------------------------------------------------------------
def agents_main(args: argparse.Namespace) -> int:
    """Run N simulated agents that time their tools; print their timings as one JSON line when stdin closes."""
    from nixfleet.agent import SimulatedFleet, SimulatedSystem, Step
    from nixfleet.agent.sim import SimJob
    from nixfleet.agent.system import Emit, Restart

    class TimedSystem(SimulatedSystem):
        """A simulated host that records when each tool ran (and its restarts) and how many lines it printed."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.spans: list[tuple[str, float, float]] = []
            self.lines = 0

        async def start(self, step: Step) -> SimJob:
            return SimJob(partial(self._timed, step.kind, await super().start(step)), lambda: None)

        async def _timed(self, kind: str, job: SimJob, emit: Emit) -> int:
            def counted(stream: str, line: str) -> None:
                self.lines += 1
                emit(stream, line)

            begun = time.time()
            try:
                return await job.run(counted)
            finally:
                self.spans.append((kind, begun, time.time()))

        async def restart(self, restart: Restart) -> bool:
            begun = time.time()
            try:
                return await super().restart(restart)
            finally:
                self.spans.append((f'restart:{restart.reason}', begun, time.time()))

    async def run() -> dict[str, Any]:
        fleet = SimulatedFleet(url=args.url, token=args.token, count=args.count, speed=args.speed, ramp=args.ramp)
        systems: dict[str, TimedSystem] = {}
        for name, host in fleet.hosts.items():
            systems[name] = host.system = TimedSystem(
                hostname=name, platform=host.system.platform, behaviour=host.system.behaviour, remote=fleet.remote
            )
        fleet.remote.push()  # upstream moved on: every pull brings a change, every switch builds it
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        loop.run_in_executor(None, lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)))
        async with fleet:
            print(json.dumps({'started': args.count}), flush=True)
            await done.wait()
        return {h: {'spans': s.spans, 'lines': s.lines} for h, s in systems.items()}

    print(json.dumps(asyncio.run(run()), separators=(',', ':')), flush=True)
    return 0


# -- reading the dashboard ---------------------------------------------------------------------------------------
def epoch(stamp: str | None) -> float | None:
    """POSIX seconds of a journal timestamp (`...Z`)."""
    return datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp() if stamp else None


def journal(server: Server, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows from the dashboard's database, read-only (as another process would)."""
    conn = sqlite3.connect(f'file:{server.data_dir / "nixfleet.db"}?mode=ro', uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def agent_lines_in(paths: Iterable[str | None]) -> int:
    """Agent output lines (stdout and stderr, not headers or markers) in these command log files."""
    from nixfleet.ops.logs import parse_log

    total = 0
    for path in paths:
        if path and Path(path).exists():
            total += sum(e['stream'] in ('stdout', 'stderr') for e in parse_log(Path(path).read_text('utf-8')))
    return total


async def api_get(client: Any, path: str) -> Any:
    response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def wait_hosts(client: Any, count: int, timeout: float) -> list[str]:
    """Wait until `count` hosts are online, heartbeating and idle; return their ids."""
    deadline = time.monotonic() + timeout
    while True:
        hosts = (await api_get(client, '/api/hosts?connection=online'))['hosts']
        ready = [h['id'] for h in hosts if h.get('metrics') and not h.get('busy')]
        if len(ready) >= count:
            return sorted(ready)
        if time.monotonic() > deadline:
            raise SystemExit(f'only {len(ready)} of {count} agents online and idle after {timeout:.0f} s')
        await asyncio.sleep(0.5)


class StreamWatcher(Watcher):
    """A sync watcher that also notes when the first and the last agent output line arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_line: float | None = None
        self.last_line: float | None = None

    def feed(self, raw: str | bytes, t_recv: float, t_open: float) -> None:
        lines = self.stats.agent_lines
        super().feed(raw, t_recv, t_open)
        if self.stats.agent_lines > lines:
            self.first_line = self.first_line or t_recv
            self.last_line = t_recv


def start_child(command: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start an agents process and read its first line (`{"started": N}`)."""
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    first = child.stdout.readline()
    if not first.startswith('{'):
        child.kill()
        raise SystemExit(f'agents did not start: {first!r}')
    return child, json.loads(first)


def stop_child(child: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, Any]:
    """Close the agents' stdin (they stop) and return their last JSON line."""
    out, _ = child.communicate('', timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith('{')]
    return json.loads(lines[-1]) if lines else {}


# -- phase 1: do-all ---------------------------------------------------------------------------------------------
async def do_all_phase(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    """Run do-all on every agent once; return its timings and output counts."""
    import httpx

    child, _ = start_child([
        sys.executable, __file__, 'agents', '--url', f'{server.ws}/ws', '--token', server.agent_token,
        '--count', str(args.agents), '--speed', str(args.speed), '--ramp', str(args.ramp),
    ])  # fmt: skip
    watcher = StreamWatcher(f'{server.ws}/api/sync', auth_headers(server.api_token, None))
    stop = asyncio.Event()
    watching = asyncio.create_task(watcher.run(stop))
    headers = {'Authorization': f'Bearer {server.api_token}'}
    try:
        async with httpx.AsyncClient(base_url=server.http, headers=headers, timeout=60) as client:
            hosts = await wait_hosts(client, args.agents, timeout=120 + args.ramp)
            await asyncio.wait_for(watcher.ready.wait(), 30)
            log(f'do-all on {len(hosts)} agents (speed {args.speed:g})')
            sent = time.time()
            started = await client.post('/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': hosts})
            started.raise_for_status()
            run_id = started.json()['pipeline']['id']
            deadline = time.monotonic() + args.timeout
            while True:
                watcher.changed.clear()
                if watcher.stats.pipelines.get(run_id, 'RUNNING') != 'RUNNING':
                    break
                if (remaining := deadline - time.monotonic()) <= 0:
                    raise SystemExit(f'do-all did not end within {args.timeout:.0f} s')
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher.changed.wait(), remaining)
            seen_end = time.time()
            run = await api_get(client, f'/api/pipelines/{run_id}')
    finally:
        stop.set()
        await watching
        agents = stop_child(child)
    commands = journal(server, 'SELECT * FROM commands WHERE pipeline_id = ?', run_id)
    return summarize_do_all(run, commands, agents, watcher, client_seconds=seen_end - sent)


def summarize_do_all(
    run: dict[str, Any],
    commands: list[dict[str, Any]],
    agents: dict[str, Any],
    watcher: StreamWatcher,
    *,
    client_seconds: float,
) -> dict[str, Any]:
    """Pipeline time, the agents' critical path, overheads, and output completeness of one do-all run."""
    own: dict[tuple[str, int], float] = {}  # (host, stage) → agent-side seconds of that command
    overhead: dict[str, list[float]] = {op: [] for op in OPS}
    to_agent: dict[str, list[float]] = {op: [] for op in OPS}
    from_agent: dict[str, list[float]] = {op: [] for op in OPS}
    stages: dict[int, list[dict[str, Any]]] = {}
    for cmd in commands:
        begun, ended = epoch(cmd['started_at']), epoch(cmd['finished_at'])
        if begun is None or ended is None:
            continue
        spans = agents.get(cmd['host_id'], {}).get('spans', [])
        inside = agent_time(spans, begun, ended)
        mine = sum(end - start for start, end in inside)
        own[(cmd['host_id'], cmd['stage'])] = mine
        overhead[cmd['op']].append(ended - begun - mine)
        if inside:  # dispatch → the agent's first tool starts; its last tool (or restart) ends → journaled end
            to_agent[cmd['op']].append(min(start for start, _ in inside) - begun)
            from_agent[cmd['op']].append(ended - max(end for _, end in inside))
        stages.setdefault(cmd['stage'], []).append({'started': begun, 'finished': ended})
    critical = sum(max((v for (_h, k), v in own.items() if k == stage), default=0.0) for stage in stages)
    total = (epoch(run['finished_at']) or 0.0) - (epoch(run['created_at']) or 0.0)
    every = [v for values in overhead.values() for v in values]
    barriers = [
        min(c['started'] for c in stages[k]) - max(c['finished'] for c in stages[k - 1])
        for k in sorted(stages)
        if k - 1 in stages
    ]
    statuses: dict[str, int] = {}
    for cmd in commands:
        statuses[cmd['status']] = statuses.get(cmd['status'], 0) + 1
    printed = sum(int(a.get('lines', 0)) for a in agents.values())
    return {
        'status': run['status'],
        'hosts': len(run['hosts']),
        'command_statuses': statuses,
        'pipeline_s': round(total, 3),
        'client_dispatch_to_end_s': round(client_seconds, 3),
        'critical_path_s': round(critical, 3),
        'overhead_s': round(total - critical, 3),
        'overhead_pct': round(100 * (total - critical) / total, 1) if total else None,
        'command_overhead_ms': {
            'p50': _ms(percentile(every, 50)),
            'p95': _ms(percentile(every, 95)),
            'max': _ms(max(every) if every else None),
            **{op: _ms(statistics.median(values)) if values else None for op, values in overhead.items()},
        },
        'dispatch_to_tool_ms': {op: _spread(values) for op, values in to_agent.items()},
        'tool_to_journal_ms': {op: _spread(values) for op, values in from_agent.items()},
        'stage_dispatch_spread_ms': [
            _ms(max(c['started'] for c in stages[k]) - min(c['started'] for c in stages[k])) for k in sorted(stages)
        ],
        'stage_barrier_ms': [_ms(b) for b in barriers],
        'tool_lines': printed,  # lines the simulated tools printed (the agent adds its own notes)
        'lines_persisted': agent_lines_in(c['output_file'] for c in commands),
        'lines_streamed': watcher.stats.agent_lines,
        'sync': {'gaps': watcher.stats.gaps, 'resyncs': watcher.stats.resyncs, 'deltas': watcher.stats.deltas},
    }


def agent_time(spans: list[list[Any]], begun: float, ended: float) -> list[tuple[float, float]]:
    """The (start, end) of a host's tools that ran for a command journaled from `begun` to `ended`.

    After a restart the new agent process checks its lock in the background while it registers; that overlaps the
    reconnect and belongs to no command, so nothing after the restart counts.
    """
    inside: list[tuple[float, float]] = []
    for kind, start, end in sorted(spans, key=lambda span: span[1]):
        if begun <= start <= ended:
            inside.append((start, end))
            if kind.startswith('restart:'):
                break
    return inside


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _spread(seconds: list[float]) -> dict[str, float | None]:
    """p50 and p95 of durations, in ms."""
    return {'p50': _ms(percentile(seconds, 50)), 'p95': _ms(percentile(seconds, 95))}


# -- phase 2: output at a fixed rate -----------------------------------------------------------------------------
async def output_phase(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    """Stream `--rate` lines/s from `--spew` agents for `--seconds`; return what was persisted and streamed."""
    import httpx

    child, _ = start_child([
        sys.executable, str(BENCH / 'agents.py'), 'spew', '--url', f'{server.ws}/ws', '--token', server.agent_token,
        '--count', str(args.spew), '--rate', str(args.rate), '--seconds', str(args.seconds),
    ])  # fmt: skip
    watcher = StreamWatcher(f'{server.ws}/api/sync', auth_headers(server.api_token, None), latency=True)
    stop = asyncio.Event()
    watching = asyncio.create_task(watcher.run(stop))
    sampler = Sampler(server.pid, period=0.5)
    sampler.start()
    headers = {'Authorization': f'Bearer {server.api_token}'}
    try:
        async with httpx.AsyncClient(base_url=server.http, headers=headers, timeout=60) as client:
            hosts = await wait_hosts(client, args.spew, timeout=60)
            await asyncio.wait_for(watcher.ready.wait(), 30)
            log(f'output: {args.spew} agents, {args.rate:,.0f} lines/s for {args.seconds:g} s')
            t0 = time.monotonic()
            body = (await client.post('/api/dispatch', json={'op': 'test', 'hosts': hosts})).json()
            ids = [r['command_id'] for r in body['results'] if r['status'] == 'started']
            deadline = time.monotonic() + args.seconds + args.timeout
            pending = set(ids)
            while pending and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                for cid in list(pending):
                    if (await api_get(client, f'/api/commands/{cid}'))['terminal']:
                        pending.discard(cid)
            t1 = time.monotonic()
            commands = [await api_get(client, f'/api/commands/{cid}') for cid in ids]
    finally:
        stop.set()
        await watching
        sampler.stop()
        spew = stop_child(child)
    rows = journal(server, f'SELECT output_file FROM commands WHERE id IN ({",".join("?" * len(ids))})', *ids)
    lags = watcher.stats.line_latency_ms
    tenth = max(1, len(lags) // 10)
    window = (watcher.last_line or 0.0) - (watcher.first_line or 0.0)
    sent = int(spew.get('lines_sent') or 0)
    return {
        'agents': args.spew,
        'rate_offered': args.rate,
        'seconds': args.seconds,
        'commands': len(ids),
        'commands_success': sum(c['status'] == 'SUCCESS' for c in commands),
        'unfinished': len(pending),
        'lines_sent': sent,
        'lines_persisted': agent_lines_in(r['output_file'] for r in rows),
        'lines_streamed': watcher.stats.agent_lines,
        'sent_per_s': round(sent / args.seconds, 1),
        'streamed_per_s': round(watcher.stats.agent_lines / window, 1) if window > 0 else None,
        'lag_ms': {
            'p50': _round(percentile(lags, 50)),
            'p99': _round(percentile(lags, 99)),
            'max': _round(max(lags) if lags else None),
            'first_tenth_p99': _round(percentile(lags[:tenth], 99)),
            'last_tenth_p99': _round(percentile(lags[-tenth:], 99)),
        },
        'server_lag_ms': {  # the dashboard's part: it received the line (its `ts`) → the watcher got it
            'p50': _round(percentile(watcher.stats.server_latency_ms, 50)),
            'p99': _round(percentile(watcher.stats.server_latency_ms, 99)),
        },
        'sync': {'gaps': watcher.stats.gaps, 'resyncs': watcher.stats.resyncs, 'closed': watcher.stats.closed},
        'server': sampler.summary(t0, t1),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# -- the command -------------------------------------------------------------------------------------------------
def run_once(args: argparse.Namespace) -> dict[str, Any]:
    """Both phases, each on a fresh dashboard."""
    result: dict[str, Any] = {}
    if args.agents:
        with (
            tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
            running_server(Path(tmp), ui=args.ui, api_token=True) as server,
        ):
            result['do_all'] = asyncio.run(do_all_phase(args, server))
    if args.spew:
        with (
            tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
            running_server(Path(tmp), ui=args.ui, api_token=True) as server,
        ):
            result['output'] = asyncio.run(output_phase(args, server))
    result['bench'] = metadata(
        SCENARIO, variant='' if args.ui else 'core', command='python bench/do_all.py ' + ' '.join(sys.argv[1:])
    )
    return result


def row(runs: list[dict[str, Any]]) -> str:
    """A bench/README.md row: medians across runs."""

    def m(path: str, unit: str = '', digits: int = 1) -> str:
        values = []
        for run in runs:
            value: Any = run
            for key in path.split('.'):
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        found = median(values)
        return '—' if found is None else f'{found:,.{digits}f}{unit}'

    first = runs[0]
    d, o = first.get('do_all') or {}, first.get('output') or {}
    return (
        f'| {d.get("hosts", "—")} | {first.get("speed", "—")} | {m("do_all.pipeline_s", " s")} '
        f'| {m("do_all.critical_path_s", " s")} | {m("do_all.overhead_s", " s")} '
        f'| {m("do_all.command_overhead_ms.p50", " ms", 0)} / {m("do_all.command_overhead_ms.p95", " ms", 0)} '
        f'| {m("do_all.lines_persisted", "", 0)} / {m("do_all.lines_streamed", "", 0)} '
        f'| {o.get("rate_offered", 0):,.0f}/s × {o.get("seconds", 0):g} s | {m("output.lines_persisted", "", 0)} '
        f'| {m("output.streamed_per_s", "/s", 0)} '
        f'| {m("output.lag_ms.p50", " ms", 0)} / {m("output.lag_ms.p99", " ms", 0)} '
        f'({m("output.lag_ms.first_tenth_p99", " ms", 0)} → {m("output.lag_ms.last_tenth_p99", " ms", 0)}) '
        f'| {m("output.server.cpu_pct_median", " %", 0)} ({m("output.server.cpu_pct_p95", " %", 0)}) |'
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark `--repeat` times (or, as `agents`, be its simulated fleet)."""
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ['agents']:
        child = argparse.ArgumentParser(prog='bench/do_all.py agents')
        child.add_argument('--url', required=True)
        child.add_argument('--token', required=True)
        child.add_argument('--count', type=int, required=True)
        child.add_argument('--speed', type=float, default=1.0)
        child.add_argument('--ramp', type=float, default=5.0)
        return agents_main(child.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(
        prog='bench/do_all.py',
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument('--agents', type=int, default=200, help='simulated agents for do-all (0: skip the phase)')
    parser.add_argument('--speed', type=float, default=1.0, help='simulated durations are divided by this')
    parser.add_argument('--ramp', type=float, default=5.0, help='seconds over which the agents connect')
    parser.add_argument('--spew', type=int, default=20, help='raw agents for the output phase (0: skip it)')
    parser.add_argument('--rate', type=float, default=10_000.0, help='output lines per second, all agents together')
    parser.add_argument('--seconds', type=float, default=20.0, help='how long the output phase streams')
    parser.add_argument('--timeout', type=float, default=300.0, help='seconds a phase may take beyond its work')
    parser.add_argument('--repeat', type=int, default=1, help='runs, each on fresh dashboards (report medians)')
    parser.add_argument('--ui', action=argparse.BooleanOptionalAction, default=True, help='mount the NiceGUI UI')
    args = parser.parse_args(argv)
    runs = []
    for index in range(args.repeat):
        log(f'{SCENARIO}: run {index + 1} of {args.repeat}')
        result = run_once(args)
        result['speed'] = args.speed
        out = append(SCENARIO, result)
        runs.append(result)
        log(json.dumps({k: v for k, v in result.items() if k != 'bench'}))
    log(f'appended {len(runs)} result(s) to {out}')
    print(TABLE_HEAD)
    print(row(runs))
    return 0


if __name__ == '__main__':
    sys.exit(main())
