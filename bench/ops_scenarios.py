"""Scenarios that run ops: `doall` (the do-all pipeline on a simulated fleet) and `output` (N lines/s of output).

Both start a fresh dashboard with an API token, start an agent fleet in its own process (bench/agents.py), watch
/api/sync from here (every version, every output line), sample the server's CPU and RSS, and afterwards count the
output lines in the log files: every line an agent wrote must be in its log file and must have reached the watcher.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import profiling
from record import BENCH, RESULTS, append, log, metadata, percentile
from sampling import Sampler
from serverctl import Server, running_server
from syncwatch import Watcher, auth_headers

AGENTS = BENCH / 'agents.py'
PIPELINE_DONE = frozenset({'COMPLETE', 'PARTIAL', 'FAILED', 'CANCELLED'})


def maybe_profile(args: argparse.Namespace, server: Server, tmp: Path) -> profiling.Recording | None:
    """Start a py-spy recording of `--profile` seconds when asked."""
    return profiling.start(server.pid, tmp / 'profile.txt', 0, args.profile) if args.profile else None


def api(server: Server, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the dashboard's API with the bench API token; return the JSON answer."""
    request = urllib.request.Request(
        f'{server.http}{path}',
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={'Authorization': f'Bearer {server.api_token}', 'Content-Type': 'application/json'},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def agents_connected(server: Server) -> int:
    """Agents with an open, registered link (from /health)."""
    with urllib.request.urlopen(f'{server.http}/health', timeout=5) as response:
        return int(json.loads(response.read()).get('agents_connected') or 0)


def start_agents(server: Server, kind: str, count: int, *options: str) -> subprocess.Popen[str]:
    """Start an agent fleet process and wait until all its agents are connected."""
    process = subprocess.Popen(
        [sys.executable, str(AGENTS), kind, '--url', f'{server.ws}/ws', f'--token={server.agent_token}',
         '--count', str(count), *options],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while (connected := agents_connected(server)) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f'{kind} agents: {connected}/{count} connected; server log:\n{server.log_tail()}')
        time.sleep(0.5)
    log(f'{count} {kind} agents connected')
    return process


def stop_agents(process: subprocess.Popen[str]) -> dict[str, Any]:
    """Stop an agent fleet (stdin EOF) and return its final JSON line."""
    out, _ = process.communicate(input='', timeout=60)
    lines = [line for line in out.splitlines() if line.startswith('{')]
    return dict(json.loads(lines[-1])) if lines else {}


def log_lines(data_dir: Path) -> tuple[int, int]:
    """(all lines, agent output lines) in the data dir's command logs (agent lines: not `#` headers or [META])."""
    total = agent = 0
    for path in (data_dir / 'logs').rglob('*.log'):
        for line in path.read_text(encoding='utf-8', errors='replace').splitlines():
            total += 1
            if not line.startswith('# ') and '] [META] ' not in line:
                agent += 1
    return total, agent


def latency(values: list[float]) -> dict[str, float | None]:
    """Median, p99 and max of latencies in ms."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        'median': r(percentile(values, 50)),
        'p99': r(percentile(values, 99)),
        'max': r(max(values) if values else None),
        'samples': len(values),
    }


async def next_change(watcher: Watcher) -> None:
    """Wait for the watcher's next delta."""
    await watcher.changed.wait()
    watcher.changed.clear()


async def watch_while(server: Server, action: Callable[[Watcher], Any], timeout: float) -> tuple[Watcher, float]:
    """Connect a watcher, run `action(watcher)` (a coroutine that ends when the scenario is done), drain 1 s."""
    watcher = Watcher(f'{server.ws}/api/sync', auth_headers(server.api_token, None), latency=True)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await asyncio.wait_for(watcher.ready.wait(), 30)
    started = time.monotonic()
    await asyncio.wait_for(action(watcher), timeout)
    took = time.monotonic() - started
    await asyncio.sleep(1.0)
    stop.set()
    await task
    return watcher, took


# -- do-all -------------------------------------------------------------------------------------------------------
def doall_once(args: argparse.Namespace, tree: Path | None) -> dict[str, Any]:
    """One do-all run on a fresh dashboard with `--hosts` simulated agents."""
    with (
        tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
        running_server(Path(tmp), ui=args.ui, tree=tree, api_token=True) as server,
    ):
        options = ('--speed', str(args.speed), '--interval', '5', '--ramp', str(args.ramp), '--push')
        agents = start_agents(server, 'sim', args.hosts, *options)
        time.sleep(6)  # one heartbeat round after the ramp: every host reported its facts
        width = max(2, len(str(args.hosts)))
        hosts = [f'sim-{i + 1:0{width}d}' for i in range(args.hosts)]
        sampler = Sampler(server.pid, 0.5)
        sampler.start()
        profile = maybe_profile(args, server, Path(tmp))
        pipeline: dict[str, Any] = {}

        async def run_pipeline(watcher: Watcher) -> None:
            body = {'pipeline': 'do-all', 'hosts': hosts}
            answer = await asyncio.to_thread(api, server, 'POST', '/api/dispatch/pipeline', body)
            pipeline_id = answer['pipeline']['id']
            while watcher.stats.pipelines.get(pipeline_id) not in PIPELINE_DONE:
                await next_change(watcher)
            pipeline.update(await asyncio.to_thread(api, server, 'GET', f'/api/pipelines/{pipeline_id}'))
            failed = await asyncio.to_thread(
                api, server, 'GET', f'/api/commands?pipeline={pipeline_id}&status=ERROR&status=TIMEOUT&limit=1000'
            )
            pipeline['failed'] = sorted(
                {f'{c["op"]}: {c.get("error") or c.get("message")}' for c in failed.get('commands') or []}
            )

        t0 = time.monotonic()
        watcher, took = asyncio.run(watch_while(server, run_pipeline, args.timeout))
        sampler.stop()
        fleet = stop_agents(agents)
        total, agent_lines = log_lines(server.data_dir)
        cells: dict[str, int] = {}  # command statuses over every (stage, host) of the run
        for stage in pipeline.get('stages') or []:
            for status in stage.values():
                cells[str(status)] = cells.get(str(status), 0) + 1
        return {
            'profile': profiling.finish(profile, RESULTS / 'profiles', 'doall') if profile else None,
            'hosts': args.hosts,
            'speed': args.speed,
            'pipeline_status': pipeline.get('status'),
            'pipeline_cells': dict(sorted(cells.items())),
            'pipeline_failed': pipeline.get('failed'),
            'pipeline_s': round(took, 2),
            **sampler.summary(t0, t0 + took),
            'log_lines': total,
            'log_agent_lines': agent_lines,
            'streamed_lines': watcher.stats.output_lines,
            'streamed_agent_lines': watcher.stats.agent_lines,
            'output_latency_ms': latency(watcher.stats.server_latency_ms),
            'watcher': watcher.stats.summary(),
            'agents': fleet,
        }


def doall_check(result: dict[str, Any]) -> list[str]:
    """Correctness problems of a do-all run."""
    problems = []
    if result['pipeline_status'] != 'COMPLETE':
        problems.append(f'pipeline ended {result["pipeline_status"]} ({result["pipeline_cells"]})')
    if result['log_lines'] != result['streamed_lines']:
        problems.append(f'{result["log_lines"]} lines in log files, {result["streamed_lines"]} streamed')
    watcher = result['watcher']
    if watcher['gaps'] or watcher['resyncs']:
        problems.append(f'watcher: {watcher["gaps"]} gaps, {watcher["resyncs"]} resyncs')
    return problems


# -- output -------------------------------------------------------------------------------------------------------
def output_once(args: argparse.Namespace, tree: Path | None) -> dict[str, Any]:
    """One run: `--agents` spew agents stream `--rate` lines/s in total for `--seconds`."""
    with (
        tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
        running_server(Path(tmp), ui=args.ui, tree=tree, api_token=True) as server,
    ):
        options = ('--rate', str(args.rate), '--seconds', str(args.seconds), '--line-bytes', str(args.line_bytes))
        agents = start_agents(server, 'spew', args.agents, *options)
        hosts = [f'spew-{i:03d}' for i in range(args.agents)]
        sampler = Sampler(server.pid, 0.5)
        sampler.start()
        profile = maybe_profile(args, server, Path(tmp))

        async def run_test(watcher: Watcher) -> None:
            answer = await asyncio.to_thread(api, server, 'POST', '/api/dispatch', {'op': 'test', 'hosts': hosts})
            if answer['summary']['started'] != len(hosts):
                raise SystemExit(f'dispatch refused: {answer}')
            while watcher.stats.by_type.get('command_finished', 0) < len(hosts):
                await next_change(watcher)

        t0 = time.monotonic()
        watcher, took = asyncio.run(watch_while(server, run_test, args.seconds + 60))
        sampler.stop()
        fleet = stop_agents(agents)
        total, agent_lines = log_lines(server.data_dir)
        sent = int(fleet.get('lines_sent') or 0)
        return {
            'profile': profiling.finish(profile, RESULTS / 'profiles', 'output') if profile else None,
            'agents': args.agents,
            'rate_target': args.rate,
            'seconds': args.seconds,
            'lines_sent': sent,
            'rate_sent': round(sent / args.seconds),
            'run_s': round(took, 2),
            **sampler.summary(t0 + 1, t0 + args.seconds),
            'log_lines': total,
            'log_agent_lines': agent_lines,
            'streamed_lines': watcher.stats.output_lines,
            'streamed_agent_lines': watcher.stats.agent_lines,
            'send_to_client_ms': latency(watcher.stats.line_latency_ms),
            'server_to_client_ms': latency(watcher.stats.server_latency_ms),
            'watcher': watcher.stats.summary(),
        }


def output_check(result: dict[str, Any]) -> list[str]:
    """Correctness problems of an output run: lost lines, gaps, resyncs."""
    problems = []
    if not result['lines_sent'] == result['log_agent_lines'] == result['streamed_agent_lines']:
        problems.append(
            f'{result["lines_sent"]} lines sent, {result["log_agent_lines"]} in log files, '
            f'{result["streamed_agent_lines"]} streamed'
        )
    watcher = result['watcher']
    if watcher['gaps'] or watcher['resyncs']:
        problems.append(f'watcher: {watcher["gaps"]} gaps, {watcher["resyncs"]} resyncs')
    return problems


# -- CLI ----------------------------------------------------------------------------------------------------------
def repeat(
    args: argparse.Namespace,
    scenario: str,
    once: Callable[[argparse.Namespace, Path | None], dict[str, Any]],
    check: Callable[[dict[str, Any]], list[str]],
) -> int:
    """Run a scenario `--repeat` times; record and print each result."""
    tree = Path(args.tree).resolve() if args.tree else None
    for index in range(args.repeat):
        log(f'{scenario}: run {index + 1} of {args.repeat}')
        result = once(args, tree)
        result['problems'] = check(result)
        result['bench'] = metadata(scenario, tree=tree, ui=args.ui)
        out = append(scenario, result)
        print(json.dumps({k: v for k, v in result.items() if k not in ('watcher', 'bench')}), flush=True)
        for problem in result['problems']:
            log(f'PROBLEM: {problem}')
    log(f'appended to {out}')
    return 0


def add_parsers(sub: Any) -> None:
    """The `doall` and `output` subcommands."""
    doall = sub.add_parser(
        'doall',
        help='do-all (pull, switch, test) on N simulated hosts streaming output: duration, CPU, lines kept',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    doall.add_argument('--hosts', type=int, default=500)
    doall.add_argument('--speed', type=float, default=5.0, help='simulated ops run this many times faster')
    doall.add_argument('--ramp', type=float, default=10.0, help='seconds over which the agents connect')
    doall.add_argument('--timeout', type=float, default=600.0)
    doall.set_defaults(func=lambda a: repeat(a, a.name or f'doall-{a.hosts}', doall_once, doall_check))

    output = sub.add_parser(
        'output',
        help='agents stream N output lines/s in total: all persisted and streamed, latency, CPU',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    output.add_argument('--agents', type=int, default=20)
    output.add_argument('--rate', type=float, default=10_000.0, help='output lines per second, all agents')
    output.add_argument('--seconds', type=float, default=20.0)
    output.add_argument('--line-bytes', type=int, default=100)
    output.set_defaults(func=lambda a: repeat(a, a.name or f'output-{int(a.rate)}lps', output_once, output_check))

    for parser in (doall, output):
        parser.add_argument('--repeat', type=int, default=1)
        parser.add_argument('--ui', action=argparse.BooleanOptionalAction, default=True)
        parser.add_argument('--tree', help='run the server from this checkout')
        parser.add_argument('--name', help='results/<name>.jsonl')
        parser.add_argument('--profile', type=float, default=0, help='py-spy profile of this many seconds')
