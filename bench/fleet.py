"""The fleet scenario: N harness agents heartbeating to a fresh dashboard, measured by bench/fleet_load.py.

Optionally with more observers (`--observers K`: the harness's latency observer plus K-1 passive /api/sync
watchers that check every version arrives), from other checkouts (`--tree NAME=PATH`, runs interleaved for A/B),
and with a py-spy profile of the steady-state window (`--profile`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import profiling
from record import BENCH, RESULTS, append, log, medians, metadata
from serverctl import Server, login_works, running_server

HARNESS = BENCH / 'fleet_load.py'
WATCHER = BENCH / 'syncwatch.py'
TABLE_HEAD = (
    '| variant | agents | heartbeat | observers | CPU % of one core, median (p95) | harness CPU % | × harness '
    '| RSS max | latency median | latency p99 | registration median / p99 | delivered | runs |\n'
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|'
)
SUMMARY_KEYS = (
    'cpu_pct_median',
    'cpu_pct_p95',
    'rss_mb_max',
    'latency_ms_median',
    'latency_ms_p99',
    'delivered_pct',
    'harness_cpu_pct_median',
    'cpu_x_harness',
    'register_ms_median',
    'register_ms_p99',
)


def parse_trees(values: list[str] | None) -> list[tuple[str, Path | None]]:
    """`NAME=PATH` options as (name, path); none given: this checkout."""
    if not values:
        return [('', None)]
    trees = []
    for value in values:
        name, sep, path = value.partition('=')
        if not sep or not Path(path).is_dir():
            raise SystemExit(f'--tree wants NAME=PATH to a checkout, got {value!r}')
        trees.append((name, Path(path).resolve()))
    return trees


def cpu_x_harness(summary: dict[str, Any]) -> float | None:
    """Dashboard CPU median / the harness's own CPU median: the figure that compares across machines."""
    cpu, harness = summary.get('cpu_pct_median'), summary.get('harness_cpu_pct_median')
    if not isinstance(cpu, int | float) or not isinstance(harness, int | float) or not harness:
        return None
    return round(cpu / harness, 2)


def harness_command(args: argparse.Namespace, server: Server, observer: str, label: str) -> list[str]:
    """The fleet_load.py command line for this run."""
    command = [
        sys.executable,
        str(HARNESS),
        '--url',
        f'{server.ws}/ws',
        f'--token={server.agent_token}',  # `=`: a generated secret may start with '-'
        '--agents',
        str(args.agents),
        '--interval',
        str(args.interval),
        '--duration',
        str(args.duration),
        '--pid',
        str(server.pid),
        '--observer',
        observer,
        '--label',
        label,
    ]
    if observer == 'sync':
        command.append(f'--password={server.password}')
    return command


