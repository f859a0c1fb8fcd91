#!/usr/bin/env python3
"""Where a dashboard's memory goes per connected agent: tracemalloc snapshots before and during a fleet's load.

The dashboard runs as in every bench scenario (`nixfleet serve`, the UI mounted), and a `sitecustomize` that starts
tracemalloc and writes a snapshot on SIGUSR1 (so what was allocated before the first one is not traced). One
snapshot is taken idle, one while `--agents` agents are connected and heartbeating; the difference is printed per
agent, grouped by file, by allocating line and by whole traceback.

    python bench/memory_probe.py --agents 2000 [--frames 12] [--top 30]

tracemalloc slows the dashboard down and counts Python allocations only (not the interpreter's own or C libraries'
arenas): use it for *where*, and the fleet scenario's RSS for *how much*.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import serverctl

HERE = Path(__file__).resolve().parent
SITECUSTOMIZE = """
import signal, tracemalloc
def _dump(signum, frame):
    import os
    if not tracemalloc.is_tracing():
        tracemalloc.start(int(os.environ['NIXFLEET_PROBE_FRAMES']))
    if os.environ.get('NIXFLEET_PROBE_COLLECT'):
        import gc
        gc.collect()
    path = os.environ['NIXFLEET_PROBE_SNAPSHOT'] + '.' + str(_dump.count)
    tracemalloc.take_snapshot().dump(path + '.part')
    os.rename(path + '.part', path)
    _dump.count += 1
_dump.count = 0
signal.signal(signal.SIGUSR1, _dump)
"""


def snapshot(server: serverctl.Server, base: Path, index: int, timeout: float = 120.0) -> tracemalloc.Snapshot:
    """Ask the dashboard for snapshot number `index` and load it."""
    path = Path(f'{base}.{index}')
    os.kill(server.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f'no snapshot {path} after {timeout} s:\n{server.log_tail()}')
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(str(path))


def rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return 0.0


def per_agent(stat: tracemalloc.StatisticDiff, agents: int) -> str:
    return f'{stat.size_diff / agents:9.0f} B/agent  {stat.count_diff / agents:6.1f} blocks'


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, agents: int, top: int) -> None:
    noise = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, '<frozen importlib._bootstrap>'),
    ]
    before, after = before.filter_traces(noise), after.filter_traces(noise)
    total = sum(s.size_diff for s in after.compare_to(before, 'filename'))
    print(f'\ntraced growth: {total / 1e6:.1f} MB = {total / max(agents, 1) / 1024:.1f} KiB per agent\n')
    print('by file:')
    for stat in after.compare_to(before, 'filename')[:top]:
        print(f'  {per_agent(stat, agents)}  {stat.traceback[0].filename}')
    print('\nby line:')
    for stat in after.compare_to(before, 'lineno')[:top]:
        frame = stat.traceback[0]
        print(f'  {per_agent(stat, agents)}  {frame.filename}:{frame.lineno}')
    print('\nby traceback (largest):')
    for stat in after.compare_to(before, 'traceback')[: top // 2]:
        print(f'  {per_agent(stat, agents)}')
        for line in stat.traceback.format(limit=8):
            print('     ' + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--agents', type=int, default=2000)
    parser.add_argument('--interval', type=float, default=5.0)
    parser.add_argument('--settle', type=float, default=25.0, help='seconds after the ramp before the snapshot')
    parser.add_argument('--rate', type=float, default=50.0, help='agents connecting per second (tracing is slow)')
    parser.add_argument('--frames', type=int, default=12, help='traceback depth kept by tracemalloc')
    parser.add_argument('--top', type=int, default=30)
    parser.add_argument('--collect', action='store_true', help='collect garbage before each snapshot')
    parser.add_argument('--tree', type=Path, help='run this source tree instead of the installed package')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='nixfleet-memprobe-') as tmp:
        work = Path(tmp)
        (work / 'probe').mkdir()
        (work / 'probe' / 'sitecustomize.py').write_text(SITECUSTOMIZE)
        path = [str(work / 'probe')] + ([str(args.tree)] if args.tree else [])
        env = {
            'PYTHONPATH': os.pathsep.join(path),
            'NIXFLEET_PROBE_FRAMES': str(args.frames),
            'NIXFLEET_PROBE_SNAPSHOT': str(work / 'snap'),
            'NIXFLEET_PROBE_COLLECT': '1' if args.collect else '',
        }
        with serverctl.running_server(work, tree=args.tree, env=env, startup_timeout=300) as server:
            idle_rss = rss_mb(server.pid)
            idle = snapshot(server, work / 'snap', 0)
            ramp = max(2.0, args.agents / args.rate)
            load = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / 'fleet_load.py'),
                    f'--url={server.ws}/ws',
                    f'--token={server.agent_token}',  # `=`: a generated secret may start with '-'
                    '--agents',
                    str(args.agents),
                    '--interval',
                    str(args.interval),
                    '--ramp',
                    str(ramp),
                    '--duration',
                    str(ramp + args.settle + 60),
                ],
                stdout=subprocess.DEVNULL,
            )
            try:
                time.sleep(ramp + args.settle)
                loaded_rss = rss_mb(server.pid)
                loaded = snapshot(server, work / 'snap', 1)
            finally:
                load.terminate()
                load.wait(30)
        print(f'RSS idle {idle_rss:.1f} MB, with {args.agents} agents {loaded_rss:.1f} MB (tracing inflates both)')
        report(idle, loaded, args.agents, args.top)
    return 0


if __name__ == '__main__':
    sys.exit(main())
