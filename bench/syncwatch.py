"""Passive `/api/sync` clients for benchmarks: read the stream, check it, measure what they can.

Each watcher takes `init`, then checks that every `delta` is exactly one version after the previous one (a gap is
counted, and so is every `full_state`, i.e. a resync). It can also collect `command_output` lines whose text starts
with a send-time stamp (`t=<CLOCK_MONOTONIC seconds> ...`, written by bench agents on this machine) to measure
output-line latency, and track pipeline status.

`python bench/syncwatch.py --url ws://.../api/sync --token T --clients 4 --seconds 60` runs them in a separate
process and prints one JSON line (what `run.py` does for the several-observers scenario).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


@dataclass(slots=True)
class WatchStats:
    """What one watcher saw."""

    init_ms: float | None = None
    init_bytes: int = 0
    init_hosts: int = 0
    deltas: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    resyncs: int = 0
    beacons: int = 0
    beacon_mismatch: int = 0
    output_lines: int = 0  #: every line of `command_output` changes (headers and markers included)
    agent_lines: int = 0  #: lines the agents wrote (stdout/stderr)
    line_latency_ms: list[float] = field(default_factory=list)  #: agent send (`t=` stamp) → here
    server_latency_ms: list[float] = field(default_factory=list)  #: server receive (the line's `ts`) → here
    pipelines: dict[str, str] = field(default_factory=dict)
    closed: str | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts (latencies summarized by the caller)."""
        return {
            'init_ms': self.init_ms,
            'init_bytes': self.init_bytes,
            'init_hosts': self.init_hosts,
            'deltas': self.deltas,
            'by_type': dict(sorted(self.by_type.items())),
            'gaps': self.gaps,
            'resyncs': self.resyncs,
            'beacons': self.beacons,
            'beacon_mismatch': self.beacon_mismatch,
            'output_lines': self.output_lines,
            'agent_lines': self.agent_lines,
            'closed': self.closed,
        }


def line_sent_at(text: str) -> float | None:
    """The send time stamped at the start of a bench output line (`t=123.456789 ...`), if any."""
    if not text.startswith('t='):
        return None
    try:
        return float(text[2:].split(' ', 1)[0])
    except ValueError:
        return None


def parse_ts(text: Any) -> float | None:
    """POSIX seconds of a `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp, or None."""
    if not isinstance(text, str) or not text.endswith('Z'):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + '+00:00').timestamp()
    except ValueError:
        return None


class Watcher:
    """One sync client."""

    def __init__(self, url: str, headers: list[tuple[str, str]], *, latency: bool = False) -> None:
        self.url = url
        self.headers = headers
        self.latency = latency
        self.stats = WatchStats()
        self.version: int | None = None
        self.ready = asyncio.Event()
        self.changed = asyncio.Event()

    def feed(self, raw: str | bytes, t_recv: float, t_open: float) -> None:
        """Account for one message."""
        st = self.stats
        msg = json.loads(raw)
        mtype, version, payload = msg.get('type'), msg.get('version'), msg.get('payload') or {}
        if mtype in ('init', 'full_state'):
            if st.init_ms is None:
                st.init_ms = round((t_recv - t_open) * 1000, 2)
                st.init_bytes = len(raw)
                st.init_hosts = len(payload.get('state', {}).get('hosts') or [])
                for run in payload.get('state', {}).get('pipelines') or []:
                    st.pipelines[run['id']] = run.get('status')
            else:
                st.resyncs += 1
            self.version = version
            self.ready.set()
        elif mtype == 'delta':
            st.deltas += 1
            if self.version is not None and version != self.version + 1:
                st.gaps += 1
            self.version = version
            change = payload.get('change') or {}
            kind = change.get('type', '?')
            st.by_type[kind] = st.by_type.get(kind, 0) + 1
            if kind == 'command_output':
                lines = (change.get('payload') or {}).get('lines') or []
                st.output_lines += len(lines)
                agent = [entry for entry in lines if entry.get('stream') in ('stdout', 'stderr')]
                st.agent_lines += len(agent)
                if self.latency:
                    wall = time.time()
                    for entry in agent:
                        sent = line_sent_at(str(entry.get('line') or ''))
                        if sent is not None:
                            st.line_latency_ms.append((t_recv - sent) * 1000)
                        if (received := parse_ts(entry.get('ts'))) is not None:
                            st.server_latency_ms.append((wall - received) * 1000)
            elif kind == 'pipeline_updated':
                run = change.get('payload') or {}
                st.pipelines[str(run.get('id'))] = str(run.get('status'))
            self.changed.set()
        elif mtype == 'sync':
            st.beacons += 1
            if self.version is not None and version != self.version:
                st.beacon_mismatch += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Read until `stop` is set or the server closes the stream."""
        t_open = time.monotonic()
        try:
            async with connect(
                self.url, additional_headers=self.headers, max_size=None, open_timeout=30, compression=None
            ) as ws:
                reader = asyncio.create_task(self._read(ws, t_open))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait([reader, stopper], return_when=asyncio.FIRST_COMPLETED)
                reader.cancel()
                stopper.cancel()
        except (OSError, ConnectionClosed) as exc:
            self.stats.closed = repr(exc)

    async def _read(self, ws: Any, t_open: float) -> None:
        try:
            async for raw in ws:
                self.feed(raw, time.monotonic(), t_open)
        except ConnectionClosed as exc:
            self.stats.closed = repr(exc)
        else:
            self.stats.closed = 'closed by server'


def auth_headers(token: str | None, cookie: str | None) -> list[tuple[str, str]]:
    """Bearer token or session cookie headers for /api/sync."""
    if token:
        return [('Authorization', f'Bearer {token}')]
    if cookie:
        return [('Cookie', cookie)]
    raise ValueError('a watcher needs an API token or a session cookie')


async def watch(url: str, headers: list[tuple[str, str]], clients: int, seconds: float) -> list[dict[str, Any]]:
    """Run `clients` watchers for `seconds`; return each one's summary."""
    stop = asyncio.Event()
    watchers = [Watcher(url, headers) for _ in range(clients)]
    tasks = [asyncio.create_task(w.run(stop)) for w in watchers]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    return [w.stats.summary() for w in watchers]


def main(argv: list[str] | None = None) -> int:
    """Run passive watchers in this process and print their summaries as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--url', required=True)
    parser.add_argument('--token')
    parser.add_argument('--cookie')
    parser.add_argument('--clients', type=int, default=1)
    parser.add_argument('--seconds', type=float, required=True)
    args = parser.parse_args(argv)
    summaries = asyncio.run(watch(args.url, auth_headers(args.token, args.cookie), args.clients, args.seconds))
    print(json.dumps(summaries, separators=(',', ':')), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
