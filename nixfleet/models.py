"""Domain enums and small value types shared by every layer (one definition each)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Connection(StrEnum):
    """Liveness of a host's agent link (docs/architecture.md#hosts-and-liveness)."""

    ONLINE = 'online'  #: registered link open, heartbeats arriving
    STALE = 'stale'  #: link open, no heartbeat for 3 intervals
    OFFLINE = 'offline'  #: no link


class CommandStatus(StrEnum):
    """States of one command (docs/architecture.md#commands-lifecycle)."""

    PENDING = 'PENDING'
    VALIDATING = 'VALIDATING'
    EXECUTING = 'EXECUTING'
    RUNNING_WARNING = 'RUNNING_WARNING'
    TIMEOUT_PENDING = 'TIMEOUT_PENDING'
    AWAITING_RECONNECT = 'AWAITING_RECONNECT'
    SUCCESS = 'SUCCESS'
    PARTIAL = 'PARTIAL'
    ERROR = 'ERROR'
    TIMEOUT = 'TIMEOUT'
    BLOCKED = 'BLOCKED'
    SKIPPED = 'SKIPPED'
    CANCELLED = 'CANCELLED'
    KILLED = 'KILLED'
    STALE_BINARY = 'STALE_BINARY'
    SUSPICIOUS = 'SUSPICIOUS'
    ORPHANED = 'ORPHANED'


#: The one definition of "this command has ended".
TERMINAL: frozenset[CommandStatus] = frozenset(
    {
        CommandStatus.SUCCESS,
        CommandStatus.PARTIAL,
        CommandStatus.ERROR,
        CommandStatus.TIMEOUT,
        CommandStatus.BLOCKED,
        CommandStatus.SKIPPED,
        CommandStatus.CANCELLED,
        CommandStatus.KILLED,
        CommandStatus.STALE_BINARY,
        CommandStatus.SUSPICIOUS,
        CommandStatus.ORPHANED,
    }
)
#: Ended states that say nothing about the host: the command never ran there (refused, skipped) or its end is
#: unknown (tracking cancelled). A host's last outcome (`last_outcome` of its view) passes over them.
NOT_RUN: frozenset[CommandStatus] = frozenset({CommandStatus.BLOCKED, CommandStatus.SKIPPED, CommandStatus.CANCELLED})


class PipelineStatus(StrEnum):
    """States of one pipeline run (docs/architecture.md#pipelines)."""

    RUNNING = 'RUNNING'
    COMPLETE = 'COMPLETE'
    PARTIAL = 'PARTIAL'
    FAILED = 'FAILED'
    CANCELLED = 'CANCELLED'
    #: A rollout stopped before its next wave because a wave failed its gate (nixfleet.ops.rollout).
    HALTED = 'HALTED'


class ErrorCode(StrEnum):
    """Stable codes for refused requests, shared by dispatch, API and UI."""

    HOST_OFFLINE = 'host_offline'
    HOST_STALE = 'host_stale'
    HOST_ONLINE = 'host_online'
    COMMAND_PENDING = 'command_pending'
    UNKNOWN_OP = 'unknown_op'
    UNKNOWN_HOST = 'unknown_host'
    UNKNOWN_PIPELINE = 'unknown_pipeline'
    UNKNOWN_COMMAND = 'unknown_command'
    UNKNOWN_TOKEN = 'unknown_token'  #: no agent or API token with that id
    TOKEN_EXISTS = 'token_exists'  #: an active API token already has that name
    TOTP_REQUIRED = 'totp_required'
    TOTP_INVALID = 'totp_invalid'
    ALREADY_CURRENT = 'already_current'
    GIT_OUTDATED = 'git_outdated'
    LOCK_OUTDATED = 'lock_outdated'
    GOAL_NOT_ACHIEVED = 'goal_not_achieved'
    AGENT_WARNING = 'agent_warning'  #: the agent ended the command with `status warning` (e.g. version mismatch)
    NO_MERGEABLE_PR = 'no_mergeable_pr'
    INVALID_COLOR = 'invalid_color'
    INVALID_REQUEST = 'invalid_request'
    MALFORMED_REQUEST = 'malformed_request'  #: not valid HTTP (e.g. a control character in a header); 400
    UNAUTHORIZED = 'unauthorized'
    FORBIDDEN = 'forbidden'
    RATE_LIMITED = 'rate_limited'
    NOT_FOUND = 'not_found'
    METHOD_NOT_ALLOWED = 'method_not_allowed'  #: the `/api` path exists, but not with this method
    NOT_CONFIGURED = 'not_configured'  #: the integration an op needs (version.json, GitHub, TOTP) is not set up
    INVALID_STATE = 'invalid_state'  #: the command is not in a state that allows the requested action
    AGENT_UNREACHABLE = 'agent_unreachable'  #: the command could not be sent to the agent


@dataclass(frozen=True, slots=True)
class Blocked:
    """Why an op may not run (or did not achieve its goal): a stable code and a human sentence."""

    code: ErrorCode
    message: str


class EventCategory(StrEnum):
    """Event-log categories (docs/architecture.md#event-log)."""

    AUDIT = 'audit'
    SYSTEM = 'system'
    ERROR = 'error'


class EventLevel(StrEnum):
    """Event-log levels (docs/architecture.md#event-log)."""

    INFO = 'info'
    WARN = 'warn'
    ERROR = 'error'
    SUCCESS = 'success'


#: Theme colours when the agent sends none (Tokyo Night blue; purple for macOS), as upstream.
DEFAULT_COLOR = '#7aa2f7'
DEFAULT_COLOR_MACOS = '#bb9af7'
#: A theme colour as the dashboard takes it, from anywhere: `#rgb` or `#rrggbb` and nothing else (it is put into CSS).
_COLOR = re.compile(r'#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})')


def is_color(value: object) -> bool:
    """Whether `value` is a theme colour (`#rgb`/`#rrggbb`; no trailing text, no other CSS)."""
    return isinstance(value, str) and _COLOR.fullmatch(value) is not None


class CompartmentStatus(StrEnum):
    """Status of one of a host's five compartments (docs/architecture.md#compartments)."""

    OK = 'ok'  #: current vs the remote desired state
    OUTDATED = 'outdated'  #: action needed, or verification degraded
    ERROR = 'error'  #: a real problem, including a failing remote fetch
    WORKING = 'working'  #: an operation is in progress
    UNKNOWN = 'unknown'  #: warm-up, no signal, or not configured
