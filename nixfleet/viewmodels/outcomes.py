"""How the UI words the end of a command or pipeline run in a toast: status words and the list of causes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nixfleet.causes import as_cell, cause
from nixfleet.models import TERMINAL
from nixfleet.viewmodels.output_buffer import status_tone

#: Command statuses after which nothing changes any more.
TERMINAL_STATUSES = frozenset(s.value for s in TERMINAL)
#: A finished command's status → (what it did, toast kind).
FINISHED_WORDS = {
    'SUCCESS': ('succeeded', 'positive'),
    'PARTIAL': ('finished, but its goal was not reached', 'warning'),
    'ERROR': ('failed', 'negative'),
    'TIMEOUT': ('timed out', 'negative'),
    'KILLED': ('was stopped', 'warning'),
    'CANCELLED': ('is no longer tracked', 'info'),
    'ORPHANED': ('ended with an unknown outcome', 'warning'),
    'STALE_BINARY': ('switched, but the agent binary did not change', 'warning'),
    'SUSPICIOUS': ('switched, but only the source commit changed', 'warning'),
    'SKIPPED': ('was skipped', 'info'),
    'BLOCKED': ('was refused', 'warning'),
}
#: An ended pipeline run's status → (what it did, toast kind).
PIPELINE_WORDS = {
    'COMPLETE': ('completed', 'positive'),
    'PARTIAL': ('finished with failures', 'warning'),
    'FAILED': ('failed', 'negative'),
    'CANCELLED': ('was cancelled', 'info'),
}
#: Causes a toast lists (the rest are counted).
TOAST_CAUSES = 3


def cause_lines(failures: Sequence[tuple[str, str]]) -> str:
    """Lines for a toast: each distinct cause with the hosts that failed for it (`\nweb-01, web-02: exit 1 — …`)."""
    by_cause: dict[str, list[str]] = {}
    for host, why in sorted(failures):  # by host: the same toast whichever host ended first
        by_cause.setdefault(why or 'no cause reported', []).append(host)
    lines = [
        f'{", ".join(hosts[:4])}{f" +{len(hosts) - 4}" if len(hosts) > 4 else ""}: {why}'
        for why, hosts in list(by_cause.items())[:TOAST_CAUSES]
    ]
    if len(by_cause) > TOAST_CAUSES:
        lines.append(f'… and {len(by_cause) - TOAST_CAUSES} more causes')
    return ''.join(f'\n{line}' for line in lines)


def run_failures(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(host · stage, cause) of every cell of a pipeline run that failed (not partial, skipped or already current)."""
    found = []
    for op, stage in zip(run.get('ops') or [], run.get('stages') or [], strict=False):
        for host, raw in (stage or {}).items():
            cell = as_cell(raw)
            if cell and status_tone(cell.get('status')) == 'fail':
                found.append((f'{host} · {op}', cause(cell)))
    return found
