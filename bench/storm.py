"""The `storm` scenario: N agents reconnect within 2 s (a dashboard restart or a network blip); bench/storm_load.py.

`--mode restart` (default): a first dashboard learns the N hosts (fleet_load.py, 10 s ramp), stops, and a second one
on the same data dir (every host known, loaded offline) takes the storm, as after a restart or upgrade.
`--mode fresh`: the storm hits an empty dashboard (every registration adds a host).
Measured by the harness: register → registered latency, time until every agent is registered and shown to the
`/api/sync` observer, dashboard CPU and RSS during and after the storm, the harness's own CPU and the ratio.

    python bench/run.py storm --agents 2000            # restart mode, storm within 2 s, 40 s run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import profiling
from record import BENCH, RESULTS, append, log, metadata
from serverctl import running_server

HARNESS = BENCH / 'storm_load.py'
LEARN = BENCH / 'fleet_load.py'


def learn_hosts(args: argparse.Namespace, workdir: Path, data_dir: Path, tree: Path | None) -> None:
    """Let a first dashboard on `data_dir` register the N hosts the storm will bring back, then stop it."""
    with running_server(workdir, ui=args.ui, tree=tree, data_dir=data_dir) as server:
        log(f'restart mode: registering {args.agents} hosts on a first dashboard (pid {server.pid})')
        command = [sys.executable, str(LEARN), '--url', f'{server.ws}/ws', f'--token={server.agent_token}',
                   '--agents', str(args.agents), '--interval', '5', '--ramp', '10', '--warmup', '2',
                   '--duration', '15', '--observer', 'none']  # fmt: skip
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=180)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        if summary.get('registered_hosts') != args.agents:
            raise SystemExit(f'restart mode: only {summary.get("registered_hosts")} hosts registered on the first run')


def storm_once(args: argparse.Namespace, scenario: str, tree: Path | None) -> dict[str, Any]:
    """One storm on a fresh (or freshly restarted) dashboard; the harness summary with run metadata."""
    with tempfile.TemporaryDirectory(prefix='nixfleet-storm-') as tmp:
        data_dir = Path(tmp) / 'data'
        if args.mode == 'restart':
            (Path(tmp) / 'first').mkdir()
            learn_hosts(args, Path(tmp) / 'first', data_dir, tree)
        with running_server(Path(tmp), ui=args.ui, tree=tree, data_dir=data_dir) as server:
            profile = None
            if args.profile:
                profile = profiling.start(server.pid, Path(tmp) / 'profile.txt', 3.0, args.profile_seconds)
            command = [sys.executable, str(HARNESS), '--url', f'{server.ws}/ws', f'--token={server.agent_token}',
                       '--agents', str(args.agents), '--ramp', str(args.ramp), '--interval', str(args.interval),
                       '--duration', str(args.duration), '--pid', str(server.pid),
                       f'--password={server.password}', '--label', scenario]  # fmt: skip
            result = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=args.duration + 180)
            lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
            if result.returncode != 0 or not lines:
                raise SystemExit(f'storm_load failed (exit {result.returncode}); server log:\n{server.log_tail()}')
            summary: dict[str, Any] = json.loads(lines[-1])
            summary['healthy_after_s'] = round(server.healthy_after, 2)
        if profile is not None:
            summary['profile'] = profiling.finish(profile, RESULTS / 'profiles', scenario)
        summary['bench'] = metadata(scenario, tree=tree, mode=args.mode, ui=args.ui, profiled=bool(args.profile))
        return summary


def cmd_storm(args: argparse.Namespace) -> int:
    """Run the storm `--repeat` times, each on its own dashboard."""
    scenario = args.name or f'storm-{args.agents}-{args.mode}'
    tree = Path(args.tree).resolve() if args.tree else None
    out = None
    for index in range(args.repeat):
        log(f'{scenario}: run {index + 1} of {args.repeat}')
        s = storm_once(args, scenario, tree)
        out = append(scenario + ('-profile' if args.profile else ''), s)
        during, after = s.get('during') or {}, s.get('after') or {}
        log(f'registered {s["registered_hosts"]}/{args.agents}, shown {s["shown_hosts"]}; '
            f'register median {s["register_ms_median"]} ms, p99 {s["register_ms_p99"]}, max {s["register_ms_max"]}; '
            f'all registered {s["all_registered_s"]} s, all shown {s["all_shown_s"]} s; '
            f'CPU during {during.get("cpu_pct_median")} % (max {during.get("cpu_pct_max")}), '
            f'after {after.get("cpu_pct_median")} %, ×harness {after.get("cpu_x_harness")}; '
            f'RSS max {s["rss_mb_max"]} MB; load {s["bench"]["machine"]["loadavg"]}')  # fmt: skip
        if s.get('profile'):
            log(f'profile: {s["profile"]["file"]}')
    if out is not None:
        log(f'appended results to {out}')
    return 0


def add_parser(sub: Any) -> None:
    """The `storm` subcommand."""
    storm = sub.add_parser(
        'storm',
        help='reconnect storm: N agents within 2 s; registration latency, time until all shown, CPU, RSS',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    storm.add_argument('--agents', '-n', type=int, default=2000, help='simulated agents')
    storm.add_argument('--mode', choices=['restart', 'fresh'], default='restart',
                       help='restart: the hosts are known (a restarted dashboard); fresh: an empty one')  # fmt: skip
    storm.add_argument('--ramp', type=float, default=2.0, help='every agent connects within this many seconds')
    storm.add_argument('--interval', '-H', type=float, default=5.0, help='heartbeat interval after registering')
    storm.add_argument('--duration', type=float, default=40.0, help='seconds from the first connect to the stop')
    storm.add_argument('--repeat', type=int, default=1, help='runs, each on its own dashboard')
    storm.add_argument(
        '--ui', action=argparse.BooleanOptionalAction, default=True, help='mount the NiceGUI UI (--no-ui: core only)'
    )
    storm.add_argument('--tree', metavar='PATH', help='run the server from this checkout')
    storm.add_argument('--profile', action='store_true', help='py-spy profile of the storm (from its start)')
    storm.add_argument('--profile-seconds', type=float, default=15.0, help='length of the profile')
    storm.add_argument('--name', help='scenario name for results/<name>.jsonl (default storm-<N>-<mode>)')
    storm.set_defaults(func=cmd_storm)
