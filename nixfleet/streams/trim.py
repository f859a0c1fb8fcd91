"""Keep the live state bounded (docs/architecture.md#live-state-bounds): finished commands and pipelines leave it after
an hour or beyond a count.

The live state holds every active command and running pipeline, plus the finished ones of the last hour, at most
`commands` finished commands and `pipelines` finished runs (the newest; commands of a running pipeline stay until the
run ends, its grid shows them). What leaves goes in one versioned `pruned` change, so every client — a tab, an
`/api/sync` mirror — drops exactly what the server dropped; History and the API still read it from SQLite.

`StateTrimmer.trim` runs from a periodic job (the hour passes on the injectable clock) and, when more finished items
than the limit have piled up, from a task started by the state stream (a subscriber must not emit while a change is
being published). A trim that fires keeps 10 % below the limit, so a steady stream of finishes costs one `pruned`
change per tenth of the limit, not one per command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reactivex.abc import DisposableBase

from nixfleet.models import TERMINAL
from nixfleet.streams.changes import Change, ChangeType, VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream, without
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: Finished commands and pipelines younger than this many seconds may stay in the live state
#: (docs/architecture.md#live-state-bounds).
WINDOW = 3600.0
#: How often the periodic trim runs (seconds).
INTERVAL = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How many finished commands and pipeline runs the live state keeps at most."""

    commands: int
    pipelines: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Ids of the finished commands and pipelines to drop, and how many finished commands stay (unprotected)."""

    commands: list[str]
    pipelines: list[str]
    commands_kept: int = 0

    def __bool__(self) -> bool:
        return bool(self.commands or self.pipelines)


def _finished_at(item: Mapping[str, Any]) -> tuple[str, str]:
    return (str(item.get('finished_at') or ''), str(item.get('id') or ''))


def _overflow(finished: list[tuple[str, Mapping[str, Any]]], cutoff: str, limit: int) -> list[str]:
    """Ids of the items ended before `cutoff`, and of the oldest beyond `limit` (down to 90 % of it)."""
    old = [key for key, item in finished if (item.get('finished_at') or '') < cutoff]
    young = [(key, item) for key, item in finished if (item.get('finished_at') or '') >= cutoff]
    if len(young) > limit:
        young.sort(key=lambda pair: _finished_at(pair[1]))
        keep = max(0, limit - limit // 10)
        old.extend(key for key, _ in young[: len(young) - keep])
    return old


def plan(state: FleetState, now: float, limits: Limits, window: float = WINDOW) -> Plan:
    """What to drop from `state` at `now`: finished items older than `window`, and the oldest beyond the limits."""
    cutoff = iso(now - window)
    ended = [(k, p) for k, p in state.pipelines.items() if p.get('status') != 'RUNNING']
    pipelines = _overflow(ended, cutoff, limits.pipelines)
    running = {k for k, p in state.pipelines.items() if p.get('status') == 'RUNNING'}
    finished = [
        (k, c) for k, c in state.commands.items() if c.get('status') in TERMINAL and c.get('pipeline_id') not in running
    ]
    commands = _overflow(finished, cutoff, limits.commands)
    return Plan(commands, pipelines, len(finished) - len(commands))


class StateTrimmer:
    """Drop finished commands and pipelines from the live state with one `pruned` change per trim."""

    def __init__(self, stream: FleetStateStream, clock: Clock, limits: Limits, window: float = WINDOW) -> None:
        self._stream = stream
        self._clock = clock
        self.limits = limits
        self.window = window
        self._finished = 0  #: finished commands in the state (unprotected) at the last trim, plus those since
        self._subscription: DisposableBase | None = None
        self._task: asyncio.Task[None] | None = None

    def quietly(self, state: FleetState) -> FleetState:
        """`state` trimmed without a change (startup, before any client has seen it)."""
        found = plan(state, self._clock(), self.limits, self.window)
        self._finished = found.commands_kept
        if not found:
            return state
        return without(state, found.commands, found.pipelines)

    def trim(self) -> Plan:
        """Emit one `pruned` change for what has to go now (nothing when nothing has); return the plan."""
        found = plan(self._stream.value, self._clock(), self.limits, self.window)
        self._finished = found.commands_kept
        if found:
            self._stream.emit(
                Change(ChangeType.PRUNED, payload={'commands': found.commands, 'pipelines': found.pipelines})
            )
            log.debug('live state trimmed: %d commands, %d pipelines', len(found.commands), len(found.pipelines))
        return found

    async def job(self) -> None:
        """The periodic trim (scheduler job)."""
        self.trim()

    # -- the count trigger ---------------------------------------------------------------------------------------
    def follow(self) -> None:
        """Trim soon whenever finished items exceed a limit (until `stop`)."""
        if self._subscription is None:
            _, self._subscription = self._stream.snapshot_and_subscribe(self._on_delta)

    def _on_delta(self, item: VersionedChange) -> None:
        change = item.change
        if change.type is ChangeType.COMMAND_FINISHED:
            self._finished += 1
            over = self._finished > self.limits.commands
        elif change.type is ChangeType.PIPELINE_UPDATED:
            over = (change.payload or {}).get('status') not in (None, 'RUNNING')  # its commands are free now
        else:
            return
        if over and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._soon(), name='state-trim')

    async def _soon(self) -> None:
        try:
            self.trim()
        except Exception:
            log.exception('trimming the live state failed; the periodic job tries again')

    async def stop(self) -> None:
        """Stop following the stream and finish a trim under way."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
