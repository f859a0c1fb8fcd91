#!/usr/bin/env python3
"""Run a benchmark scenario against a fresh local NixFleet dashboard and record the result.

Each run starts `nixfleet serve` on a free loopback port with a temporary data dir and generated secrets, waits
for /health, drives it, appends one JSON line (plus run metadata: commit, machine, load, exact command) to
bench/results/<scenario>.jsonl, and stops the server. See bench/README.md for every scenario and its results.

    python bench/run.py                                  # list scenarios
    python bench/run.py fleet --agents 500 --interval 1 --duration 60 --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scenario modules next to this file

import fleet
import scenarios


def raise_fd_limit() -> None:
    """Let the server and the harness (which inherit it) hold thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build_parser() -> argparse.ArgumentParser:
    """The runner's command line: one subcommand per scenario."""
    parser = argparse.ArgumentParser(
        prog='bench/run.py', description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest='scenario', metavar='SCENARIO')
    fleet.add_parser(sub)
    scenarios.add_parsers(sub)
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
