#!/usr/bin/env python3
"""Run a benchmark scenario against a fresh local NixFleet dashboard and record the result.

Each run starts `nixfleet serve` on a free loopback port with a temporary data dir and generated secrets, waits
for /health, drives it with bench/fleet_load.py (the same harness the Go baseline was measured with), appends the
harness's JSON line (plus run metadata) to bench/results/<scenario>.jsonl, and stops the server.

    python bench/run.py                                  # list scenarios
    python bench/run.py fleet --agents 500 --interval 1 --duration 60 --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / 'results'
HARNESS = BENCH / 'fleet_load.py'
COOKIE = 'nixfleet_session'
#: `nixfleet serve` without the NiceGUI UI mounted: the core alone (gateway, streams, store, /api/sync, login).
SERVE_CORE = (
    'from nixfleet import logsetup; from nixfleet.config import load_settings; from nixfleet.server import serve; '
    's = load_settings(); logsetup.configure(s.log_level, s.secret_values()); serve(s, with_ui=False)'
)
TABLE_HEAD = (
    '| agents | heartbeat | CPU % of one core, median (p95) | RSS max | latency median | latency p99 '
    '| delivered | runs |\n|---:|---:|---|---:|---:|---:|---:|---:|'
)


def log(message: str) -> None:
    """Progress to stderr (stdout carries only the summary)."""
    print(f'[bench {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    """Let the server and the harness (which inherit it) hold thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(slots=True, kw_only=True)
class Server:
    """A `nixfleet serve` child process and the credentials it was started with."""

    process: subprocess.Popen[bytes]
    port: int
    agent_token: str
    password: str
    log_path: Path

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def log_tail(self, lines: int = 30) -> str:
        return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])


def server_env(data_dir: Path, port: int, agent_token: str, password: str) -> dict[str, str]:
    """Environment for a dashboard with fresh data and generated secrets."""
    import bcrypt

    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update(
        NIXFLEET_LISTEN=f'127.0.0.1:{port}',
        NIXFLEET_DATA_DIR=str(data_dir),
        NIXFLEET_AGENT_TOKEN=agent_token,
        NIXFLEET_SESSION_SECRET=secrets.token_urlsafe(32),
        NIXFLEET_PASSWORD_HASH=bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode(),
        NIXFLEET_RATE_LIMIT='1000',
    )
    return env


@contextlib.contextmanager
def running_server(workdir: Path, *, ui: bool = True, startup_timeout: float = 60.0) -> Iterator[Server]:
    """Start a dashboard, wait until /health answers 200, and stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    agent_token, password = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
    log_path = workdir / 'server.log'
    with log_path.open('wb') as log_file:
        process = subprocess.Popen(
            [sys.executable, '-m', 'nixfleet', 'serve'] if ui else [sys.executable, '-c', SERVE_CORE],
            env=server_env(workdir / 'data', port, agent_token, password),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(process=process, port=port, agent_token=agent_token, password=password, log_path=log_path)
    try:
        wait_healthy(server, startup_timeout)
        yield server
    finally:
        stop_server(server)


def wait_healthy(server: Server, timeout: float) -> None:
    """Poll /health until it answers 200; fail with the server's log when it exits or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f'nixfleet serve exited with {server.process.returncode}:\n{server.log_tail()}')
        with contextlib.suppress(OSError), urllib.request.urlopen(f'{server.http}/health', timeout=2) as response:
            if response.status == 200:
                log(f'dashboard pid {server.process.pid} healthy on port {server.port}')
                return
        time.sleep(0.2)
    raise SystemExit(f'nixfleet serve not healthy within {timeout:.0f} s:\n{server.log_tail()}')