def start_watchers(server: Server, count: int, seconds: float) -> subprocess.Popen[str] | None:
    """Start `count` passive sync watchers in their own process (API token auth)."""
    if count <= 0:
        return None
    return subprocess.Popen(
        [sys.executable, str(WATCHER), '--url', f'{server.ws}/api/sync', f'--token={server.api_token}',
         '--clients', str(count), '--seconds', str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def fleet_once(args: argparse.Namespace, scenario: str, variant: str, tree: Path | None) -> dict[str, Any]:
    """One fleet run on a fresh dashboard; return the harness summary with run metadata."""
    extra = max(0, args.observers - 1)
    with (
        tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
        running_server(Path(tmp), ui=args.ui, tree=tree, api_token=extra > 0) as server,
    ):
        observer = args.observer
        if observer == 'auto':
            observer = 'sync' if login_works(server) else 'none'
            if observer == 'none':
                log('POST /login gave no session cookie: running without an observer (CPU and RSS only)')
        watchers = start_watchers(server, extra, args.duration + 8)
        if watchers is not None:
            time.sleep(1.0)  # let them take their init before the agents start
        ramp = min(10.0, args.interval * 2, args.duration / 4)
        profile = None
        if args.profile:
            delay = ramp + args.interval + 3
            profile = profiling.start(server.pid, Path(tmp) / 'profile.txt', delay, args.duration - delay - 2)
        log(f'fleet_load: {args.agents} agents, heartbeat {args.interval:g} s, {args.duration:g} s, {observer=}, '
            f'{extra} extra watchers, variant {variant or "-"}')  # fmt: skip
        try:
            result = subprocess.run(
                harness_command(args, server, observer, scenario), stdout=subprocess.PIPE, text=True,
                timeout=args.duration + 180,
            )  # fmt: skip
            lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
            if result.returncode != 0 or not lines:
                raise SystemExit(f'fleet_load failed (exit {result.returncode}); server log:\n{server.log_tail()}')
            summary: dict[str, Any] = json.loads(lines[-1])
            summary['cpu_x_harness'] = cpu_x_harness(summary)
            if watchers is not None:
                out, _ = watchers.communicate(timeout=60)
                summary['watchers'] = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
        finally:
            if watchers is not None and watchers.poll() is None:
                watchers.kill()
                watchers.wait()
        if profile is not None:
            summary['profile'] = profiling.finish(profile, RESULTS / 'profiles', f'{scenario}-{variant or "run"}')
        summary['bench'] = metadata(
            scenario, variant=variant, tree=tree, observer=observer, ui=args.ui, observers=args.observers,
            profiled=bool(args.profile),
        )  # fmt: skip
        return summary


def row(variant: str, runs: list[dict[str, Any]], observers: int) -> str:
    """A README table row from several runs (medians across runs)."""
    first, m = runs[0], medians(runs, SUMMARY_KEYS)

    def cell(key: str, unit: str = '') -> str:
        return '—' if m[key] is None else f'{m[key]:g}{unit}'

    return (
        f'| {variant or "-"} | {first["agents"]:,} | {first["heartbeat_s"]:g} s | {observers} '
        f'| {cell("cpu_pct_median")} ({cell("cpu_pct_p95")}) | {cell("harness_cpu_pct_median")} '
        f'| {cell("cpu_x_harness")} | {cell("rss_mb_max", " MB")} '
        f'| {cell("latency_ms_median", " ms")} | {cell("latency_ms_p99", " ms")} '
        f'| {cell("register_ms_median")} / {cell("register_ms_p99", " ms")} | {cell("delivered_pct", " %")} '
        f'| {len(runs)} |'
    )


def check(summary: dict[str, Any], agents: int) -> list[str]:
    """Correctness problems of a run (all agents connected, every change delivered, no resyncs)."""
    problems = []
    if summary.get('connected') != agents:
        problems.append(f'{summary.get("connected")}/{agents} agents connected at the end')
    if summary.get('delivered_pct') not in (None, 100.0):
        problems.append(f'delivered {summary.get("delivered_pct")} %')
    observer = summary.get('observer_stats') or {}
    if observer.get('resyncs') or observer.get('version_gaps'):
        problems.append(f'observer: {observer.get("resyncs")} resyncs, {observer.get("version_gaps")} gaps')
    for index, watcher in enumerate(summary.get('watchers') or []):
        if watcher.get('gaps') or watcher.get('resyncs') or watcher.get('init_ms') is None:
            problems.append(f'watcher {index}: {watcher}')
    return problems


def cmd_fleet(args: argparse.Namespace) -> int:
    """Run the fleet scenario `--repeat` times per tree (interleaved), each on a fresh dashboard."""
    trees = parse_trees(args.tree)
    scenario = args.name or (
        f'fleet-{args.agents}x{args.interval:g}s' + (f'-{args.observers}obs' if args.observers > 1 else '')
    )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    out = None
    for index in range(args.repeat):
        for variant, tree in trees:
            log(f'{scenario}: run {index + 1} of {args.repeat}' + (f' ({variant})' if variant else ''))
            summary = fleet_once(args, scenario, variant, tree)
            out = append(scenario + ('-profile' if args.profile else ''), summary)
            runs[variant].append(summary)
            log(
                f'cpu median {summary["cpu_pct_median"]} % (p95 {summary["cpu_pct_p95"]}), '
                f'harness {summary["harness_cpu_pct_median"]} %, × harness {summary["cpu_x_harness"]}, '
                f'rss max {summary["rss_mb_max"]} MB, latency median {summary["latency_ms_median"]} ms, '
                f'p99 {summary["latency_ms_p99"]} ms, connected {summary["connected"]}/{args.agents}, '
                f'disconnects {summary["disconnects"]}, load {summary["bench"]["machine"]["loadavg"]}'
            )
            for problem in check(summary, args.agents):
                log(f'PROBLEM: {problem}')
            if summary.get('profile'):
                log(f'profile: {summary["profile"]["file"]}')
    if out is not None:
        log(f'appended results to {out}')
    print(TABLE_HEAD)
    for variant, variant_runs in runs.items():
        print(row(variant, variant_runs, args.observers))
    return 0


def add_parser(sub: Any) -> None:
    """The `fleet` subcommand."""
    fleet = sub.add_parser(
        'fleet',
        help='N simulated agents heartbeating to one dashboard: CPU, RSS, change-to-client latency',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    fleet.add_argument('--agents', '-n', type=int, default=500, help='simulated agents')
    fleet.add_argument('--interval', '-H', type=float, default=1.0, help='heartbeat interval, seconds')
    fleet.add_argument('--duration', type=float, default=60.0, help='seconds per run, ramp included')
    fleet.add_argument('--repeat', type=int, default=1, help='runs per tree, each on a fresh dashboard')
    fleet.add_argument(
        '--observer',
        choices=['auto', 'sync', 'none'],
        default='auto',
        help='latency observer on /api/sync (password login); auto falls back to none when login is unavailable',
    )
    fleet.add_argument('--observers', type=int, default=1, help='sync clients: the observer plus passive watchers')
    fleet.add_argument(
        '--ui', action=argparse.BooleanOptionalAction, default=True, help='mount the NiceGUI UI (--no-ui: core only)'
    )
    fleet.add_argument(
        '--tree',
        action='append',
        metavar='NAME=PATH',
        help='run the server from this checkout (repeat for interleaved A/B runs; default: this checkout)',
    )
    fleet.add_argument('--profile', action='store_true', help='py-spy profile of the steady-state window')
    fleet.add_argument('--name', help='scenario name for results/<name>.jsonl (default fleet-<N>x<H>s)')
    fleet.set_defaults(func=cmd_fleet)
