"""Agent fleets for benchmarks, run in their own process so they do not share the measuring process's loop.

    python bench/agents.py sim   --url ws://127.0.0.1:P/ws --token T --count 500 --speed 5 [--push]
    python bench/agents.py spew  --url ws://127.0.0.1:P/ws --token T --count 20 --rate 10000 --seconds 20

`sim` runs nixfleet.agent.SimulatedFleet (the real Python agent on simulated systems: realistic pull/switch/test
output and timing, divided by `--speed`); `--push` moves the simulated upstream on first, so pulls bring a change.
`spew` runs minimal raw agents that answer any command with `--rate` output lines per second in total (spread
over the agents) for `--seconds`, then `status ok`. Each line starts with `t=<CLOCK_MONOTONIC send time>` so a
watcher on this machine can measure send-to-client latency (bench/syncwatch.py). Both run until SIGTERM or until
stdin closes, then print one JSON line with what they sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

#: Output lines are sent in bursts this often (seconds): 10,000 lines/s over 20 agents is 5 lines per burst.
TICK = 0.01


async def until_stopped() -> None:
    """Return on SIGTERM/SIGINT or when stdin reaches EOF (the parent went away)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    loop.run_in_executor(None, watch_stdin)
    await stop.wait()


async def run_sim(args: argparse.Namespace) -> dict[str, Any]:
    """A SimulatedFleet until stopped."""
    from nixfleet.agent import SimulatedFleet

    fleet = SimulatedFleet(
        url=args.url, token=args.token, count=args.count, interval=args.interval, speed=args.speed, ramp=args.ramp
    )
    if args.push:
        fleet.remote.push()
    async with fleet:
        print(json.dumps({'started': args.count}), flush=True)
        await until_stopped()
    return {'agents': args.count}


class SpewAgent:
    """A raw agent that streams output lines at a fixed rate whenever it gets a command."""

    def __init__(self, index: int, args: argparse.Namespace, rate: float) -> None:
        self.hostname = f'spew-{index:03d}'
        self.args = args
        self.rate = rate
        self.sent = 0
        self.commands = 0
        self.seq = 0

    def register(self) -> str:
        return json.dumps({'type': 'register', 'payload': {
            'hostname': self.hostname, 'host_type': 'nixos', 'agent_version': '3.1.5', 'heartbeat_interval': 5,
            'generation': 'b6a4b4d', 'location': 'cloud', 'device_type': 'server'}})  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        headers = [('Authorization', f'Bearer {self.args.token}')]
        async with connect(self.args.url, additional_headers=headers, compression=None, max_size=2**22) as ws:
            await ws.send(self.register())
            while json.loads(await ws.recv()).get('type') != 'registered':
                pass
            beat = asyncio.create_task(self._heartbeats(ws, stop))
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get('type') == 'command':
                        await self._spew(ws, str((message.get('payload') or {}).get('command') or ''))
            except ConnectionClosed:
                pass
            finally:
                beat.cancel()

    async def _heartbeats(self, ws: Any, stop: asyncio.Event) -> None:
        frame = json.dumps({'type': 'heartbeat', 'payload': {'generation': 'b6a4b4d', 'metrics': {'cpu': 1.0}}})
        while not stop.is_set():
            await ws.send(frame)
            await asyncio.sleep(5)

    async def _spew(self, ws: Any, command: str) -> None:
        """Send the lines due by now every TICK (catching up when late) for `--seconds`, then `status ok`."""
        self.commands += 1
        start = time.monotonic()
        pad = 'x' * max(0, self.args.line_bytes - 40)
        sent = 0
        while (elapsed := time.monotonic() - start) < self.args.seconds:
            due = int(self.rate * elapsed) - sent
            for _ in range(due):
                self.seq += 1
                line = f't={time.monotonic():.6f} {self.hostname} {self.seq} {pad}'
                await ws.send(json.dumps({'type': 'output', 'payload': {'line': line, 'stream': 'stdout'}}))
            sent += due
            await asyncio.sleep(TICK)
        self.sent += sent
        await ws.send(json.dumps({'type': 'status', 'payload': {'status': 'ok', 'command': command, 'exit_code': 0}}))


async def run_spew(args: argparse.Namespace) -> dict[str, Any]:
    """Spew agents until stopped."""
    stop = asyncio.Event()
    agents = [SpewAgent(i, args, args.rate / args.count) for i in range(args.count)]
    tasks = [asyncio.create_task(a.run(stop)) for a in agents]
    print(json.dumps({'started': args.count}), flush=True)
    await until_stopped()
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sent, commands = sum(a.sent for a in agents), sum(a.commands for a in agents)
    return {'agents': args.count, 'lines_sent': sent, 'commands': commands}


def main(argv: list[str] | None = None) -> int:
    """Run a fleet until stopped; print what it did as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='kind', required=True)
    for kind in ('sim', 'spew'):
        p = sub.add_parser(kind)
        p.add_argument('--url', required=True)
        p.add_argument('--token', required=True)
        p.add_argument('--count', type=int, required=True)
    sim = sub.choices['sim']
    sim.add_argument('--interval', type=int, default=5)
    sim.add_argument('--speed', type=float, default=5.0)
    sim.add_argument('--ramp', type=float, default=5.0)
    sim.add_argument('--push', action='store_true')
    spew = sub.choices['spew']
    spew.add_argument('--rate', type=float, default=10_000.0, help='output lines per second, all agents together')
    spew.add_argument('--seconds', type=float, default=20.0, help='how long each command streams')
    spew.add_argument('--line-bytes', type=int, default=100, help='approximate length of a line')
    args = parser.parse_args(argv)
    result = asyncio.run(run_sim(args) if args.kind == 'sim' else run_spew(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
