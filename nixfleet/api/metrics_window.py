"""Commands and pipeline runs that ended within the last hour, for `/metrics`: per-minute buckets, not the live state.

The live state keeps only some of the last hour's finished commands (nixfleet.streams.trim), so figures "of the last
hour" cannot be read from it. `FinishedWindow` counts each end once, in the minute it happened, from the state
stream's `command_finished` and terminal `pipeline_updated` changes (seeded from the journal at startup); a figure is
the sum of the minutes of the last hour (to the minute), and memory stays one small bucket per minute, however many
commands end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactivex.abc import DisposableBase
from sqlite_utils import Database

from nixfleet.journal.records import finished_since
from nixfleet.models import TERMINAL
from nixfleet.streams.changes import ChangeType, VersionedChange
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso, parse_iso

#: Op duration buckets (seconds): a pull takes seconds, a switch can take half an hour.
DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
#: The window (seconds) and its resolution (seconds per bucket).
WINDOW = 3600.0
MINUTE = 60


def duration(command: Mapping[str, Any]) -> float | None:
    """Seconds from a command's start (or creation) to its end, if it has both."""
    finished = parse_iso(command.get('finished_at'))
    started = parse_iso(command.get('started_at')) or parse_iso(command.get('created_at'))
    if finished is None or started is None or finished < started:
        return None
    return finished - started


@dataclass(slots=True)
class Histogram:
    """Counts of durations at or below each bound of `DURATION_BUCKETS`, their sum and their number."""

    le: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    total: float = 0.0
    count: int = 0

    def add(self, seconds: float) -> None:
        """Count one duration."""
        for i, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.le[i] += 1
        self.total += seconds
        self.count += 1

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        self.le = [a + b for a, b in zip(self.le, other.le, strict=True)]
        self.total += other.total
        self.count += other.count


@dataclass(slots=True)
class Minute:
    """What ended in one minute."""

    commands: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (op, status) → count
    durations: dict[str, Histogram] = field(default_factory=dict)  #: op → durations
    pipelines: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (name, status) → count
    pipeline_ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Totals:
    """The sums over the window."""

    commands: Counter[tuple[str, str]]
    durations: dict[str, Histogram]
    pipelines: Counter[tuple[str, str]]


class FinishedWindow:
    """Ends of commands and pipeline runs within the last hour, in per-minute buckets."""

    def __init__(self, clock: Clock, window: float = WINDOW) -> None:
        self._clock = clock
        self.window = window
        self._minutes: dict[int, Minute] = {}
        self._subscription: DisposableBase | None = None

    # -- feeding -------------------------------------------------------------------------------------------------
    def _minute(self, ended: str | None) -> Minute | None:
        at = parse_iso(ended)
        if at is None or (key := int(at // MINUTE)) < self._first():
            return None
        self._expire()
        return self._minutes.setdefault(key, Minute())

    def add_command(self, command: Mapping[str, Any]) -> None:
        """Count a command that ended (its `finished_at` says when)."""
        status = str(command.get('status') or '')
        if status not in TERMINAL or (minute := self._minute(command.get('finished_at'))) is None:
            return
        op = str(command.get('op') or 'unknown')
        minute.commands[op, status] += 1
        if (seconds := duration(command)) is not None:
            minute.durations.setdefault(op, Histogram()).add(seconds)

    def add_pipeline(self, run: Mapping[str, Any]) -> None:
        """Count a pipeline run that ended (once per run)."""
        status, run_id = str(run.get('status') or 'RUNNING'), str(run.get('id') or '')
        if status == 'RUNNING' or any(run_id in m.pipeline_ids for m in self._minutes.values()):
            return
        if (minute := self._minute(run.get('finished_at'))) is not None:
            minute.pipelines[str(run.get('name') or 'unknown'), status] += 1
            minute.pipeline_ids.add(run_id)

    def load(self, db: Database) -> None:
        """Seed the window from the journal (startup; replaces what was counted)."""
        self._minutes = {}
        since = iso(self._clock() - self.window)
        commands, runs = finished_since(db, since)
        for row in commands:
            self.add_command(row)
        for row in runs:
            self.add_pipeline(row)

    def follow(self, stream: FleetStateStream) -> None:
        """Count every end the state stream announces from now on (until `stop`)."""
        if self._subscription is None:
            _, self._subscription = stream.snapshot_and_subscribe(self._on_delta)

    def _on_delta(self, item: VersionedChange) -> None:
        change = item.change
        if change.type is ChangeType.COMMAND_FINISHED and change.fields:
            self.add_command(change.fields)
        elif change.type is ChangeType.PIPELINE_UPDATED and change.payload:
            self.add_pipeline(change.payload)

    def stop(self) -> None:
        """Stop following the stream."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None

    # -- reading -------------------------------------------------------------------------------------------------
    def _expire(self) -> None:
        first = self._first()
        for key in [k for k in self._minutes if k < first]:
            del self._minutes[key]

    def _first(self) -> int:
        """The oldest minute inside the window (the one holding `now - window`)."""
        return int((self._clock() - self.window) // MINUTE)

    def _live(self) -> Iterator[Minute]:
        first = self._first()
        return (m for k, m in self._minutes.items() if k >= first)

    def totals(self) -> Totals:
        """Sums over the minutes of the last hour."""
        self._expire()
        totals = Totals(Counter(), {}, Counter())
        for minute in self._live():
            totals.commands.update(minute.commands)
            totals.pipelines.update(minute.pipelines)
            for op, histogram in minute.durations.items():
                totals.durations.setdefault(op, Histogram()).merge(histogram)
        return totals
