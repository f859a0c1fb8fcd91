"""Pipeline runs in the journal (`pipelines` table) and the per-(stage, host) command records of a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from nixfleet.causes import as_cell
from nixfleet.models import PipelineStatus
from nixfleet.timeutil import iso, parse_iso


@dataclass(slots=True, kw_only=True)
class PipelineRun:
    """One run of a pipeline on a set of hosts."""

    id: str
    name: str
    ops: list[str]
    hosts: list[str]
    actor: str
    created_at: float
    status: PipelineStatus = PipelineStatus.RUNNING
    current_stage: int = 0
    finished_at: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    retry_of: str | None = None
    cancel_requested: bool = False
    message: str = ''
    #: host → {state: active | failed | done | cancelled | halted, stage: where it left}
    host_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: "<stage>:<host>" (host `*` for fleet-wide stages) → the command's outcome: `{status, code, message,
    #: exit_code}` (`causes.cell_of`)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Rollouts (nixfleet.ops.rollout): the wave being run, and each checked wave's gate by wave index ("0", …):
    #: `{hosts, state: checking | passed | failed, soak_until, failed: {host: why}, rolled_back: {host: status}}`
    current_wave: int = 0
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for host in self.hosts:
            self.host_state.setdefault(host, {'state': 'active'})

    def view(self) -> dict[str, Any]:
        """The client view (`pipeline_updated` payload, API)."""
        return {
            'id': self.id,
            'name': self.name,
            'ops': self.ops,
            'hosts': self.hosts,
            'status': self.status.value,
            'current_stage': self.current_stage,
            'current_op': self.ops[self.current_stage] if self.current_stage < len(self.ops) else None,
            'actor': self.actor,
            'created_at': iso(self.created_at),
            'finished_at': iso(self.finished_at) if self.finished_at is not None else None,
            'options': self.options,
            'retry_of': self.retry_of,
            'cancel_requested': self.cancel_requested,
            'message': self.message,
            'host_state': self.host_state,
            'stages': [
                {host: as_cell(self.cells.get(f'{k}:{host}', self.cells.get(f'{k}:*'))) for host in self.hosts}
                for k in range(len(self.ops))
            ],
            'waves': self.options.get('waves') or [self.hosts],
            'current_wave': self.current_wave,
            'gates': self.gates,
            'rollbacks': {
                host: as_cell(cell) for host in self.hosts if (cell := self.cells.get(f'{len(self.ops)}:{host}'))
            },
        }

    def row(self) -> dict[str, Any]:
        """The journal row."""
        return {
            'id': self.id,
            'name': self.name,
            'hosts': json.dumps(self.hosts),
            'current_stage': self.current_stage,
            'status': self.status.value,
            'created_at': iso(self.created_at),
            'finished_at': iso(self.finished_at) if self.finished_at is not None else None,
            'updated_at': iso(self.finished_at or self.created_at),
            'actor': self.actor,
            'options_json': json.dumps({**self.options, 'ops': self.ops}),
            'host_status_json': json.dumps(
                {
                    'hosts': self.host_state,
                    'cells': self.cells,
                    'cancel_requested': self.cancel_requested,
                    'message': self.message,
                    'current_wave': self.current_wave,
                    'gates': self.gates,
                }
            ),
            'retry_of': self.retry_of,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PipelineRun:
        """Rebuild a run from its journal row."""
        options = _json(row.get('options_json'))
        ops = options.pop('ops', None) or []
        state = _json(row.get('host_status_json'))
        return cls(
            id=row['id'],
            name=row['name'],
            ops=ops,
            hosts=json.loads(row.get('hosts') or '[]'),
            actor=row.get('actor') or 'system',
            created_at=parse_iso(row.get('created_at')) or 0.0,
            status=PipelineStatus(row.get('status') or 'RUNNING'),
            current_stage=int(row.get('current_stage') or 0),
            finished_at=parse_iso(row.get('finished_at')),
            options=options,
            retry_of=row.get('retry_of'),
            cancel_requested=bool(state.get('cancel_requested')),
            message=state.get('message') or '',
            host_state=state.get('hosts') or {},
            cells=_cells(state.get('cells')),
            current_wave=int(state.get('current_wave') or 0),
            gates=state.get('gates') or {},
        )


def _cells(value: Any) -> dict[str, dict[str, Any]]:
    """Journaled cells as mappings (runs journaled before causes were kept hold status strings)."""
    if not isinstance(value, dict):
        return {}
    return {key: cell for key, raw in value.items() if (cell := as_cell(raw)) is not None}


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def save_run(run: PipelineRun):  # type: ignore[no-untyped-def]
    """A store write that upserts a run."""
    row = run.row()

    def write(db: Database) -> None:
        db.table('pipelines').upsert(row, pk='id', alter=False)

    return write
