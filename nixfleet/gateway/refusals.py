"""Refused agent connections, journaled per source and token kind without letting a flood through (issue 15 item 7).

Every refusal — a bad or missing token at the upgrade, a token that may not register the host it names, an unusable
register — is counted per source (the client address, IPv6 per /64) and token kind (none, shared, agent, API). The
first refusal of a source and kind is journaled and logged at once, with its reason; later ones are only counted, and
when the window (an hour) ends one summary says how many there were: "12 refused agent connections from 10.0.0.7 in
the last hour". A source that stays quiet for a whole window is forgotten, so its next refusal is news again.

At most `MAX_SOURCES` sources are tracked at once; refusals from further sources are counted together as "other
sources". So whatever arrives, each window adds at most two events and two log lines per tracked source and kind,
and memory stays bounded. Windows end on the injectable clock: `flush` (the dashboard's tick) closes them.
Nothing here ever sees a token: a refusal carries its kind only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nixfleet.events import EventLog
from nixfleet.models import EventLevel
from nixfleet.security.tokens import TokenKind, kind_of
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: Event-log action of refused agent connections (first refusals and summaries).
ACTION = 'agent_refused'
#: Seconds a window lasts: refusals within it are summarised in one event at its end.
WINDOW = 3600.0
#: Sources tracked one by one at most; refusals from others are counted together.
MAX_SOURCES = 64
#: The source name of the refusals counted together once MAX_SOURCES are tracked.
OTHER_SOURCES = 'other sources'


class CredentialKind(StrEnum):
    """What an agent connection presented: no token, the shared token (or a guess at it), an agent or API token."""

    NONE = 'none'
    SHARED = 'shared'
    AGENT = 'agent'
    API = 'api'

    @classmethod
    def of(cls, token: str) -> CredentialKind:
        """The kind of a presented bearer token (empty: none), from its marker; never looks further into it."""
        if not token:
            return cls.NONE
        kind = kind_of(token)
        return cls.SHARED if kind is None else cls.AGENT if kind is TokenKind.AGENT else cls.API

    @property
    def label(self) -> str:
        """Human name of the kind."""
        return {'none': 'no token', 'shared': 'shared token', 'agent': 'agent token', 'api': 'API token'}[self.value]


class RefusalReason(StrEnum):
    """Why an agent connection was refused."""

    BAD_TOKEN = 'bad_token'
    WRONG_HOST = 'wrong_host'
    HOST_HAS_TOKEN = 'host_has_token'
    BAD_REGISTER = 'bad_register'

    @property
    def label(self) -> str:
        """Human name of the reason (summaries count by it)."""
        return _REASON_LABELS[self]


_REASON_LABELS = {
    RefusalReason.BAD_TOKEN: 'bad or missing token',
    RefusalReason.WRONG_HOST: 'token bound to another host',
    RefusalReason.HOST_HAS_TOKEN: 'host has its own token',
    RefusalReason.BAD_REGISTER: 'unusable register',
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """One refused agent connection: where from, with what kind of token, why; `detail` is a sentence for people."""

    source: str
    kind: CredentialKind
    reason: RefusalReason
    detail: str
    host: str | None = None


@dataclass(slots=True, kw_only=True)
class _Tally:
    since: float
    count: int = 0  #: refusals in this window
    announced: int = 0  #: of those, journaled one by one (the first of a new source)
    reasons: Counter[RefusalReason] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Summary:
    source: str
    kind: CredentialKind
    count: int
    since: float
    until: float
    reasons: dict[str, int]

    @property
    def message(self) -> str:
        where = OTHER_SOURCES if self.source == OTHER_SOURCES else self.source
        noun = 'agent connection' if self.count == 1 else 'agent connections'
        counted = sorted(((n, RefusalReason(r).label) for r, n in self.reasons.items()), key=lambda c: (-c[0], c[1]))
        why = ', '.join(f'{label} ×{n}' for n, label in counted)
        span = _span(self.until - self.since)
        return f'{self.count} refused {noun} from {where} in the last {span} ({self.kind.label}: {why})'


class RefusalJournal:
    """Count refused agent connections; journal and log the first per source and kind, then one summary per window."""

    def __init__(
        self, events: EventLog, clock: Clock, *, window: float = WINDOW, max_sources: int = MAX_SOURCES
    ) -> None:
        self._events = events
        self._clock = clock
        self._window = window
        self._max_sources = max_sources
        self._tallies: dict[tuple[str, CredentialKind], _Tally] = {}

    @property
    def tracked(self) -> int:
        """How many (source, kind) pairs are being counted now."""
        return len(self._tallies)

    async def refused(self, refusal: Refusal) -> None:
        """Count a refusal; journal and log it when it is the first of its source and kind."""
        now = self._clock()
        key = self._key(refusal)
        tally = self._tallies.get(key)
        summary = None
        if tally is not None and now >= tally.since + self._window:
            summary = self._end_window(key, tally, now)
            tally = self._tallies.get(key)
        first = tally is None
        if tally is None:
            tally = self._tallies[key] = _Tally(since=now, announced=1)
        tally.count += 1
        tally.reasons[refusal.reason] += 1
        if summary is not None:
            await self._journal_summary(summary)
        if first:
            await self._journal_first(key[0], refusal)

    async def flush(self, *, final: bool = False) -> int:
        """End the windows that are over (all of them when `final`, at shutdown); return the summaries journaled."""
        now = self._clock()
        summaries = [
            summary
            for key, tally in list(self._tallies.items())
            if (final or now >= tally.since + self._window)
            and (summary := self._end_window(key, tally, now, final=final)) is not None
        ]
        for summary in summaries:
            await self._journal_summary(summary)
        return len(summaries)

    def _key(self, refusal: Refusal) -> tuple[str, CredentialKind]:
        key = (refusal.source, refusal.kind)
        if key in self._tallies or refusal.source == OTHER_SOURCES:
            return key
        tracked = sum(1 for source, _ in self._tallies if source != OTHER_SOURCES)
        return key if tracked < self._max_sources else (OTHER_SOURCES, refusal.kind)

    def _end_window(
        self, key: tuple[str, CredentialKind], tally: _Tally, now: float, *, final: bool = False
    ) -> _Summary | None:
        """Close a tally's window: a summary when it counted refusals not journaled yet, else forget the source."""
        if tally.count <= tally.announced or final:
            del self._tallies[key]
        else:
            self._tallies[key] = _Tally(since=now)
        if tally.count <= tally.announced:
            return None
        until = min(now, tally.since + self._window)
        return _Summary(
            source=key[0],
            kind=key[1],
            count=tally.count,
            since=tally.since,
            until=until,
            reasons={reason.value: n for reason, n in tally.reasons.items()},
        )

    async def _journal_first(self, source: str, refusal: Refusal) -> None:
        where = 'another source' if source == OTHER_SOURCES else source
        more = (
            f'more than {self._max_sources} sources are refused: further ones are counted together'
            if source == OTHER_SOURCES
            else 'further refusals from there are counted and summarised hourly'
        )
        message = f'Agent connection from {where} refused ({refusal.kind.label}): {refusal.detail}; {more}'
        log.warning('%s', message)
        details = {'source': source, 'token_kind': refusal.kind.value, 'reason': refusal.reason.value, 'count': 1}
        await self._record(message, details, host=refusal.host)

    async def _journal_summary(self, summary: _Summary) -> None:
        log.warning('%s', summary.message)
        details = {
            'source': summary.source,
            'token_kind': summary.kind.value,
            'count': summary.count,
            'reasons': summary.reasons,
            'since': iso(summary.since),
            'until': iso(summary.until),
        }
        await self._record(summary.message, details)

    async def _record(self, message: str, details: dict[str, Any], *, host: str | None = None) -> None:
        try:
            await self._events.record(ACTION, message, level=EventLevel.WARN, host=host, details=details)
        except Exception:  # the store is closing: the log line above stays
            log.exception('could not journal a refused agent connection')


def _span(seconds: float) -> str:
    """`hour` for a full window, else `12 min` / `40 s` (how long a summary covers)."""
    if seconds >= 3600 - 1:
        return 'hour'
    return f'{seconds / 60:.0f} min' if seconds >= 60 else f'{max(seconds, 1):.0f} s'
