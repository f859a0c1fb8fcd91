"""The values of the compartment rules: a host's five compartments, their inputs, and the remote desired state."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nixfleet.models import CompartmentStatus as S
from nixfleet.timeutil import iso, parse_iso

NAMES = ('agent', 'git', 'lock', 'system', 'tests')
#: Longest piece of agent-supplied text quoted in a message.
MAX_MESSAGE = 200
_AGENT_COMMAND_OPS = {'update': 'bump-flake', 'force-update': 'force-rebuild'}


# -- values -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Compartment:
    """One compartment: status, a human sentence, an optional hint, and the op a click should dispatch."""

    status: S
    message: str
    hint: str | None = None
    action: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """JSON form: `{status, message, hint, action}`."""
        return {'status': self.status.value, 'message': self.message, 'hint': self.hint, 'action': self.action}


@dataclass(frozen=True, slots=True, kw_only=True)
class Compartments:
    """The five compartments of one host, in display order."""

    agent: Compartment
    git: Compartment
    lock: Compartment
    system: Compartment
    tests: Compartment

    def to_wire(self) -> dict[str, dict[str, Any]]:
        """JSON form: `{agent: {...}, git: {...}, lock: {...}, system: {...}, tests: {...}}`."""
        return {name: getattr(self, name).to_wire() for name in NAMES}

    def statuses(self) -> dict[str, str]:
        """`{name: status}` for the five compartments."""
        return {name: getattr(self, name).status.value for name in NAMES}


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionInfo:
    """One parsed version.json; `problems` names each unusable field and why (missing, wrong type, ...)."""

    git_commit: str | None = None
    lock_hash: str | None = None
    message: str = ''
    branch: str = ''
    timestamp: str = ''
    repo: str = ''
    #: `agentVersion`: the agent version per implementation (`versions.EVERY_IMPL` when one string names all).
    agent_versions: Mapping[str, str] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteDesired:
    """The remote desired state: the last good version.json and, while fetching fails, why."""

    version: VersionInfo | None = None  #: the last good fetch (kept while later fetches fail)
    error: str | None = None  #: why the last fetch failed; None after a success
    fetched_at: float | None = None  #: time of the last successful fetch
    checked_at: float | None = None  #: time of the last attempt


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """A compartment as the agent last reported it in a heartbeat, with the time the dashboard received it."""

    status: str
    message: str = ''
    at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """The dashboard's own record of a command result, scoped to the generation it was made on."""

    status: S
    message: str
    generation: str = ''
    op: str = ''
    at: float = 0.0

    def to_json(self) -> str:
        """Stored form (a JSON object with an ISO time)."""
        return json.dumps(
            {'status': self.status.value, 'message': self.message, 'generation': self.generation, 'op': self.op,
             'at': iso(self.at)},
            sort_keys=True,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str | None) -> Record | None:
        """Parse the stored form; None when absent or unreadable."""
        data = json_object(text)
        try:
            return cls(
                status=S(data['status']),
                message=str(data.get('message') or ''),
                generation=str(data.get('generation') or ''),
                op=str(data.get('op') or ''),
                at=parse_iso(data.get('at')) or 0.0,
            )
        except (KeyError, ValueError, TypeError):
            return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostInputs:
    """Everything the compartments of one host depend on, apart from the remote state and expected version."""

    agent_version: str = ''
    agent_impl: str = 'go'
    generation: str = ''
    lock_hash: str = ''
    active_op: str | None = None  #: the op of the host's active command (from the lifecycle), if any
    lock_report: Report | None = None
    system_report: Report | None = None
    tests_report: Report | None = None
    system_record: Record | None = None
    tests_record: Record | None = None
    tests_generation: str = ''  #: generation the (Go dashboard's) tests report was scoped to, when no record exists
    command_ended_at: float | None = None  #: when the host's last command ended (None: none known)


def canonical_op(op: str | None) -> str | None:
    """Map an agent command name to its op id (`update` → `bump-flake`); op ids pass through."""
    return _AGENT_COMMAND_OPS.get(op, op) if op else None


# -- helpers ------------------------------------------------------------------------------------------------------
def json_object(text: Any) -> dict[str, Any]:
    """The JSON object stored in `text`; `{}` when absent, unreadable or not an object."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def as_str(value: Any) -> str:
    """`value` when it is a string, else `''`."""
    return value if isinstance(value, str) else ''


def show(value: str, limit: int = 24) -> str:
    """Shorten an untrusted value for a message."""
    value = value.replace('\n', ' ')
    return value if len(value) <= limit else value[: limit - 1] + '…'
