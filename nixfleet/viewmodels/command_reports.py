"""What one tab started and has not yet reported: commands and pipeline runs, toasted when they end.

A click that starts commands on several hosts is one group, reported once when its last command ends; a pipeline
run is reported when it ends. NiceGUI-free: the tab gives the toast function and the journal look-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nixfleet.causes import cause
from nixfleet.ops.dispatch import DispatchResult
from nixfleet.streams.state import FleetState
from nixfleet.viewmodels.actions_model import hosts_phrase, op_label
from nixfleet.viewmodels.outcomes import (
    FINISHED_WORDS,
    PIPELINE_WORDS,
    TERMINAL_STATUSES,
    cause_lines,
    first_failed_host,
    run_failures,
)


class Toast(Protocol):
    """Shows a message to the user of the tab."""

    def __call__(self, message: str, kind: str = 'info', *, sticky: bool = False, output: str | None = None) -> None:
        """Toast `message`; `output` (a host) adds a button that shows that host's output."""


class JournalCommand(Protocol):
    """The part of a journaled command a report needs."""

    @property
    def terminal(self) -> bool: ...

    def view(self) -> Mapping[str, Any]: ...


@dataclass(slots=True)
class _Group:
    """Commands one click started, reported together when the last of them ends."""

    label: str
    pending: set[str]
    hosts: int
    ok: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (host, cause)
    last: Mapping[str, Any] | None = None


@dataclass(slots=True)
class _Run:
    """A pipeline run one click started, reported when it ends."""

    label: str
    name: str
    hosts: tuple[str, ...]


