"""How the UI words the end of a command or pipeline run: status words, refusals and the list of causes.

Every surface (toasts, the Pipelines grid, History rows, the host row's activity) says why in the words of
`nixfleet.causes.cause` — `code · exit N — message: last error line`; this module adds what happened before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nixfleet.causes import as_cell, cause
from nixfleet.models import TERMINAL, CommandStatus
from nixfleet.viewmodels.output_buffer import status_tone

#: Command statuses after which nothing changes any more.
TERMINAL_STATUSES = frozenset(s.value for s in TERMINAL)
#: Outcomes that count as "failed": the Failed chip and the row's activity cell (refused, skipped and cancelled
#: commands did not run; a partial success or a suspicious switch did not reach its goal: failed too).
FAILED_STATUSES = frozenset(
    s.value
    for s in (
        CommandStatus.ERROR,
        CommandStatus.TIMEOUT,
        CommandStatus.KILLED,
        CommandStatus.ORPHANED,
        CommandStatus.PARTIAL,
        CommandStatus.STALE_BINARY,
        CommandStatus.SUSPICIOUS,
    )
)
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
    'HALTED': ('was halted by a failed gate', 'negative'),
}
#: Causes a toast lists (the rest are counted).
TOAST_CAUSES = 3


def refusal(code: object, message: str) -> str:
    """A refused request (a dispatch error) in the words of every failure: `code — message`."""
    return cause({'status': 'BLOCKED', 'code': str(code) if code else None, 'message': message})


def ended(label: str, record: Mapping[str, Any]) -> tuple[str, str]:
    """What a finished command did, and why (`causes.cause`): (`Test failed`, `exit 1 — T05 FAIL: …`)."""
    status = str(record.get('status') or '')
    word = FINISHED_WORDS.get(status, (status.lower().replace('_', ' '), 'info'))[0]
    return f'{label} {word}', cause(record)


def row_failure(last: Mapping[str, Any] | None, label: Callable[[str | None], str]) -> dict[str, str] | None:
    """An idle host row's `fail` (`{text, why, command}`) from its view's `last_outcome`, when that one failed."""
    if not last or last.get('status') not in FAILED_STATUSES:
        return None
    word = FINISHED_WORDS.get(str(last.get('status')), ('failed', 'negative'))[0]
    why = str(last.get('cause') or '') or 'no cause reported'
    return {'text': f'{label(last.get("op"))} {word}', 'why': why, 'command': str(last['command_id'])}


def first_failed_host(failures: Sequence[tuple[str, str]]) -> str | None:
    """The first host (by name) of `(host or 'host · stage', cause)` failures: the toast links to its output."""
    hosts = sorted(what.partition(' · ')[0] for what, _ in failures)
    return hosts[0] if hosts and hosts[0] != '?' else None


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
