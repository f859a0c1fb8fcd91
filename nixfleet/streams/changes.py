"""Typed changes to the fleet state (docs/architecture.md#state-versions): the only thing that moves the state
version."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ChangeType(StrEnum):
    """Kinds of change a client can receive in a `delta`."""

    HOST_ADDED = 'host_added'  #: payload = the whole host
    HOST_UPDATED = 'host_updated'  #: fields = changed host fields (with every derived field)
    HOST_REMOVED = 'host_removed'
    COMMAND_STARTED = 'command_started'  #: payload = the whole command
    COMMAND_UPDATED = 'command_updated'  #: fields = changed command fields
    COMMAND_OUTPUT = 'command_output'  #: payload = {lines: [...]} appended to the command's output
    COMMAND_FINISHED = 'command_finished'  #: fields = final command fields
    PIPELINE_UPDATED = 'pipeline_updated'  #: payload = the whole pipeline
    EVENT = 'event'  #: payload = one event-log entry
    FLEET_UPDATED = 'fleet_updated'  #: fields = fleet-wide facts (counts, remote desired state)
    #: payload = {commands: [ids], pipelines: [ids]}: finished ones that left the live state (still in History/API)
    PRUNED = 'pruned'


@dataclass(frozen=True, slots=True)
class Change:
    """One typed change; `id` names the host, command or pipeline it touches.

    `fleet` holds the fleet-wide fields the change moved with it (the host `counts` when a host was added, removed
    or changed its connection), so a client applies them with the change and never recomputes them.
    """

    type: ChangeType
    id: str | int | None = None
    fields: dict[str, Any] | None = None
    payload: Any = None
    fleet: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-ready form sent to sync clients."""
        wire: dict[str, Any] = {'type': self.type.value}
        if self.id is not None:
            wire['id'] = self.id
        if self.fields is not None:
            wire['fields'] = self.fields
        if self.payload is not None:
            wire['payload'] = self.payload
        if self.fleet is not None:
            wire['fleet'] = self.fleet
        return wire


@dataclass(frozen=True, slots=True)
class VersionedChange:
    """A change stamped with the state version it produced."""

    version: int
    change: Change
