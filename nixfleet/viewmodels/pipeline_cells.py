"""A pipeline run's grid as data, NiceGUI-free: which cell each host and stage shows, in words and colour.

A grid cell shows the stage's recorded outcome, or, while the stage runs, the status of the host's command in the
state (`commands`, linked by `pipeline_id` and `stage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nixfleet.causes import as_cell, cause, cell_of, is_already_current, short_cause
from nixfleet.streams.state import FleetState
from nixfleet.viewmodels.output_buffer import status_tone

#: Tones whose cells show their cause in the cell and in the run's list of causes.
EXPLAINED = frozenset({'fail', 'partial'})
RUN_TONES = {
    'RUNNING': 'running',
    'COMPLETE': 'ok',
    'PARTIAL': 'partial',
    'FAILED': 'fail',
    'CANCELLED': 'muted',
    'HALTED': 'fail',
}
HOST_STATES = {
    'active': ('running', 'in progress'),
    'done': ('ok', 'completed'),
    'failed': ('fail', 'failed'),
    'cancelled': ('muted', 'cancelled'),
    'halted': ('muted', 'halted'),
}

#: (pipeline id, stage, host or None) → the cell of the command, for the commands of running runs.
CellIndex = dict[tuple[str, int, str | None], Mapping[str, Any]]
#: What a cell says for a stage whose goal already held.
CURRENT_TEXT = 'already current'
#: Failure causes a run card lists below its grid (the rest are counted).
CAUSES = 6


def running_cells(state: FleetState, runs: Mapping[str, Mapping[str, Any]]) -> CellIndex:
    """Cells of the commands of the running runs in `runs`, by (pipeline, stage, host)."""
    running = {rid for rid, run in runs.items() if run.get('status') == 'RUNNING'}
    if not running:
        return {}
    index: CellIndex = {}
    for command in state.commands.values():
        pid = command.get('pipeline_id')
        if pid in running and command.get('stage') is not None:
            index[(str(pid), int(command['stage']), command.get('host_id'))] = cell_of(command)
    return index


def grid_cell(run: Mapping[str, Any], stage: int, host: str, index: CellIndex) -> Mapping[str, Any] | None:
    """The cell a grid shows: the recorded outcome, else the live state of the stage's command."""
    stages = run.get('stages') or []
    recorded = as_cell((stages[stage] or {}).get(host)) if stage < len(stages) else None
    if recorded and recorded.get('status'):
        return recorded
    rid = str(run.get('id'))
    return index.get((rid, stage, host)) or index.get((rid, stage, None))


def cell_tone(cell: Mapping[str, Any] | None) -> str:
    """The colour family of a cell: a stage already current has its own (`current`), apart from skips and failures."""
    if cell is not None and is_already_current(cell):
        return 'current'
    return status_tone(cell.get('status') if cell else None)


def cell_words(cell: Mapping[str, Any] | None) -> str:
    """The status of a cell in words."""
    if cell is None or not cell.get('status'):
        return 'waiting'
    return CURRENT_TEXT if is_already_current(cell) else str(cell['status']).lower().replace('_', ' ')


def failed_hosts(run: Mapping[str, Any]) -> list[str]:
    """Hosts that left the run failing (what Retry failed re-runs)."""
    states = run.get('host_state') or {}
    return [h for h in run.get('hosts') or [] if (states.get(h) or {}).get('state') == 'failed']


@dataclass(frozen=True, slots=True)
class CellView:
    """What one grid cell shows: its status in words and colour, its cause as the cell shows it and in full."""

    status: str | None
    tone: str
    words: str
    short: str
    cause: str
    label: str

    @classmethod
    def of(cls, cell: Mapping[str, Any] | None, host: str, op: str) -> CellView:
        """The view of `cell` (None: the stage has not reached the host yet)."""
        tone, words = cell_tone(cell), cell_words(cell)
        why = cause(cell) if cell is not None and tone not in ('ok', 'running', 'warn') else ''
        # a failed cell says the whole cause (its width cuts it; the tooltip and the run's list hold all of it)
        short = '' if cell is None or tone not in EXPLAINED else (why if tone == 'fail' and why else short_cause(cell))
        label = f'{host}, {op}: {words}' + (f' — {why}' if why else '')
        status = str(cell['status']) if cell and cell.get('status') else None
        return cls(status=status, tone=tone, words=words, short=short, cause=why, label=label)


def wave_of(run: Mapping[str, Any], host: str) -> int | None:
    """The index of the host's wave in a run that rolls out in more than one wave (None otherwise)."""
    waves = run.get('waves') or []
    if len(waves) < 2:
        return None
    return next((w for w, hosts in enumerate(waves) if host in hosts), None)


def gated(run: Mapping[str, Any]) -> bool:
    """Whether the run gates its waves (it has a failure policy: waves, a soak or a gate check)."""
    return bool((run.get('options') or {}).get('on_failure'))


def gate_view(run: Mapping[str, Any], host: str) -> CellView:
    """The gate cell of a host: its wave's gate not reached, checking (soaking), passed, or failed (rolled back)."""
    waves = run.get('waves') or [run.get('hosts') or []]
    wave = next((w for w, hosts in enumerate(waves) if host in hosts), 0)
    gate = (run.get('gates') or {}).get(str(wave)) or {}
    failed = gate.get('failed') or {}
    rolled = (gate.get('rolled_back') or {}).get(host)
    if host in failed:
        status = 'ROLLED_BACK' if rolled == 'SUCCESS' else 'FAILED'
        words = 'rolled back' if rolled == 'SUCCESS' else 'failed'
        why = str(failed[host]) + (f'; rollback {str(rolled).lower()}' if rolled and rolled != 'SUCCESS' else '')
        tone, short = 'fail', why
    elif gate.get('state') == 'checking':
        status, tone, words, why, short = (
            'RUNNING',
            'running',
            'soaking' if gate.get('soak_until') else 'checking',
            '',
            '',
        )
    elif gate.get('state') in ('passed', 'failed'):
        status, tone, words, why, short = 'SUCCESS', 'ok', 'passed', '', ''
    else:
        words = 'waiting' if run.get('status') in (None, 'RUNNING') else 'not reached'
        status, tone, why, short = None, 'none', '', ''
    label = f'{host}, gate of wave {wave + 1}: {words}' + (f' — {why}' if why else '')
    return CellView(status=status, tone=tone, words=words, short=short, cause=why, label=label)


def run_label(run: Mapping[str, Any]) -> str:
    """The run's status badge: `running · stage 2/3` (`running · wave 2/3 · stage 1` in a rollout), `cancelling…`, or
    how it ended."""
    status = str(run.get('status') or '')
    if status != 'RUNNING':
        return status.lower()
    if run.get('cancel_requested'):
        return 'cancelling…'
    ops = list(run.get('ops') or [])
    stage = int(run.get('current_stage') or 0)
    if len(waves := run.get('waves') or []) > 1:
        return f'running · wave {int(run.get("current_wave") or 0) + 1}/{len(waves)} · stage {stage + 1}'
    return f'running · stage {min(stage + 1, len(ops))}/{len(ops)}'
