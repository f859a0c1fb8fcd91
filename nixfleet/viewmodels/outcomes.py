"""How the UI words the end of a command or pipeline run: status words, refusals and the list of causes.

Every surface (toasts, the Pipelines grid, History rows, the host row's activity) says why in the words of
`nixfleet.causes.cause` — `code · exit N — message: last error line`; this module adds what happened before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def refusal(code: object, message: str) -> str:
    """A refused request (a dispatch error) in the words of every failure: `code — message`."""
    return cause({'status': 'BLOCKED', 'code': str(code) if code else None, 'message': message})


def ended(label: str, record: Mapping[str, Any]) -> tuple[str, str]:
    """What a finished command did, and why (`causes.cause`): (`Test failed`, `exit 1 — T05 FAIL: …`)."""
    status = str(record.get('status') or '')
    word = FINISHED_WORDS.get(status, (status.lower().replace('_', ' '), 'info'))[0]
    return f'{label} {word}', cause(record)


class LastFailures:
    """Why each host's last command failed, for the idle activity cell of its row (NiceGUI-free, O(1) per row).

    The table tells it each host's running command as rows are built (`row`); once the host is idle, the state's
    view of that command says how it ended. A full render finds each host's newest command in the state once.
    """

    def __init__(self, label: Callable[[str | None], str]) -> None:
        self._label = label
        self._last: dict[str, str] = {}  #: host -> id of its newest command seen

    def reset(self, commands: Mapping[str, Mapping[str, Any]]) -> None:
        """Find each host's newest command in a whole snapshot."""
        newest: dict[str, tuple[str, str]] = {}
        for cid, command in commands.items():
            host, created = command.get('host_id'), str(command.get('created_at') or '')
            if host and (host not in newest or created >= newest[host][0]):
                newest[str(host)] = (created, str(cid))
        self._last = {host: cid for host, (_, cid) in newest.items()}

    def row(
        self, host: str, running: Mapping[str, Any] | None, commands: Mapping[str, Mapping[str, Any]], *, busy: bool
    ) -> dict[str, str] | None:
        """The row's `fail` field: `{text, why, command}` when the host is idle and its last command failed."""
        if running is not None:
            self._last[host] = str(running.get('id'))
        if busy or running is not None:
            return None
        command = commands.get(self._last.get(host, ''))
        if command is None or status_tone(command.get('status')) != 'fail':
            return None
        text, why = ended(self._label(command.get('op')), command)
        return {'text': text, 'why': why or 'no cause reported', 'command': str(command.get('id'))}

    def forget(self, host: str) -> None:
        """The host left the table."""
        self._last.pop(host, None)


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