class CommandReports:
    """The commands and runs one tab started, reported with `toast` when they end."""

    def __init__(
        self,
        current: Callable[[], FleetState],
        get_command: Callable[[str], Awaitable[JournalCommand | None]],
        toast: Toast,
    ) -> None:
        self._current = current
        self._get_command = get_command
        self._toast = toast
        self._groups: dict[str, _Group] = {}  #: command id -> its group
        self._runs: dict[str, _Run] = {}  #: pipeline id -> what it runs
        self._mine: dict[str, tuple[str, str | None]] = {}  #: running command id -> (op, host), started here
        self._lookups: dict[str, asyncio.Task[None]] = {}  #: ended commands read from the journal (trimmed first)
        self._commands: Mapping[str, Any] | None = None
        self._pipelines: Mapping[str, Any] | None = None

    def started(self, op: str, results: Sequence[DispatchResult], *, forced: bool) -> None:
        """Report what a dispatch started (and what ended at once); watch the rest."""
        label = op_label(op) + (' (forced)' if forced else '')
        started = [r for r in results if r.started]
        if not started:
            return
        done = [r for r in started if r.command_status == 'SUCCESS']  # dashboard ops end inside dispatch
        if len(done) > 1:  # one toast for a bulk run (Remove on 20 offline hosts), not one per host
            self._toast(f'{label} done on {hosts_phrase(r.host or "the fleet" for r in done)}', 'positive')
        elif done:
            self._toast(done[0].message or f'{label} done', 'positive')
        for r in started:
            if r.command_status in TERMINAL_STATUSES and r.command_status != 'SUCCESS':
                why = cause({'status': r.command_status, 'code': r.code, 'message': r.message})
                text = f'{label} failed' + (f'\n{why}' if why else '')
                self._toast(text, 'negative', sticky=True, output=r.host)
        running = [r for r in started if r.command_status not in TERMINAL_STATUSES]
        if not running:
            return
        group = _Group(label=label, pending={r.command_id for r in running if r.command_id}, hosts=len(running))
        for r in running:
            if r.command_id:
                self._groups[r.command_id] = group
                self._mine[r.command_id] = (op, r.host)
        self._toast(f'{label} started on {hosts_phrase([r.host or "the fleet" for r in running])}', 'info')

    def running_here(self, op: str, hosts: Sequence[str]) -> list[str]:
        """Those of `hosts` running `op` that this tab started (and that has not ended yet)."""
        commands = self._current().commands
        running = {
            host
            for cid, (mine, host) in self._mine.items()
            if mine == op and (commands.get(cid) or {}).get('status') not in TERMINAL_STATUSES
        }
        return [h for h in hosts if h in running]

    def pipeline_started(self, run_id: str, label: str, name: str, hosts: Sequence[str]) -> None:
        """Watch a pipeline run this tab started."""
        self._runs[run_id] = _Run(label, name, tuple(hosts))

    def pipeline_hosts(self, name: str) -> set[str]:
        """The hosts of this tab's runs of pipeline `name` that have not ended yet."""
        return {h for run in self._runs.values() if run.name == name for h in run.hosts}

    def follow(self, state: FleetState) -> None:
        """Report commands and pipelines this tab started once they end (call on every rendered state)."""
        if self._groups and state.commands is not self._commands:
            current = self._current().commands
            for cid in [c for c, g in self._groups.items() if c in g.pending]:
                cmd = state.commands.get(cid)
                if cmd is not None and cmd.get('status') in TERMINAL_STATUSES:
                    self._finished(cid, cmd)
                elif cmd is None and cid not in current and cid not in self._lookups:
                    self._look_up(cid)
        self._commands = state.commands
        if self._runs and state.pipelines is not self._pipelines:
            for run_id in list(self._runs):
                run = state.pipelines.get(run_id)
                if run is not None and run.get('status') in PIPELINE_WORDS:
                    self._run_ended(self._runs.pop(run_id).label, run)
        self._pipelines = state.pipelines

    def _run_ended(self, label: str, run: Mapping[str, Any]) -> None:
        word, kind = PIPELINE_WORDS[str(run.get('status'))]
        text = f'{label} on {hosts_phrase(run.get("hosts") or [])} {word}'
        if run.get('message') and run.get('status') != 'COMPLETE':
            text += f': {run["message"]}'
        failures = run_failures(run)
        self._toast(text + cause_lines(failures), kind, sticky=kind == 'negative', output=first_failed_host(failures))

    def _look_up(self, cid: str) -> None:
        """Report a command that left the live state before this tab saw it end (the server trims ended ones)."""

        async def from_journal() -> None:
            try:
                cmd = await self._get_command(cid)
            finally:
                self._lookups.pop(cid, None)
            if cid not in self._groups:
                return
            if cmd is None:  # its host was removed with its commands: nothing to report
                self._groups.pop(cid).pending.discard(cid)
                self._mine.pop(cid, None)
            elif cmd.terminal:
                self._finished(cid, cmd.view())

        self._lookups[cid] = asyncio.get_running_loop().create_task(from_journal(), name=f'ended-{cid}')

    def _finished(self, cid: str, cmd: Mapping[str, Any]) -> None:
        group = self._groups.pop(cid)
        self._mine.pop(cid, None)
        group.pending.discard(cid)
        group.last = cmd
        if cmd.get('status') in ('SUCCESS', 'PARTIAL'):
            group.ok += 1
        else:
            group.failed.append((str(cmd.get('host_id') or '?'), cause(cmd)))
        if group.pending:
            return
        if group.hosts == 1:
            status = str(cmd.get('status'))
            word, kind = FINISHED_WORDS.get(status, (status.lower(), 'info'))
            why = cause(cmd)
            text = f'{cmd.get("host_id") or "Fleet"}: {group.label} {word}' + (f'\n{why}' if why else '')
            failed = kind != 'positive' and cmd.get('host_id')
            self._toast(text, kind, sticky=kind == 'negative', output=str(cmd['host_id']) if failed else None)
            return
        if not group.failed:
            self._toast(f'{group.label} succeeded on {group.ok} hosts', 'positive')
            return
        kind = 'negative' if not group.ok else 'warning'
        text = f'{group.label}: {group.ok} of {group.hosts} succeeded, {len(group.failed)} failed'
        self._toast(text + cause_lines(group.failed), kind, sticky=True, output=first_failed_host(group.failed))
