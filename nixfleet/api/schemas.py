"""Response models, documented refusals, security schemes and paging of the `/api` routes.

The models describe the views the op engine, host registry and event log already build (`Command.view()`,
`HostRegistry.view()`, `PipelineRun.view()`, `event_row()`); they allow extra fields so a view that grows never
breaks a response, while the served OpenAPI schema stays accurate for every field listed here.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from nixfleet.api.deps import READ_METHODS
from nixfleet.api.errors import ApiError, ErrorBody
from nixfleet.models import CommandStatus, Connection, ErrorCode, PipelineStatus

__all__ = ['ErrorBody']

#: Security schemes every `/api` route accepts (documentation only: `ApiAuth` does the checking).
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name='apiToken',
    description='An API token: `nixfleet token create --kind api --name NAME` or `POST /api/tokens`.',
)
session_scheme = APIKeyCookie(
    name='nixfleet_session', auto_error=False, scheme_name='session', description='The browser session cookie.'
)
API_SECURITY = [Security(bearer_scheme), Security(session_scheme)]

#: Any request that is not valid HTTP gets this 400, before any route sees it (nixfleet/server.py).
MALFORMED = 'Not valid HTTP, e.g. a control character in a header (`malformed_request`)'
_DESCRIPTIONS = {
    400: f'Refused (see `error.code`), or: {MALFORMED}',
    401: 'No valid session or API token',
    403: 'TOTP missing or wrong',
    404: 'No such resource',
    409: 'Conflicts with the current state (host busy or online, command not running, ...)',
    422: 'Invalid request (`invalid_request`)',
    500: 'The op failed on the dashboard',
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: 401 and 422 always, plus `statuses`, each with the error envelope."""
    return {s: {'model': ErrorBody, 'description': _DESCRIPTIONS[s]} for s in sorted({401, 422, *statuses})}


#: What a `read` API token gets from every route that changes something (nixfleet.api.deps.check_scope).
READ_SCOPE_REFUSAL = 'An API token with the `read` scope: this needs `operate` (`forbidden`)'


def document_scope_refusals(router: APIRouter) -> APIRouter:
    """Document the 403 a `read` token gets on every route of `router` that changes something (idempotent)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and (route.methods or set()) - READ_METHODS:
            known = str(route.responses.get(403, {}).get('description', ''))
            if READ_SCOPE_REFUSAL not in known:
                description = f'{known}; or: {READ_SCOPE_REFUSAL}' if known else READ_SCOPE_REFUSAL
                route.responses[403] = {'model': ErrorBody, 'description': description}
    return router


def malformed() -> dict[int | str, dict[str, Any]]:
    """The 400 every operation can answer (a route's own 400 refusals take its place): a request not valid HTTP."""
    return {400: {'model': ErrorBody, 'description': MALFORMED}}


class View(BaseModel):
    """A view built by the core: listed fields are documented, new ones pass through."""

    model_config = ConfigDict(extra='allow')


# -- hosts -----------------------------------------------------------------------------------------------------
class Compartment(View):
    """One of a host's five status indicators (docs/architecture.md#compartments)."""

    status: str = Field(description='ok | outdated | error | working | unknown')
    message: str | None = None
    hint: str | None = None
    action: Any = None


class HostOut(View):
    """A host as clients see it: stored facts, liveness, live metrics and derived fields."""

    id: str
    hostname: str | None = None
    host_type: str | None = None
    agent_version: str | None = None
    agent_impl: str | None = None
    os_version: str | None = None
    nixpkgs_version: str | None = None
    generation: str | None = None
    location: str | None = None
    device_type: str | None = None
    theme_color: str | None = None
    color_source: str | None = Field(None, description='`dashboard` when overridden, else `agent`.')
    connection: Connection = Connection.OFFLINE
    last_seen: str | None = None
    metrics: dict[str, Any] | None = None
    update_status: dict[str, Any] | None = None
    compartments: dict[str, Compartment] | None = None
    busy: bool = False
    pending_command: str | None = Field(None, description='Op of the active command.')
    command_id: str | None = None
    command_status: str | None = None
    available_ops: list[str] = Field(default_factory=list, description='Ops the host accepts right now.')
    created_at: str | None = None
    updated_at: str | None = None


class HostList(BaseModel):
    """Hosts ordered by id, with the number per connection state."""

    hosts: list[HostOut]
    counts: dict[str, int] = Field(description='Hosts per connection state (online, stale, offline) and `total`.')


# -- commands --------------------------------------------------------------------------------------------------
class CommandOut(View):
    """One command (one op run on one host; `host_id` is null for fleet-wide ops)."""

    id: str
    host_id: str | None = None
    op: str
    agent_command: str | None = None
    status: CommandStatus
    terminal: bool
    success: bool = Field(description='Ended SUCCESS or PARTIAL.')
    actor: str | None = None
    pipeline_id: str | None = None
    stage: int | None = None
    forced: bool = False
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    code: str | None = None
    error: str | None = None
    message: str | None = None
    error_line: str | None = Field(None, description='The output line that says why a failed command failed.')
    progress: dict[str, Any] = Field(default_factory=dict)
    warn_at: str | None = None
    hard_at: str | None = None
    reconnect_deadline: str | None = None
    kill_requested: bool = False
    alert_dismissed: bool = False
    recovered: bool = False
    output_truncated: bool = Field(
        False, description='Part of its output was dropped over the output limits (the log says where and how much).'
    )


class CommandPage(BaseModel):
    """A page of commands, newest first."""

    commands: list[CommandOut]
    total: int = Field(description='Commands matching the filters (all pages).')
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description='Pass as `cursor` for the next page; null on the last page.')


