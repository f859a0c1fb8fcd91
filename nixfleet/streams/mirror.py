"""The client side of the sync protocol: a local copy of the fleet state that knows when it must resync.

Used by anything that follows `/api/sync` from outside the process (the CLI, tests). It applies `init` /
`full_state` wholesale, applies a `delta` only when its version is exactly the next one, and asks for a resync
on a gap, on a `sync` beacon that differs from its version, or when the server's version is lower than its own
(the server restarted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetState, reduce


class Verdict(StrEnum):
    """What the mirror did with a message."""

    APPLIED = 'applied'
    IGNORED = 'ignored'
    RESYNC = 'resync'  #: the caller must send `get_state`


def change_from_wire(wire: dict[str, Any]) -> Change:
    """Rebuild a Change from its JSON form."""
    return Change(
        ChangeType(wire['type']),
        id=wire.get('id'),
        fields=wire.get('fields'),
        payload=wire.get('payload'),
        fleet=wire.get('fleet'),
    )


def state_from_wire(state: dict[str, Any], version: int) -> FleetState:
    """Rebuild a FleetState from an `init` / `full_state` payload."""
    return FleetState(
        version=version,
        hosts={h['id']: h for h in state.get('hosts', [])},
        commands={c['id']: c for c in state.get('commands', [])},
        pipelines={p['id']: p for p in state.get('pipelines', [])},
        events=tuple(state.get('events', [])),
        fleet=state.get('fleet', {}),
    )


@dataclass(slots=True)
class StateMirror:
    """A client's copy of the state plus the counters a connection indicator shows."""

    state: FleetState | None = None
    resyncs: int = 0
    gaps: int = 0
    awaiting_state: bool = False
    history: list[str] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        """Version of the local copy (None before the first `init`)."""
        return None if self.state is None else self.state.version

    def load(self, state: FleetState) -> Verdict:
        """Replace the local copy with a full snapshot (`init`, `full_state`, or an in-process snapshot)."""
        if self.state is not None:
            self.resyncs += 1
        self.state = state
        self.awaiting_state = False
        return Verdict.APPLIED

    def delta(self, change: Change, version: int) -> Verdict:
        """Apply one versioned change, or ask for a resync when it does not follow the local version."""
        if self.state is None or self.awaiting_state:
            return Verdict.IGNORED
        if version <= self.state.version:
            return Verdict.IGNORED  # already applied; a server whose version fell behind is caught by the beacon
        if version != self.state.version + 1:
            self.gaps += 1
            return self._resync(f'gap: have {self.state.version}, got {version}')
        self.state = reduce(self.state, change, version)
        return Verdict.APPLIED

    def beacon(self, version: int) -> Verdict:
        """Check a `sync` beacon against the local version."""
        if self.state is None or self.awaiting_state or version == self.state.version:
            return Verdict.IGNORED
        return self._resync(f'beacon {version} != local {self.state.version}')

    def _resync(self, why: str) -> Verdict:
        self.awaiting_state = True
        self.history.append(why)
        return Verdict.RESYNC

    def message(self, msg: dict[str, Any]) -> Verdict:
        """Handle one decoded sync message."""
        mtype = msg.get('type')
        version = msg.get('version')
        if not isinstance(version, int):
            return Verdict.IGNORED
        payload = msg.get('payload') or {}
        if mtype in ('init', 'full_state'):
            return self.load(state_from_wire(payload.get('state', {}), version))
        if mtype == 'delta':
            return self.delta(change_from_wire(payload.get('change', payload)), version)
        if mtype == 'sync':
            return self.beacon(version)
        return Verdict.IGNORED
