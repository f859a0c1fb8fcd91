"""`nixfleet agent [--simulate]`: parse flags over the NIXFLEET_* environment and run the agent."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from nixfleet.agent.client import run_agent
from nixfleet.agent.config import AgentConfig, ConfigError
from nixfleet.agent.fleet import SimulatedFleet
from nixfleet.agent.sim import SimBehaviour, SimulatedSystem
from nixfleet.agent.system import Platform
from nixfleet.agent.version import AGENT_VERSION

log = logging.getLogger(__name__)


def build_parser(prog: str = 'nixfleet agent') -> argparse.ArgumentParser:
    """Return the argument parser of the agent subcommand (flags override NIXFLEET_* variables)."""
    parser = argparse.ArgumentParser(prog=prog, description='Run the NixFleet agent (Python implementation).')
    parser.add_argument('--simulate', action='store_true', help='fake git and the Nix tools (demo, tests, load)')
    parser.add_argument('--url', help='dashboard endpoint, e.g. ws://127.0.0.1:8000/ws (NIXFLEET_URL)')
    parser.add_argument('--token', help='agent token (NIXFLEET_TOKEN; prefer the variable: flags show in ps)')
    parser.add_argument('--hostname', help='host id (NIXFLEET_HOSTNAME); the name prefix with --count')
    parser.add_argument('--interval', type=int, help='heartbeat interval in seconds (NIXFLEET_INTERVAL)')
    parser.add_argument(
        '--platform', choices=[p.value for p in Platform], default='nixos', help='simulated platform (--simulate)'
    )
    parser.add_argument('--count', type=int, default=1, help='number of simulated agents (--simulate)')
    parser.add_argument('--version', action='store_true', help='print the agent version and exit')
    return parser


async def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent until SIGINT/SIGTERM or a restart request; return the process exit code."""
    args = build_parser().parse_args(argv)
    if args.version:
        print(f'nixfleet-agent {AGENT_VERSION}')
        return 0
    try:
        config = AgentConfig.from_env(url=args.url, token=args.token, hostname=args.hostname, interval=args.interval)
    except ConfigError as exc:
        print(f'nixfleet agent: {exc}', file=sys.stderr)
        return 1
    logging.basicConfig(level=config.log_level.upper(), format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if args.simulate and args.count > 1:
            return await _run_fleet(config, args.count, stop)
        if args.simulate:
            system = SimulatedSystem(
                hostname=config.hostname, platform=Platform(args.platform), behaviour=SimBehaviour.from_env()
            )
            return await run_agent(config, system=system, stop_event=stop, on_restart=system.restart)
        return await run_agent(config, stop_event=stop)
    except ConfigError as exc:
        print(f'nixfleet agent: {exc}', file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _run_fleet(config: AgentConfig, count: int, stop: asyncio.Event) -> int:
    fleet = SimulatedFleet(
        url=config.url,
        token=config.token.get_secret_value(),
        count=count,
        interval=config.interval,
        prefix=config.hostname,
        ramp=min(30.0, count / 50),
        behaviour=SimBehaviour.from_env(),
    )
    async with fleet:
        await stop.wait()
    return 0


def run_cli(args: Sequence[str] | None = None) -> int:
    """Run `nixfleet agent` synchronously (for the top-level CLI); return the exit code (101 after a switch)."""
    return asyncio.run(main(args))