class HostChange(BaseModel):
    """The result of a host op run through dispatch (`remove`, `set-color`)."""

    host_id: str
    command: CommandOut
    host: HostOut | None = Field(None, description='The host afterwards (null once removed).')


# -- ops and pipelines -----------------------------------------------------------------------------------------
class OpOut(View):
    """One op definition (docs/architecture.md#ops)."""

    id: str
    description: str
    executor: str
    agent_command: str | None = None
    warning_timeout: float | None = None
    hard_timeout: float
    retryable: bool
    requires_totp: bool
    completion: str
    scope: str


class PipelineDefOut(BaseModel):
    """One pipeline definition (docs/architecture.md#pipelines)."""

    id: str
    ops: list[str]
    description: str


class Catalog(BaseModel):
    """Every op and pipeline definition."""

    ops: list[OpOut]
    pipelines: list[PipelineDefOut]


class DispatchResultOut(BaseModel):
    """What happened for one host."""

    host_id: str | None
    status: Literal['started', 'blocked']
    command_id: str | None = None
    command_status: str | None = None
    code: str | None = Field(None, description='Why it was blocked (an ErrorCode).')
    message: str | None = None


class DispatchSummary(BaseModel):
    """Counts of a dispatch."""

    started: int
    blocked: int
    total: int


class DispatchOut(BaseModel):
    """The outcome of `POST /api/dispatch`: `success` when every host started, `partial`, or `failed`."""

    status: Literal['success', 'partial', 'failed']
    results: list[DispatchResultOut]
    summary: DispatchSummary


class StageCell(View):
    """One host's outcome of one stage, with its cause."""

    status: str = Field(description='The command status (SKIPPED with code `already_current`: the goal held).')
    code: str | None = Field(None, description='Refusal or result code, e.g. `host_offline`, `already_current`.')
    message: str = Field('', description='Why, in words (the message and the last error line of the output).')
    exit_code: int | None = None


class PipelineRunOut(View):
    """One pipeline run with per-host state and per-stage command statuses."""

    id: str
    name: str
    ops: list[str]
    hosts: list[str]
    status: PipelineStatus
    current_stage: int
    current_op: str | None = None
    actor: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    retry_of: str | None = None
    cancel_requested: bool = False
    message: str = ''
    host_state: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='host → {state: active | done | failed | cancelled | halted, stage}'
    )
    stages: list[dict[str, StageCell | None]] = Field(
        default_factory=list, description='Per stage: host → its outcome (null while the stage has not run there).'
    )
    waves: list[list[str]] = Field(
        default_factory=list,
        description='The hosts of each wave, in order (one wave '
        'of every host when the run does not roll out in waves).',
    )
    current_wave: int = 0
    gates: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Wave index → its gate: {hosts, state: checking | passed | failed, soak_until, failed: '
        '{host: why}, rolled_back: {host: status of the rollback}}',
    )
    rollbacks: dict[str, StageCell] = Field(
        default_factory=dict, description='host → the outcome of the rollback its failed gate sent'
    )


class PipelineStarted(BaseModel):
    """A pipeline run that was just started."""

    status: Literal['started']
    pipeline: PipelineRunOut


class PipelineList(BaseModel):
    """Pipeline runs, newest first."""

    pipelines: list[PipelineRunOut]


# -- events ----------------------------------------------------------------------------------------------------
class EventOut(View):
    """One event-log entry (docs/architecture.md#event-log)."""

    id: int
    timestamp: str
    category: str = Field(description='audit | system | error')
    level: str = Field(description='info | warn | error | success')
    actor: str | None = None
    host_id: str | None = None
    action: str | None = None
    message: str
    details: Any = None


class EventPage(BaseModel):
    """A page of events, newest first."""

    events: list[EventOut]
    total: int = Field(description='Events matching the filters (all pages).')
    limit: int
    offset: int
    next_cursor: str | None = Field(None, description='Pass as `cursor` for the next page; null on the last page.')


# -- paging and time filters -----------------------------------------------------------------------------------
def encode_cursor(*key: Any) -> str:
    """An opaque cursor for the position after the row with this sort key."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip('=')


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key inside a cursor (422 `invalid_request` when it was not made by `encode_cursor`)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + '=' * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        key = None
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, str | int) for k in key):
        raise ApiError(ErrorCode.INVALID_REQUEST, 'cursor: not a cursor from a previous page')
    return key


def check_paging(cursor: str | None, offset: int) -> None:
    """Refuse `cursor` together with an `offset`."""
    if cursor is not None and offset:
        raise ApiError(ErrorCode.INVALID_REQUEST, 'give either cursor or offset, not both')


#: What `since` / `until` accept: an ISO-8601 date or date-time, UTC unless an offset is given.
TIME_PATTERN = r'^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$'


def time_query(description: str) -> Any:
    """A `since`/`until` query parameter: an ISO-8601 date or date-time, UTC unless it has an offset."""
    return Query(pattern=TIME_PATTERN, max_length=40, description=f'{description} (ISO-8601; UTC unless an offset)')


def iso_param(name: str, value: str | None) -> str | None:
    """A time filter (matching TIME_PATTERN) as the stored UTC ISO form; 422 when it is no real time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    except (OverflowError, ValueError):
        raise ApiError(ErrorCode.INVALID_REQUEST, f'{name}: {value!r} is not a valid time') from None
    return moment.replace(tzinfo=None).isoformat(timespec='milliseconds') + 'Z'
