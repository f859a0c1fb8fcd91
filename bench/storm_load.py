#!/usr/bin/env python3
"""Reconnect-storm harness: N agents connect within --ramp seconds, register and heartbeat; one JSON line.

It is bench/fleet_load.py's agents, observer and sampler (imported, not copied, so the agent shapes and the
harness CPU stay those of the Go baseline) driven in a different shape: every agent starts within `--ramp`
(2 s: what a dashboard restart or a network blip looks like at a site), then heartbeats every `--interval` s until
`--duration`. It measures, per agent, register sent → `registered` (the harness's `register_ms`) and scheduled
start → `registered` (handshake and retries included), and, from the `/api/sync` observer, when each host is first
shown (its first `host_added` / `host_updated` after the observer's `init`); then the time until every agent is
registered and shown, the dashboard's CPU and RSS during the storm (start → all shown) and after it, and the
harness's own CPU (agents + observer) over the same spans.

    python bench/storm_load.py --url ws://127.0.0.1:PORT/ws --token T --agents 2000 --pid PID --password P
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
import urllib.parse
from typing import Any

import fleet_load as fl

HOST_CHANGES = ('"host_added"', '"host_updated"')


class TimedSet(set[str]):
    """`Counters.ever_registered`, remembering when each host was first added (time.monotonic())."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, float] = {}

    def add(self, item: str) -> None:
        self.first.setdefault(item, time.monotonic())
        super().add(item)


class HostSeenStats(fl.StreamStats):
    """fleet_load's observer statistics plus the first time each host appears in a host change."""

    expected = 0  #: hosts to look for; set in the observer process before it starts

    def __init__(self, marker_path: str) -> None:
        super().__init__(marker_path)
        self.first_seen: dict[str, float] = {}

    def feed(self, raw: Any, t_recv: float, t_open: float) -> str | None:
        mtype = super().feed(raw, t_recv, t_open)
        # Parse again only while hosts are still missing, so the observer's cost after the storm is fleet_load's.
        if mtype == 'delta' and len(self.first_seen) < self.expected and any(k in raw for k in HOST_CHANGES):
            for change in fl.iter_changes(json.loads(raw).get('payload')):
                host = change.get('id')
                if change.get('type') in ('host_added', 'host_updated') and isinstance(host, str):
                    self.first_seen.setdefault(host, t_recv)
        return mtype

    def result_records(self) -> list[tuple[str, float]]:
        return sorted(self.first_seen.items())


def observer_main(cfg: dict[str, Any], conn: Any) -> None:
    """fleet_load's observer process, with HostSeenStats in place of StreamStats (this process only)."""
    HostSeenStats.expected = cfg.pop('expected')
    seen: list[HostSeenStats] = []

    class Recording(HostSeenStats):
        def __init__(self, marker_path: str) -> None:
            super().__init__(marker_path)
            seen.append(self)

    fl.StreamStats = Recording  # type: ignore[misc]  # observer_loop builds its stats by this name

    class Pipe:
        """Forward to `conn`, adding the first-seen times to the observer's result."""

        def poll(self, *a: Any) -> bool:
            return bool(conn.poll(*a))

        def recv(self) -> Any:
            return conn.recv()

        def send(self, msg: tuple[str, Any]) -> None:
            if msg[0] == 'result' and seen:
                msg[1]['first_seen'] = seen[0].result_records()
            conn.send(msg)

    fl.observer_main(cfg, Pipe())


def schedstat(pid: int) -> tuple[float, float, float]:
    """(time.monotonic(), seconds on a CPU, seconds runnable but waiting for one) summed over the process's threads."""
    run = wait = 0
    for task in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{task}/schedstat') as fh:
                fields = fh.read().split()
        except OSError:
            continue
        run, wait = run + int(fields[0]), wait + int(fields[1])
    return time.monotonic(), run / 1e9, wait / 1e9


def sched_span(stats: list[tuple[float, float, float]], start: float, end: float) -> dict[str, Any] | None:
    """CPU seconds and run-queue wait seconds between the readings nearest `start` and `end`."""
    if len(stats) < 2:
        return None
    first = min(stats, key=lambda s: abs(s[0] - start))
    last = min(stats, key=lambda s: abs(s[0] - end))
    if last[0] <= first[0]:
        return None
    return {
        'seconds': round(last[0] - first[0], 2),
        'on_cpu_s': round(last[1] - first[1], 2),
        'waiting_for_cpu_s': round(last[2] - first[2], 2),
    }


