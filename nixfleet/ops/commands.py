"""One command (one op run on one host): its in-memory record, its journal row and its client view
(docs/architecture.md#commands-lifecycle)."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlite_utils import Database

from nixfleet.models import TERMINAL, CommandStatus, ErrorCode
from nixfleet.timeutil import iso, parse_iso

#: Host key of fleet-wide commands (merge-pr, refresh-git): one may run at a time; logs go to `logs/_fleet/`.
FLEET = '_fleet'
#: A command counts as a success for pipelines and clients in these states.
SUCCEEDED = frozenset({CommandStatus.SUCCESS, CommandStatus.PARTIAL})


def satisfied(status: CommandStatus, code: str | None) -> bool:
    """Whether a command ending so lets its host go on in a pipeline: it succeeded, or it was not run because its
    goal already held (SKIPPED `already_current`, docs/architecture.md#pipelines)."""
    return status in SUCCEEDED or (status is CommandStatus.SKIPPED and code == ErrorCode.ALREADY_CURRENT)


def new_id(now: float, prefix: str = '') -> str:
    """A sortable unique id: UTC time to the millisecond plus random hex."""
    stamp = iso(now).replace('-', '').replace(':', '').replace('.', '')
    return f'{prefix}{stamp}-{secrets.token_hex(3)}'


@dataclass(slots=True, kw_only=True)
class Tracking:
    """Lifecycle bookkeeping persisted with the command, so a restarted dashboard can continue."""

    reconnect_deadline: float | None = None
    status_ok: bool = False  #: switch-like: the agent reported `status ok` before going away
    status_at: float | None = None
    disconnected_at: float | None = None
    awaiting_heartbeat: bool = False  #: the agent re-registered; its first heartbeat decides what happened
    kill_at: float | None = None
    kill_escalated: bool = False
    alert_dismissed: bool = False
    extended_s: float = 0.0
    post_check_due: float | None = None  #: a post-check waits for the next heartbeat until this time
    post_message: str = ''
    before: dict[str, Any] = field(default_factory=dict)
    expect_agent_update: bool = False
    #: Output bytes the command's log holds, as charged by `output_cap` (lines with their prefix, and its markers).
    output_kept: int = 0
    #: Output bytes dropped over the rate or total limit, in all.
    output_dropped: int = 0
    #: Bytes dropped in the current span over the rate limit (0: output is not being skipped).
    output_skipped: int = 0
    #: The command's output reached its total limit: the rest is dropped.
    output_full: bool = False
    #: The host's generation when the command ended (what a switch-like command went to: the host page's history).
    generation: str = ''


@dataclass(slots=True, kw_only=True)
class Command:
    """One op run on one host (`host` is None for fleet-wide dashboard ops)."""

    id: str
    host: str | None
    op: str
    agent_command: str | None
    status: CommandStatus
    actor: str
    created_at: float
    pipeline_id: str | None = None
    stage: int | None = None
    forced: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    code: str | None = None
    error: str | None = None
    message: str | None = None
    #: The output line that says what went wrong (`causes.last_error_line`), kept when the command fails.
    error_line: str | None = None
    output_file: str | None = None
    freshness: dict[str, str] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    warn_at: float | None = None
    hard_at: float | None = None
    track: Tracking = field(default_factory=Tracking)
    #: Loaded from the journal at startup and not yet re-adopted (never persisted: true only in this process).
    recovered: bool = False
    adopt_deadline: float | None = None

    @property
    def key(self) -> str:
        """Key of the one-active-command slot this command occupies."""
        return self.host or FLEET

    @property
    def terminal(self) -> bool:
        """Whether the command has ended."""
        return self.status in TERMINAL

    def _common(self) -> dict[str, Any]:
        """The fields the client view and the journal row share, in the same form (timestamps as UTC ISO)."""
        return {
            'id': self.id,
            'host_id': self.host,
            'op': self.op,
            'agent_command': self.agent_command,
            'status': self.status.value,
            'actor': self.actor,
            'pipeline_id': self.pipeline_id,
            'stage': self.stage,
            'created_at': iso(self.created_at),
            'started_at': _iso(self.started_at),
            'finished_at': _iso(self.finished_at),
            'exit_code': self.exit_code,
            'code': self.code,
            'error': self.error,
            'message': self.message,
            'error_line': self.error_line,
            'warn_at': _iso(self.warn_at),
            'hard_at': _iso(self.hard_at),
        }

    def view(self) -> dict[str, Any]:
        """The client view: every field a UI or API needs."""
        return {
            **self._common(),
            'terminal': self.terminal,
            'success': satisfied(self.status, self.code),
            'forced': self.forced,
            'progress': self.progress,
            'reconnect_deadline': _iso(self.track.reconnect_deadline),
            'kill_requested': self.track.kill_at is not None,
            'alert_dismissed': self.track.alert_dismissed,
            'recovered': self.recovered,
            'output_truncated': self.track.output_dropped > 0,
        }

    def row(self) -> dict[str, Any]:
        """The journal row (`commands` table)."""
        return {
            **self._common(),
            'forced': int(self.forced),
            'updated_at': iso(self.finished_at or self.started_at or self.created_at),
            'output_file': self.output_file,
            'freshness_json': json.dumps(self.freshness),
            'progress_json': json.dumps(self.progress),
            'state_json': json.dumps(asdict(self.track)),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Command:
        """Rebuild a command from its journal row."""
        track = Tracking(**_json(row.get('state_json'), {}))
        return cls(
            id=row['id'],
            host=row.get('host_id'),
            op=row['op'],
            agent_command=row.get('agent_command'),
            status=CommandStatus(row['status']),
            actor=row.get('actor') or 'system',
            created_at=parse_iso(row.get('created_at')) or 0.0,
            pipeline_id=row.get('pipeline_id'),
            stage=row.get('stage'),
            forced=bool(row.get('forced')),
            started_at=parse_iso(row.get('started_at')),
            finished_at=parse_iso(row.get('finished_at')),
            exit_code=row.get('exit_code'),
            code=row.get('code'),
            error=row.get('error'),
            message=row.get('message'),
            error_line=row.get('error_line'),
            output_file=row.get('output_file'),
            freshness=_json(row.get('freshness_json'), {}),
            progress=_json(row.get('progress_json'), {}),
            warn_at=parse_iso(row.get('warn_at')),
            hard_at=parse_iso(row.get('hard_at')),
            track=track,
        )


def _iso(ts: float | None) -> str | None:
    return iso(ts) if ts is not None else None


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def save(row: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A store write that upserts one command row."""

    def write(db: Database) -> None:
        db.table('commands').upsert(row, pk='id', alter=False)

    return write
