"""Scenarios on a large store (bench/bigstore.py): `coldstart`, `retention` and `init`.

- coldstart: time from starting `nixfleet serve` to the first `/health` 200 on a copy of the large store (and on an
  empty one for reference), RSS once healthy, and an in-process breakdown (bench/startup_probe.py).
- retention: one sweep of nixfleet.store.retention over the large store while a probe writes every 20 ms (how
  long other writes wait), then the next day's sweep (nothing to delete).
- init: `init` messages of the large store's 2,000 hosts: time from opening /api/sync to the whole `init`
  received (sequential clients, loopback), and the server-side encoding time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bigstore
import psutil
from record import BENCH, append, log, metadata, percentile
from serverctl import python_env, running_server
from syncwatch import Watcher, auth_headers


def shape_of(args: argparse.Namespace) -> bigstore.Shape:
    return bigstore.Shape(hosts=args.hosts, events=args.events, commands=args.commands)


def ms(values: list[float]) -> dict[str, float | None]:
    """Median, p95 and max of millisecond values."""
    return {
        'median': round(statistics.median(values), 2) if values else None,
        'p95': round(percentile(values, 95) or 0, 2) if values else None,
        'max': round(max(values), 2) if values else None,
    }


# -- cold start ---------------------------------------------------------------------------------------------------
def probe_startup(data: Path, tree: Path | None, ui: bool) -> dict[str, Any]:
    """The in-process breakdown of startup on (a copy of) a data dir."""
    command = [sys.executable, str(BENCH / 'startup_probe.py'), str(data)] + (['--ui'] if ui else [])
    done = subprocess.run(command, env=python_env(tree), capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{')]
    return json.loads(lines[-1]) if lines else {'error': done.stderr[-2000:]}


def coldstart_once(args: argparse.Namespace, tree: Path | None, shape: bigstore.Shape) -> dict[str, Any]:
    """Start the server on a fresh copy of the store; time to /health 200 and RSS then."""
    with tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp:
        data, _ = bigstore.data_dir(shape, Path(tmp) / 'data')
        with running_server(Path(tmp), ui=args.ui, tree=tree, data_dir=data) as server:
            rss = psutil.Process(server.pid).memory_info().rss / 2**20
            return {'healthy_s': round(server.healthy_after, 3), 'rss_mb': round(rss, 1)}


def cmd_coldstart(args: argparse.Namespace) -> int:
    tree = Path(args.tree).resolve() if args.tree else None
    shapes = {'large': shape_of(args), 'empty': bigstore.Shape(hosts=0, events=0, commands=0, recent=0, active=0)}
    result: dict[str, Any] = {'shape': shapes['large'].name}
    for name, shape in shapes.items():
        runs = [coldstart_once(args, tree, shape) for _ in range(args.repeat)]
        result[name] = {
            'healthy_s': [r['healthy_s'] for r in runs],
            'healthy_s_median': round(statistics.median(r['healthy_s'] for r in runs), 3),
            'rss_mb_median': round(statistics.median(r['rss_mb'] for r in runs), 1),
        }
        log(f'{name}: healthy after {result[name]["healthy_s"]} s')
    with tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp:
        data, _ = bigstore.data_dir(shapes['large'], Path(tmp) / 'data')
        result['breakdown'] = probe_startup(data, tree, args.ui)
    return record(args, 'coldstart', result, tree)


# -- retention ----------------------------------------------------------------------------------------------------
async def sweep_with_probe(data: Path, now: float, args: argparse.Namespace) -> dict[str, Any]:
    from nixfleet.store import Store
    from nixfleet.store.retention import DAY, Retention

    store = Store(data / 'nixfleet.db')
    store.open()
    clock = [now]
    sweep = Retention(
        store, lambda: clock[0], logs_dir=data / 'logs', cmd_retention_days=args.cmd_days,
        log_retention_days=args.log_days, **({'batch': args.batch} if args.batch else {}),
    )  # fmt: skip
    waits: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:  # a small write every 20 ms, like a fact change or an event
        while not stop.is_set():
            t = time.perf_counter()
            await store.write(lambda db: db.execute('UPDATE state_version SET version = version WHERE id = 1'))
            waits.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.02)

    files_before = sum(1 for _ in (data / 'logs').rglob('*.log'))
    task = asyncio.create_task(probe())
    await asyncio.sleep(2)
    idle, waits[:] = list(waits), []
    first = await sweep.run()
    during, waits[:] = list(waits), []
    clock[0] += DAY
    second = await sweep.run()
    stop.set()
    await task
    store.close()
    return {
        'first': _result(first),
        'next_day': _result(second),
        'log_files_before': files_before,
        'log_files_after': sum(1 for _ in (data / 'logs').rglob('*.log')),
        'probe_write_ms_idle': ms(idle),
        'probe_write_ms_during_sweep': ms(during),
    }


def _result(result: Any) -> dict[str, Any]:
    return {
        'commands': result.commands,
        'pipelines': result.pipelines,
        'events': result.events,
        'log_files': result.log_files,
        'seconds': round(result.seconds, 2),
    }


def cmd_retention(args: argparse.Namespace) -> int:
    shape = shape_of(args)
    results = []
    for index in range(args.repeat):
        log(f'retention: run {index + 1} of {args.repeat}')
        with tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp:
            data, now = bigstore.data_dir(shape, Path(tmp) / 'data')
            results.append(asyncio.run(sweep_with_probe(data, now, args)))
            log(f'first sweep {results[-1]["first"]}, next day {results[-1]["next_day"]}')
    return record(args, 'retention', {'shape': shape.name, 'batch': args.batch or None, 'runs': results}, None)


# -- init ---------------------------------------------------------------------------------------------------------
async def init_times(url: str, token: str, clients: int) -> list[dict[str, Any]]:
    """Open `clients` sync connections one after the other; time each until its `init` is received."""
    times = []
    for _ in range(clients):
        watcher = Watcher(url, auth_headers(token, None))
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await asyncio.wait_for(watcher.ready.wait(), 30)
        stop.set()
        await task
        stats = watcher.stats
        times.append({'ms': stats.init_ms, 'bytes': stats.init_bytes, 'hosts': stats.init_hosts})
    return times


def cmd_init(args: argparse.Namespace) -> int:
    tree = Path(args.tree).resolve() if args.tree else None
    shape = shape_of(args)
    with tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp:
        data, _ = bigstore.data_dir(shape, Path(tmp) / 'data')
        with running_server(Path(tmp), ui=args.ui, tree=tree, data_dir=data, api_token=True) as server:
            assert server.api_token is not None
            time.sleep(1)
            runs = asyncio.run(init_times(f'{server.ws}/api/sync', server.api_token, args.clients))
        breakdown = probe_startup(data, tree, False)
    values = [float(r['ms']) for r in runs if r['ms'] is not None]
    result = {
        'shape': shape.name,
        'hosts': runs[0]['hosts'] if runs else None,
        'init_bytes': runs[0]['bytes'] if runs else None,
        'client_init_ms': ms(values),
        'server_encode_ms_median': breakdown.get('init_encode_ms_median'),
        'runs': runs,
    }
    log(f'init: {result["client_init_ms"]} ms for {result["init_bytes"]} bytes ({result["hosts"]} hosts)')
    return record(args, 'init', result, tree)


# -- common -------------------------------------------------------------------------------------------------------
def record(args: argparse.Namespace, scenario: str, result: dict[str, Any], tree: Path | None) -> int:
    name = args.name or scenario
    result['bench'] = metadata(name, tree=tree, ui=getattr(args, 'ui', None))
    out = append(name, result)
    print(json.dumps({k: v for k, v in result.items() if k not in ('bench', 'runs')}), flush=True)
    log(f'appended to {out}')
    return 0


def add_parsers(sub: Any) -> None:
    """The `coldstart`, `retention` and `init` subcommands."""
    parsers = []
    cold = sub.add_parser('coldstart', help='start to /health 200 on a store with 1 M events and 100 k commands')
    cold.add_argument('--repeat', type=int, default=5)
    cold.set_defaults(func=cmd_coldstart)
    parsers.append(cold)
    ret = sub.add_parser('retention', help='a retention sweep on the large store, with a concurrent write probe')
    ret.add_argument('--repeat', type=int, default=1)
    ret.add_argument('--cmd-days', type=float, default=30)
    ret.add_argument('--log-days', type=float, default=7)
    ret.add_argument('--batch', type=int, default=0, help='rows per transaction (default: retention.BATCH)')
    ret.set_defaults(func=cmd_retention)
    parsers.append(ret)
    init = sub.add_parser('init', help='the init message of 2,000 hosts: client-observed and encoding time')
    init.add_argument('--clients', type=int, default=20, help='sequential sync connections')
    init.set_defaults(func=cmd_init)
    parsers.append(init)
    for parser in parsers:
        parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
        parser.add_argument('--hosts', type=int, default=2_000)
        parser.add_argument('--events', type=int, default=1_000_000)
        parser.add_argument('--commands', type=int, default=100_000)
        parser.add_argument('--ui', action=argparse.BooleanOptionalAction, default=True)
        parser.add_argument('--tree', help='run the server from this checkout')
        parser.add_argument('--name', help='results/<name>.jsonl')