def spans(samples: list[tuple[float, Any, Any, float, int]], start: float, end: float) -> dict[str, Any]:
    """Dashboard CPU (median, max), RSS max and harness CPU median of the sampler's samples in [start, end]."""
    inside = [s for s in samples if start <= s[0] <= end]
    cpu = [s[1] for s in inside if s[1] is not None]
    rss = [s[2] for s in inside if s[2] is not None]
    harness = [s[3] for s in inside]
    cpu_median, harness_median = fl.percentile(cpu, 50), fl.percentile(harness, 50)
    return {
        'samples': len(inside),
        'cpu_s': round(sum(cpu) / 100, 2),  # dashboard CPU seconds over the span (1 s samples)
        'cpu_pct_median': fl.rounded(cpu_median),
        'cpu_pct_mean': fl.rounded(sum(cpu) / len(cpu) if cpu else None),  # heartbeats come in waves after a storm
        'cpu_pct_max': fl.rounded(max(cpu) if cpu else None),
        'rss_mb_max': fl.rounded(max(rss) if rss else None),
        'harness_cpu_pct_median': fl.rounded(harness_median),
        'cpu_x_harness': ratio(cpu_median, harness_median),
    }


def ratio(cpu: float | None, harness: float | None) -> float | None:
    """Dashboard CPU / harness CPU (the issue's machine-independent figure)."""
    return round(cpu / harness, 2) if cpu is not None and harness else None


def ms_stats(name: str, seconds: list[float]) -> dict[str, Any]:
    values = [x * 1000 for x in seconds]
    return {
        f'{name}_median': fl.rounded(fl.percentile(values, 50)),
        f'{name}_p99': fl.rounded(fl.percentile(values, 99)),
        f'{name}_max': fl.rounded(max(values) if values else None),
    }


async def storm(cfg: argparse.Namespace, obs_conn: Any, obs_proc: Any) -> dict[str, Any]:
    """Start the observer's clock, the sampler and every agent within the ramp; collect what happened."""
    counters = fl.Counters()
    counters.ever_registered = TimedSet()
    sends = fl.SendLog()
    stop, shutdown = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, obs_conn.poll, 30):
        raise fl.HarnessError('observer did not connect within 30 s')
    kind, info = obs_conn.recv()
    if kind != 'ready':
        raise fl.HarnessError(f'observer failed: {info}')
    fl.log(f'observer connected: init {info.get("init_bytes")} bytes, {info.get("init_hosts")} hosts')
    sampler = fl.Sampler(cfg.pid, counters, [obs_proc.pid])
    sampler.start()
    await asyncio.sleep(2.0)  # two idle samples before the storm
    t0 = time.monotonic()
    t_end = t0 + cfg.duration
    obs_conn.send(('stop_at', t_end + cfg.drain))
    agents = [fl.SimAgent(i, cfg, counters, sends, stop, shutdown) for i in range(cfg.agents)]
    step = cfg.ramp / max(1, cfg.agents)
    starts = {a.hostname: t0 + i * step for i, a in enumerate(agents)}
    tasks = [asyncio.create_task(a.run(starts[a.hostname])) for a in agents]
    fl.log(f'{cfg.agents} agents connecting within {cfg.ramp:g} s, heartbeat {cfg.interval:g} s, {cfg.duration:g} s')
    sched, own = [schedstat(cfg.pid)], [schedstat(os.getpid())]
    while time.monotonic() < t_end:
        await asyncio.sleep(min(0.5, max(0.0, t_end - time.monotonic())))
        sched.append(schedstat(cfg.pid))
        own.append(schedstat(os.getpid()))
        if len(sched) % 2:
            fl.log(f't={time.monotonic() - t0:.0f}s registered={len(counters.ever_registered)} '
                   f'connected={counters.connected} failures={counters.connect_failures}')  # fmt: skip
    connected_at_end = counters.connected
    stop.set()
    await asyncio.sleep(0.5)
    sampler.halt.set()
    obs_result = None
    if await loop.run_in_executor(None, obs_conn.poll, cfg.drain + 15):
        kind, info = obs_conn.recv()
        obs_result = info if kind == 'result' else None
    shutdown.set()
    _, pending = await asyncio.wait(tasks, timeout=15)
    for task in pending:
        task.cancel()
    summary = summarize(cfg, counters, starts, sampler, t0, t_end, connected_at_end, obs_result)
    # the dashboard's threads: CPU time, and time runnable but waiting for a CPU (a busy machine shows here)
    storm_end = t0 + (summary['storm_done_s'] or cfg.duration)
    summary['dashboard_sched_during'] = sched_span(sched, t0, storm_end)
    summary['agents_sched_during'] = sched_span(own, t0, storm_end)  # the harness's agent process
    # the same over a fixed span, so runs that end their storm at different times compare
    summary['dashboard_sched_first_10s'] = sched_span(sched, t0, t0 + 10.0)
    summary['agents_sched_first_10s'] = sched_span(own, t0, t0 + 10.0)
    return summary


