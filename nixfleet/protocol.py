"""Agent wire protocol: the `{type, payload}` envelope spoken by the Go agent 3.1.5 and our Python agent.

The shapes follow docs/agent-protocol.md#messages. Agent → dashboard messages are validated here, at the
boundary; everything past `parse_agent_frame` works with typed models only.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

#: WebSocket close code of a link closed for a policy reason (e.g. its token was revoked).
CLOSE_POLICY = 1008
#: The token may not register the host its agent named (HTTP 403 Forbidden, in the private close-code range).
CLOSE_FORBIDDEN = 4403

#: Commands the dashboard may send to an agent (docs/agent-protocol.md#command-vocabulary). Nothing else is ever sent.
AGENT_COMMANDS: frozenset[str] = frozenset(
    {
        'pull',
        'switch',
        'pull-switch',
        'test',
        'rollback',
        'update',
        'refresh-git',
        'refresh-lock',
        'refresh-system',
        'refresh-all',
        'force-update',
        'check-version',
        'stop',
        'restart',
        'reboot',
    }
)

#: Hostnames as the agent reports them: an RFC 1123 label (the agent cuts the FQDN at the first dot).
#: `\Z`, not `$`: `$` also matches before a trailing newline, which would let `"web\n"` in as a second host.
HOSTNAME_RE = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})\Z')


class _Lenient(BaseModel):
    """Base for wire payloads: unknown fields are ignored, as the agent ignores ours.

    NaN and infinities are refused: Go's encoder never produces them, and they are not valid JSON for the
    database copy (`metrics_json`) or the browser.
    """

    model_config = ConfigDict(extra='ignore', frozen=True, allow_inf_nan=False)


class CompartmentReport(_Lenient):
    """One compartment as the agent reports it in `update_status` (empty strings when unset)."""

    status: str = ''
    message: str = ''
    checked_at: str = ''


class UpdateStatus(_Lenient):
    """The agent's own view of its compartments; `git` is always empty and ignored."""

    git: CompartmentReport | None = None
    lock: CompartmentReport | None = None
    system: CompartmentReport | None = None
    tests: CompartmentReport | None = None


class Metrics(_Lenient):
    """StaSysMo metrics: percentages and load average."""

    cpu: float = 0.0
    ram: float = 0.0
    swap: float = 0.0
    load: float = 0.0


class RegisterPayload(_Lenient):
    """First frame on every agent connection."""

    hostname: str
    host_type: str = 'nixos'
    agent_version: str = ''
    agent_impl: str = 'go'
    os_version: str = ''
    nixpkgs_version: str = ''
    generation: str = ''
    theme_color: str = ''
    heartbeat_interval: int = Field(default=5, ge=1, le=3600)
    location: str = 'home'
    device_type: str = 'desktop'
    repo_url: str = ''
    repo_dir: str = ''
    source_commit: str = ''
    store_path: str = ''
    binary_hash: str = ''

    @field_validator('hostname')
    @classmethod
    def _valid_hostname(cls, value: str) -> str:
        if not HOSTNAME_RE.match(value):
            raise ValueError('hostname must be a non-empty RFC 1123 label (letters, digits, - and _)')
        return value

    @field_validator('location', 'device_type')
    @classmethod
    def _default_when_empty(cls, value: str, info: Any) -> str:
        return value or {'location': 'home', 'device_type': 'desktop'}[info.field_name]


class HeartbeatPayload(_Lenient):
    """Periodic liveness and state report."""

    generation: str = ''
    nixpkgs_version: str = ''
    pending_command: str | None = None
    command_pid: int | None = None
    metrics: Metrics | None = None
    update_status: UpdateStatus | None = None
    source_commit: str = ''
    store_path: str = ''
    binary_hash: str = ''
    lock_hash: str | None = None


class OutputPayload(_Lenient):
    """One line of a running command's output (`command` is always empty from the Go agent)."""

    line: str = ''
    stream: str = 'stdout'
    command: str = ''
    is_error: bool = False


