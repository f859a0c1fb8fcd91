"""`report`: README table rows (medians across runs) from recorded fleet results.

python bench/run.py report fleet-500x1s fleet-2000x5s --since 2026-11-25T18:20 [--variant after]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fleet import SUMMARY_KEYS, cpu_x_harness
from record import RESULTS, median, medians


def load(scenario: str, since: str, until: str, variant: str | None) -> dict[str, list[dict[str, Any]]]:
    """Runs of a scenario recorded in [since, until], by variant."""
    path = RESULTS / f'{scenario}.jsonl'
    runs: dict[str, list[dict[str, Any]]] = {}
    if not path.exists():
        return runs
    for line in path.read_text(encoding='utf-8').splitlines():
        run = json.loads(line)
        meta = run.get('bench') or {}
        at = str(meta.get('at') or '')
        name = str(meta.get('variant') or '')
        if since <= at <= until and (variant is None or name == variant) and not meta.get('profiled'):
            runs.setdefault(name, []).append(run)
    return runs


def row(scenario: str, variant: str, runs: list[dict[str, Any]]) -> str:
    m = medians(runs, SUMMARY_KEYS)
    first = runs[0]
    meta = first.get('bench') or {}
    load_avg = [r['bench']['machine'].get('loadavg', [None])[0] for r in runs if r.get('bench')]
    loads = [x for x in load_avg if isinstance(x, int | float)]

    # runs recorded before the ratio was in the line: computed from their own CPU figures
    m['cpu_x_harness'] = median(run.get('cpu_x_harness') or cpu_x_harness(run) for run in runs)

    def cell(key: str, unit: str = '') -> str:
        return '—' if m[key] is None else f'{m[key]:g}{unit}'

    return (
        f'| {first["agents"]:,} × {first["heartbeat_s"]:g} s | {variant or "-"} ({meta.get("revision", "?")}) '
        f'| {cell("cpu_pct_median")} ({cell("cpu_pct_p95")}) | {cell("harness_cpu_pct_median")} '
        f'| {cell("cpu_x_harness")} | {cell("rss_mb_max", " MB")} '
        f'| {cell("latency_ms_median", " ms")} | {cell("latency_ms_p99", " ms")} | {cell("delivered_pct", " %")} '
        f'| {len(runs)} | {min(loads, default=0):.1f}–{max(loads, default=0):.1f} | `{scenario}` |'
    )


def cmd_report(args: argparse.Namespace) -> int:
    print(
        '| load | code | CPU % of one core, median (p95) | harness CPU % | × harness | RSS max | latency median '
        '| latency p99 | delivered | runs | load avg | results |\n'
        '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|'
    )
    for scenario in args.scenarios:
        for variant, runs in load(scenario, args.since, args.until, args.variant).items():
            print(row(scenario, variant, runs))
    return 0


def add_parser(sub: Any) -> None:
    report = sub.add_parser('report', help='README table rows (medians) from recorded fleet results')
    report.add_argument('scenarios', nargs='+', help='results/<scenario>.jsonl names')
    report.add_argument('--since', default='', help='first run time (UTC, ISO prefix)')
    report.add_argument('--until', default='9999', help='last run time (UTC, ISO prefix)')
    report.add_argument('--variant', help='only this variant')
    report.set_defaults(func=cmd_report)