def summarize(
    cfg: argparse.Namespace,
    counters: fl.Counters,
    starts: dict[str, float],
    sampler: fl.Sampler,
    t0: float,
    t_end: float,
    connected_at_end: int,
    obs_result: dict[str, Any] | None,
) -> dict[str, Any]:
    """The summary line: registration and display times, CPU/RSS before, during and after the storm."""
    registered: dict[str, float] = counters.ever_registered.first  # type: ignore[attr-defined]
    shown = dict(obs_result.get('first_seen') or []) if obs_result else {}
    all_registered = max(registered.values()) - t0 if len(registered) == cfg.agents else None
    all_shown = max(shown.values()) - t0 if len(shown) >= cfg.agents else None
    done = max(all_registered, all_shown) if all_registered is not None and all_shown is not None else None
    storm_end = t0 + done if done is not None else t_end
    after_start = storm_end + cfg.settle
    whole = spans(sampler.samples, t0, t_end)
    out: dict[str, Any] = {
        'label': cfg.label, 'scenario': 'storm', 'target': cfg.url,
        'machine': {'cpus': os.cpu_count(), 'loadavg_1m_end': round(os.getloadavg()[0], 2)},
        'agents': cfg.agents, 'ramp_s': cfg.ramp, 'heartbeat_s': cfg.interval, 'duration_s': cfg.duration,
        'registered_hosts': len(registered), 'shown_hosts': len(shown), 'connected': connected_at_end,
        'disconnects': counters.disconnects, 'connect_failures': counters.connect_failures,
        'registers_sent': counters.registers,
        **ms_stats('register_ms', counters.register_latency),
        **ms_stats('start_to_registered_ms', [t - starts[h] for h, t in registered.items()]),
        **ms_stats('registered_to_shown_ms', [shown[h] - t for h, t in registered.items() if h in shown]),
        'all_registered_s': fl.rounded(all_registered, 2), 'all_shown_s': fl.rounded(all_shown, 2),
        'storm_done_s': fl.rounded(done, 2),
        'cpu_pct_median': whole['cpu_pct_median'], 'cpu_pct_max': whole['cpu_pct_max'],
        'rss_mb_max': whole['rss_mb_max'], 'harness_cpu_pct_median': whole['harness_cpu_pct_median'],
        'cpu_x_harness': whole['cpu_x_harness'],
        'idle_before': spans(sampler.samples, t0 - 3, t0),
        'during': spans(sampler.samples, t0, storm_end + 1.0),  # a sample covers the second before it
        'after': spans(sampler.samples, after_start, t_end) if after_start < t_end else None,
        'rss_mb_end': fl.rounded(next((s[2] for s in reversed(sampler.samples) if s[2] is not None), None)),
        'heartbeats_sent': counters.heartbeats,
        'messages_received': dict(sorted(counters.received.items())),
    }  # fmt: skip
    if obs_result is not None:
        stats = obs_result['stats']
        out['observer_stats'] = {k: stats.get(k) for k in ('init_ms', 'init_hosts', 'deltas', 'host_updates',
                                                            'version_gaps', 'resyncs', 'closed')}  # fmt: skip
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    p.add_argument('--url', default='ws://127.0.0.1:8000/ws', help='agent WebSocket endpoint (loopback only)')
    p.add_argument('--token', required=True, help='agent Bearer token')
    p.add_argument('--agents', '-n', type=int, default=2000)
    p.add_argument('--ramp', type=float, default=2.0, help='every agent starts within this many seconds')
    p.add_argument('--interval', '-H', type=float, default=5.0, help='heartbeat interval after registering')
    p.add_argument('--duration', type=float, default=40.0, help='seconds from the first connect to the stop')
    p.add_argument('--settle', type=float, default=5.0, help='the "after" span starts this long after all shown')
    p.add_argument('--drain', type=float, default=2.0)
    p.add_argument('--pid', type=int, required=True, help='dashboard PID to sample CPU/RSS from')
    p.add_argument('--password', required=True, help='dashboard login password for the /api/sync observer')
    p.add_argument('--host-prefix', default='sim-')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--label', default='')
    cfg = p.parse_args(argv)
    fl.require_loopback(cfg.url)
    base = urllib.parse.urlsplit(cfg.url)
    cfg.observer_url = urllib.parse.urlunsplit((base.scheme, base.netloc, '/api/sync', '', ''))
    # what fleet_load's SimAgent reads from its config
    cfg.agent_ping, cfg.verbose = 10.0, False
    return cfg


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    ocfg = {'observer_url': cfg.observer_url, 'observer_token': None, 'password': cfg.password,
            'login_path': '/login', 'cookie_name': 'nixfleet_session', 'marker_path': 'metrics.load',
            'observer_deflate': True, 'expected': cfg.agents}  # fmt: skip
    ctx = mp.get_context('fork')
    obs_conn, child = ctx.Pipe()
    obs_proc = ctx.Process(target=observer_main, args=(ocfg, child), daemon=True)
    obs_proc.start()
    try:
        summary = asyncio.run(asyncio.wait_for(storm(cfg, obs_conn, obs_proc), cfg.duration + cfg.drain + 90))
    except fl.HarnessError as exc:
        fl.log(f'error: {exc}')
        return 2
    finally:
        obs_proc.join(5)
        if obs_proc.is_alive():
            obs_proc.terminate()
    print(json.dumps(summary, separators=(',', ':')), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