def stop_server(server: Server, grace: float = 20.0) -> None:
    """Stop the dashboard like `docker stop` does: SIGTERM, then SIGKILL after `grace` seconds."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(grace)
        except subprocess.TimeoutExpired:
            log(f'dashboard ignored SIGTERM for {grace:.0f} s; killing it')
            server.process.kill()
            server.process.wait()
    log(f'dashboard stopped (exit {server.process.returncode})')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def login_works(server: Server) -> bool:
    """Whether a form POST of the password to /login yields a session cookie (what the sync observer needs)."""
    data = urllib.parse.urlencode({'password': server.password}).encode()
    request = urllib.request.Request(f'{server.http}/login', data=data, method='POST')
    try:
        headers = urllib.request.build_opener(_NoRedirect).open(request, timeout=10).headers
    except urllib.error.HTTPError as err:  # a 303 after login surfaces here because redirects are not followed
        headers = err.headers
    except OSError:
        return False
    cookies = [value.split(';', 1)[0].strip() for value in headers.get_all('Set-Cookie') or []]
    return any(c.startswith(f'{COOKIE}=') and len(c) > len(COOKIE) + 1 for c in cookies)


def git_revision() -> str:
    """The checkout's commit, with `-dirty` when nixfleet/ has uncommitted changes."""
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(['git', 'status', '--porcelain', 'nixfleet'], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return 'unknown'
    return commit.stdout.strip() + ('-dirty' if dirty.stdout.strip() else '')


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ''
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    return {'cpu': model, 'cpus': os.cpu_count(), 'python': platform.python_version(), 'kernel': platform.release()}


def fleet_once(args: argparse.Namespace, scenario: str, command: str) -> dict[str, Any]:
    """One fleet run on a fresh dashboard; return the harness summary with run metadata."""
    with tempfile.TemporaryDirectory(prefix='nixfleet-bench-') as tmp, running_server(Path(tmp), ui=args.ui) as server:
        observer = args.observer
        if observer == 'auto':
            observer = 'sync' if login_works(server) else 'none'
            if observer == 'none':
                log('POST /login gave no session cookie: running without an observer (CPU and RSS only)')
        harness = [
            sys.executable,
            str(HARNESS),
            '--url',
            f'ws://127.0.0.1:{server.port}/ws',
            '--token',
            server.agent_token,
            '--agents',
            str(args.agents),
            '--interval',
            str(args.interval),
            '--duration',
            str(args.duration),
            '--pid',
            str(server.process.pid),
            '--observer',
            observer,
            '--label',
            scenario,
        ]
        if observer == 'sync':
            harness += ['--password', server.password]
        log(f'fleet_load: {args.agents} agents, heartbeat {args.interval:g} s, {args.duration:g} s, {observer=}')
        result = subprocess.run(harness, stdout=subprocess.PIPE, text=True, timeout=args.duration + 180)
        lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
        if result.returncode != 0 or not lines:
            raise SystemExit(f'fleet_load failed (exit {result.returncode}); server log:\n{server.log_tail()}')
        summary: dict[str, Any] = json.loads(lines[-1])
        summary['bench'] = {
            'scenario': scenario,
            'at': datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ'),
            'revision': git_revision(),
            'machine': machine(),
            'command': command,
            'observer': observer,
            'ui': args.ui,
        }
        return summary


def median(values: list[Any]) -> float | None:
    """Median of the values that are numbers, or None."""
    numbers = [v for v in values if isinstance(v, int | float)]
    return round(statistics.median(numbers), 2) if numbers else None


def report_row(runs: list[dict[str, Any]]) -> str:
    """A bench/README.md table row from several runs (medians across runs)."""
    first = runs[0]

    def cell(key: str, unit: str = '') -> str:
        value = median([r.get(key) for r in runs])
        return '—' if value is None else f'{value:g}{unit}'

    return (
        f'| {first["agents"]:,} | {first["heartbeat_s"]:g} s | {cell("cpu_pct_median")} ({cell("cpu_pct_p95")}) '
        f'| {cell("rss_mb_max", " MB")} | {cell("latency_ms_median", " ms")} | {cell("latency_ms_p99", " ms")} '
        f'| {cell("delivered_pct", " %")} | {len(runs)} |'
    )


def cmd_fleet(args: argparse.Namespace) -> int:
    """Run the fleet scenario `--repeat` times, each on a fresh dashboard."""
    scenario = args.name or f'fleet-{args.agents}x{args.interval:g}s'
    command = 'python bench/run.py ' + ' '.join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f'{scenario}.jsonl'
    runs = []
    for index in range(args.repeat):
        log(f'{scenario}: run {index + 1} of {args.repeat}')
        summary = fleet_once(args, scenario, command)
        with out.open('a', encoding='utf-8') as fh:
            fh.write(json.dumps(summary, separators=(',', ':')) + '\n')
        runs.append(summary)
        log(
            f'cpu median {summary["cpu_pct_median"]} % (p95 {summary["cpu_pct_p95"]}), '
            f'rss max {summary["rss_mb_max"]} MB, '
            f'latency median {summary["latency_ms_median"]} ms, p99 {summary["latency_ms_p99"]} ms, '
            f'connected {summary["connected"]}/{args.agents}, disconnects {summary["disconnects"]}'
        )
    log(f'appended {len(runs)} result(s) to {out.relative_to(ROOT)}')
    print(TABLE_HEAD)
    print(report_row(runs))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The runner's command line: one subcommand per scenario."""
    parser = argparse.ArgumentParser(
        prog='bench/run.py', description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest='scenario', metavar='SCENARIO')
    fleet = sub.add_parser(
        'fleet',
        help='N simulated agents heartbeating to one dashboard: CPU, RSS, change-to-client latency',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    fleet.add_argument('--agents', '-n', type=int, default=500, help='simulated agents')
    fleet.add_argument('--interval', '-H', type=float, default=1.0, help='heartbeat interval, seconds')
    fleet.add_argument('--duration', type=float, default=60.0, help='seconds per run, ramp included')
    fleet.add_argument('--repeat', type=int, default=1, help='runs, each on a fresh dashboard (report the median)')
    fleet.add_argument(
        '--observer',
        choices=['auto', 'sync', 'none'],
        default='auto',
        help='latency observer on /api/sync (password login); auto falls back to none when login is unavailable',
    )
    fleet.add_argument(
        '--ui', action=argparse.BooleanOptionalAction, default=True, help='mount the NiceGUI UI (--no-ui: core only)'
    )
    fleet.add_argument('--name', help='scenario name for bench/results/<name>.jsonl (default fleet-<N>x<H>s)')
    fleet.set_defaults(func=cmd_fleet)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenario, or list the scenarios."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scenario is None:
        parser.print_help()
        return 0
    raise_fd_limit()
    return int(args.func(args))


if __name__ == '__main__':
    sys.exit(main())
