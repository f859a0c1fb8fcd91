"""Agents whose heartbeats carry a marker the host table renders: the CPU column shows `seq % 100` percent.

    python bench/marker_agents.py --url ws://127.0.0.1:P/ws --token T --count 500 --interval 5

The agents are fleet_load.py's (the Go agent's register and heartbeat shapes, pings, reconnects) with one change:
`metrics.cpu` is the heartbeat's sequence number modulo 100, so every heartbeat changes the CPU cell's text
(`{{ Math.round(row.cpu) }}%` in host_table.js) to a value that names the heartbeat for 100 intervals. Each send is
logged as (host, value, wall-clock ms, CLOCK_MONOTONIC ms): the page stamps with the wall clock
(`performance.timeOrigin + now()`), Chromium's DevTools network events with CLOCK_MONOTONIC (its TimeTicks).
Runs until stdin closes or SIGTERM, then prints one JSON line: the sends and the connection counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agents import until_stopped
from fleet_load import Counters, SendLog, SimAgent

#: A CPU value names a heartbeat of its host for this many intervals.
MARKER_VALUES = 100


class MarkerAgent(SimAgent):
    """A fleet_load agent that puts its heartbeat sequence into the CPU metric and logs each send."""

    sent: list[tuple[str, int, float, float]]

    def heartbeat_msg(self) -> tuple[str, int]:
        text, seq = super().heartbeat_msg()
        message = json.loads(text)
        message['payload']['metrics']['cpu'] = float(seq % MARKER_VALUES)
        return json.dumps(message), seq

    async def _beat(self, ws: Any) -> None:
        text, seq = self.heartbeat_msg()
        self.sent.append((self.hostname, seq % MARKER_VALUES, time.time() * 1000, time.monotonic() * 1000))
        await ws.send(text)
        self.counters.heartbeats += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the agents until stopped; return what they sent."""
    cfg = argparse.Namespace(
        url=args.url, token=args.token, interval=args.interval, seed=args.seed, host_prefix=args.prefix,
        agent_ping=10.0, verbose=False,
    )  # fmt: skip
    counters, sends, sent = Counters(), SendLog(), []
    stop, shutdown = asyncio.Event(), asyncio.Event()
    agents = [MarkerAgent(i, cfg, counters, sends, stop, shutdown) for i in range(args.count)]
    for agent in agents:
        agent.sent = sent
    t0, step = time.monotonic(), args.ramp / max(1, args.count)
    tasks = [asyncio.create_task(agent.run(t0 + i * step)) for i, agent in enumerate(agents)]
    print(json.dumps({'started': args.count}), flush=True)
    await until_stopped()
    connected = counters.connected
    stop.set()
    shutdown.set()
    _, pending = await asyncio.wait(tasks, timeout=15)
    for task in pending:
        task.cancel()
    return {
        'agents': args.count,
        'connected_at_stop': connected,
        'registered': len(counters.ever_registered),
        'disconnects': counters.disconnects,
        'connect_failures': counters.connect_failures,
        'heartbeats': counters.heartbeats,
        'sent': sent,
    }


def main(argv: list[str] | None = None) -> int:
    """Run marker agents until stdin closes; print the sends as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--url', required=True, help='agent WebSocket endpoint, ws://127.0.0.1:P/ws')
    parser.add_argument('--token', required=True)
    parser.add_argument('--count', type=int, required=True)
    parser.add_argument('--interval', type=float, default=5.0, help='heartbeat interval, seconds')
    parser.add_argument('--ramp', type=float, default=10.0, help='stagger the connects over this many seconds')
    parser.add_argument('--prefix', default='sim-', help='host names: <prefix>00000, <prefix>00001, …')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), separators=(',', ':')), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
