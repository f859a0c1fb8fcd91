"""Recording benchmark results: run metadata (commit, machine, load), JSON lines under results/, medians."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / 'results'


def log(message: str) -> None:
    """Progress to stderr (stdout carries only the summary)."""
    print(f'[bench {time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


def git_revision(tree: Path | None = None) -> str:
    """The commit of a checkout (default: this one), with `-dirty` when its nixfleet/ has uncommitted changes."""
    where = tree or ROOT
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=where, capture_output=True, text=True)
        dirty = subprocess.run(['git', 'status', '--porcelain', 'nixfleet'], cwd=where, capture_output=True, text=True)
    except OSError:
        return 'unknown'
    return commit.stdout.strip() + ('-dirty' if dirty.stdout.strip() else '')


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy the machine was."""
    model = ''
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    return {
        'cpu': model,
        'cpus': os.cpu_count(),
        'python': platform.python_version(),
        'kernel': platform.release(),
        'loadavg': [round(x, 2) for x in os.getloadavg()],
    }


def metadata(scenario: str, *, variant: str = '', tree: Path | None = None, **extra: Any) -> dict[str, Any]:
    """The `bench` block of a result line."""
    return {
        'scenario': scenario,
        'variant': variant,
        'at': datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'revision': git_revision(tree),
        'tree': str(tree) if tree else None,
        'machine': machine(),
        'command': 'python bench/run.py ' + ' '.join(sys.argv[1:]),
        **extra,
    }


def append(scenario: str, summary: dict[str, Any]) -> Path:
    """Append one result line to results/<scenario>.jsonl; return the file."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f'{scenario}.jsonl'
    with out.open('a', encoding='utf-8') as fh:
        fh.write(json.dumps(summary, separators=(',', ':')) + '\n')
    return out


def median(values: Iterable[Any]) -> float | None:
    """Median of the values that are numbers, or None."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return round(statistics.median(numbers), 2) if numbers else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The pct-th percentile (nearest rank) of values, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def dig(data: dict[str, Any], path: str) -> Any:
    """`a.b.c` inside nested dicts, or None."""
    for key in path.split('.'):
        if not isinstance(data, dict):
            return None
        data = data.get(key)  # type: ignore[assignment]
    return data


def medians(runs: list[dict[str, Any]], keys: Iterable[str]) -> dict[str, float | None]:
    """Median across runs of each (dotted) key."""
    return {key: median(dig(run, key) for run in runs) for key in keys}
