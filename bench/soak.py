"""The `soak` scenario: N commands through a running dashboard; RSS and the live state's size over time.

A fresh `nixfleet serve` (API token, UI mounted unless `--no-ui`) and `--agents` raw agents over WebSocket
(bench/agents.py `spew` with no output: each answers a command with `status ok` at once). Rounds of `test` on every
agent are dispatched through `POST /api/dispatch` until `--commands` commands have finished; an `/api/sync` watcher
follows the whole run (every delta, no gap, no resync) and tells when a round has ended. Every `--every` commands a
sample is taken: commands finished, the server's RSS, and the size of a fresh `init` (bytes, commands and pipelines
it carries: what the live state holds). The result line holds every sample; the README's table is made from it.

    python bench/run.py soak --commands 100000 --agents 50 --every 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from ops_scenarios import api, start_agents, stop_agents
from record import append, log, metadata
from serverctl import Server, running_server
from syncwatch import Watcher, auth_headers
from websockets.asyncio.client import connect


async def init_size(server: Server) -> dict[str, int]:
    """Open a fresh /api/sync client: the size of its `init` and how many commands and pipelines it carries."""
    headers = auth_headers(server.api_token, None)
    async with connect(f'{server.ws}/api/sync', additional_headers=headers, max_size=None, compression=None) as ws:
        raw = await ws.recv()
    state = json.loads(raw)['payload']['state']
    return {'init_bytes': len(raw), 'init_commands': len(state['commands']), 'init_pipelines': len(state['pipelines'])}


async def drive(server: Server, hosts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Dispatch rounds until `--commands` have finished; sample every `--every`."""
    watcher = Watcher(f'{server.ws}/api/sync', auth_headers(server.api_token, None))
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await asyncio.wait_for(watcher.ready.wait(), 30)
    process = psutil.Process(server.pid)
    started = time.monotonic()
    samples: list[dict[str, Any]] = []

    async def take(finished: int) -> None:
        point = {
            'commands': finished,
            'seconds': round(time.monotonic() - started, 1),
            'rss_mb': round(process.memory_info().rss / 2**20, 1),
            **await init_size(server),
        }
        samples.append(point)
        log(f'soak: {point}')

    await take(0)
    finished, refused = 0, 0
    while finished < args.commands:
        answer = await asyncio.to_thread(api, server, 'POST', '/api/dispatch', {'op': 'test', 'hosts': hosts})
        started_now = int(answer['summary']['started'])
        refused += len(hosts) - started_now
        target = finished + started_now
        while watcher.stats.by_type.get('command_finished', 0) < target:
            await asyncio.wait_for(watcher.changed.wait(), 60)
            watcher.changed.clear()
        if started_now == 0:
            await asyncio.sleep(0.2)  # every host still busy: let the last round's ends arrive
        before, finished = finished, target
        if finished // args.every > before // args.every or finished >= args.commands:
            await take(finished)
    took = time.monotonic() - started
    stop.set()
    await task
    return {'samples': samples, 'seconds': round(took, 1), 'refused': refused, 'watcher': watcher.stats.summary()}


def soak_once(args: argparse.Namespace, tree: Path | None) -> dict[str, Any]:
    """One soak run on a fresh dashboard."""
    env = {}
    if args.finished_commands is not None:
        env['NIXFLEET_STATE_FINISHED_COMMANDS'] = str(args.finished_commands)
    with (
        tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp,
        running_server(Path(tmp), ui=args.ui, tree=tree, api_token=True, env=env) as server,
    ):
        agents = start_agents(server, 'spew', args.agents, '--rate', '0', '--seconds', '0')
        hosts = [f'spew-{i:03d}' for i in range(args.agents)]
        result = asyncio.run(drive(server, hosts, args))
        stop_agents(agents)
    rate = args.commands / result['seconds'] if result['seconds'] else None
    return {'agents': args.agents, 'commands': args.commands, 'commands_per_s': round(rate or 0, 1), **result}


def soak_check(result: dict[str, Any]) -> list[str]:
    """Problems: a watcher gap or resync, or a live state that grew with the commands."""
    problems = []
    watcher = result['watcher']
    if watcher['gaps'] or watcher['resyncs']:
        problems.append(f'watcher: {watcher["gaps"]} gaps, {watcher["resyncs"]} resyncs')
    samples = result['samples']
    first_half = max(s['init_commands'] for s in samples[: len(samples) // 2 + 1])
    if samples[-1]['init_commands'] > 2 * first_half:
        problems.append(f'the live state kept growing: {samples[-1]["init_commands"]} commands in the last init')
    return problems


def cmd_soak(args: argparse.Namespace) -> int:
    tree = Path(args.tree).resolve() if args.tree else None
    result = soak_once(args, tree)
    result['problems'] = soak_check(result)
    result['bench'] = metadata(args.name or 'soak', tree=tree, ui=args.ui)
    out = append(args.name or 'soak', result)
    print(json.dumps({k: v for k, v in result.items() if k not in ('watcher', 'bench')}), flush=True)
    for problem in result['problems']:
        log(f'PROBLEM: {problem}')
    log(f'appended to {out}')
    return 0


def add_parser(sub: Any) -> None:
    """The `soak` subcommand."""
    soak = sub.add_parser(
        'soak',
        help='N commands through a running dashboard: RSS and live-state size over time',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    soak.add_argument('--commands', type=int, default=100_000)
    soak.add_argument('--agents', type=int, default=50, help='raw agents answering each command at once')
    soak.add_argument('--every', type=int, default=10_000, help='sample every this many commands')
    soak.add_argument('--finished-commands', type=int, help='NIXFLEET_STATE_FINISHED_COMMANDS (default: its default)')
    soak.add_argument('--ui', action=argparse.BooleanOptionalAction, default=True)
    soak.add_argument('--tree', help='run the server from this checkout')
    soak.add_argument('--name', help='results/<name>.jsonl')
    soak.set_defaults(func=cmd_soak)