class StatusPayload(_Lenient):
    """The single completion message of a command."""

    status: str
    command: str = ''
    exit_code: int = 0
    message: str = ''
    generation: str = ''


class CommandRejectedPayload(_Lenient):
    """The agent refused a command because another one runs."""

    reason: str = ''
    current_command: str = ''
    current_pid: int | None = None


class ProgressPhase(_Lenient):
    """One phase of `operation_progress` (start and end states only)."""

    current: int = 0
    total: int = 0
    status: str = ''


class OperationProgressPayload(_Lenient):
    """Progress of a running pull/switch/test, one phase key per message."""

    progress: dict[str, ProgressPhase] = Field(default_factory=dict)


class Register(_Lenient):
    type: Literal['register']
    payload: RegisterPayload


class Heartbeat(_Lenient):
    type: Literal['heartbeat']
    payload: HeartbeatPayload


class Output(_Lenient):
    type: Literal['output']
    payload: OutputPayload


class Status(_Lenient):
    type: Literal['status', 'command_complete']
    payload: StatusPayload


class CommandRejected(_Lenient):
    type: Literal['command_rejected']
    payload: CommandRejectedPayload


class OperationProgress(_Lenient):
    type: Literal['operation_progress']
    payload: OperationProgressPayload


class TestProgress(_Lenient):
    """Defined by the protocol but never sent by the Go agent; accepted and ignored."""

    type: Literal['test_progress']
    payload: dict[str, Any] = Field(default_factory=dict)


AgentMessage = Annotated[
    Register | Heartbeat | Output | Status | CommandRejected | OperationProgress | TestProgress,
    Field(discriminator='type'),
]
_AGENT_MESSAGE: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)


class FrameError(ValueError):
    """A frame from an agent that cannot be used; `kind` is a short stable label for counting."""

    def __init__(self, kind: str, detail: str, mtype: str | None = None) -> None:
        super().__init__(f'{kind}: {detail}')
        self.kind = kind
        self.detail = detail
        self.mtype = mtype


def parse_agent_frame(raw: str | bytes) -> AgentMessage:
    """Parse one text or binary frame into a typed message, or raise FrameError.

    A good frame is parsed and validated in one step by pydantic's JSON parser; a frame it refuses is parsed again
    step by step to say what is wrong with it (and what the step-by-step parse accepts is accepted).
    """
    try:
        return _AGENT_MESSAGE.validate_json(raw)
    except ValidationError:
        pass
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise FrameError('malformed_json', str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise FrameError('not_an_object', type(data).__name__)
    mtype = data.get('type')
    if not isinstance(mtype, str):
        raise FrameError('missing_type', 'frame has no string "type"')
    if mtype not in _KNOWN_TYPES:
        raise FrameError('unknown_type', mtype[:64])
    try:
        return _AGENT_MESSAGE.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = '.'.join(str(p) for p in first.get('loc', ()))
        raise FrameError('invalid_payload', f'{mtype}: {where}: {first.get("msg", "invalid")}', mtype) from None


_KNOWN_TYPES = frozenset(
    {
        'register',
        'heartbeat',
        'output',
        'status',
        'command_complete',
        'command_rejected',
        'operation_progress',
        'test_progress',
    }
)


def encode(mtype: str, payload: dict[str, Any] | None = None) -> str:
    """Serialize one dashboard → agent (or agent → dashboard) message as a text frame."""
    return json.dumps({'type': mtype, 'payload': payload if payload is not None else {}}, separators=(',', ':'))


def registered(hostname: str) -> str:
    """The reply to `register`: always an object payload, or the Go agent never heartbeats."""
    return encode('registered', {'host_id': hostname})


def command(name: str) -> str:
    """A command frame; only the canonical vocabulary may be sent."""
    if name not in AGENT_COMMANDS:
        raise ValueError(f'not an agent command: {name!r}')
    return encode('command', {'command': name})


def kill_command(signal: Literal['SIGTERM', 'SIGKILL']) -> str:
    """Ask the agent to signal the running command's process group."""
    return encode('kill_command', {'signal': signal, 'pid': 0})
