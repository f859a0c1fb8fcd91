"""What a journal listing may be narrowed by: every filter the API, the CLI and the History view offer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nixfleet.journal.query import Where


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandFilter:
    """Which commands to list (None or empty: any)."""

    host: str | None = None
    op: str | None = None
    statuses: Sequence[str] = ()
    pipeline: str | None = None
    since: str | None = None  #: created at or after (UTC ISO)
    until: str | None = None  #: created before (UTC ISO)

    def where(self) -> Where:
        """The filter as SQL clauses on the `commands` table."""
        where = Where().equals('host_id', self.host).equals('op', self.op).equals('pipeline_id', self.pipeline)
        return where.among('status', list(self.statuses)).between('created_at', self.since, self.until)


def _escape_like(text: str) -> str:
    return text.replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Which events to list (None or empty: any)."""

    host: str | None = None
    actor: str | None = None
    categories: Sequence[str] = ()
    levels: Sequence[str] = ()
    #: this action, e.g. `op:pull`; a trailing `*` matches a prefix (`op:*`)
    action: str | None = None
    #: the events of an op or pipeline: the actions `op:<op>` and `pipeline:<op>`
    op: str | None = None
    since: str | None = None  #: at or after (UTC ISO)
    until: str | None = None  #: before (UTC ISO)

    def where(self) -> Where:
        """The filter as SQL clauses on the `event_log` table."""
        where = Where().equals('host_id', self.host).equals('actor', self.actor)
        where.among('category', list(self.categories)).among('level', list(self.levels))
        if self.action is not None and self.action.endswith('*'):
            where.add("action LIKE ? ESCAPE '\\'", _escape_like(self.action[:-1]) + '%')
        else:
            where.equals('action', self.action)
        if self.op is not None:
            where.add('action IN (?, ?)', f'op:{self.op}', f'pipeline:{self.op}')
        return where.between('timestamp', self.since, self.until)
