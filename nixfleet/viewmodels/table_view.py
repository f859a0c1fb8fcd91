"""The host table's view for triage, NiceGUI-free: status filter chips, sort columns, their URL form, and the row
flags the chips read (last command failed, compartments not OK).

The browser filters and sorts (it holds every row); this module decides what each chip and column means, parses and
writes the query string a view is bookmarked as, and computes the per-row flags on the server, so the browser only
reads fields. Combining: chips of one group are ORed (Offline or Stale), the groups are ANDed with each other and with
the text filter (Online and Failed and "web": online hosts whose last command failed, named like web).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nixfleet.models import CommandStatus

#: Status chips: key, label, group, what the tooltip says. Group `conn` is the link state, `health` the rest.
CHIPS: tuple[tuple[str, str, str, str], ...] = (
    ('online', 'Online', 'conn', 'Connected and sending heartbeats'),
    ('stale', 'Stale', 'conn', 'Connected, but no heartbeat for 3 intervals'),
    ('offline', 'Offline', 'conn', 'Agent not connected'),
    ('busy', 'Busy', 'health', 'Running a command now'),
    ('failed', 'Failed', 'health', 'Its last command failed (in the last hour)'),
    ('notok', 'Not OK', 'health', 'A compartment is outdated or in error'),
)
CHIP_KEYS: tuple[str, ...] = tuple(chip[0] for chip in CHIPS)
#: Sortable columns and the direction their first click sorts in (the one a triage wants first).
SORTS: dict[str, str] = {
    'name': 'asc',
    'status': 'desc',  # offline, stale, busy, online
    'seen': 'asc',  # longest ago first
    'cpu': 'desc',
    'ram': 'desc',
    'gen': 'asc',
    'comp': 'desc',  # most errors, then most outdated, first
}
#: Command outcomes that count as "failed" (refused, skipped and cancelled commands did not run: not counted).
FAILED = frozenset(
    s.value
    for s in (
        CommandStatus.ERROR,
        CommandStatus.TIMEOUT,
        CommandStatus.KILLED,
        CommandStatus.ORPHANED,
        CommandStatus.PARTIAL,
        CommandStatus.STALE_BINARY,
        CommandStatus.SUSPICIOUS,
    )
)
#: Outcomes that say nothing about the host (the command never ran).
_NOT_RUN = frozenset(s.value for s in (CommandStatus.BLOCKED, CommandStatus.SKIPPED, CommandStatus.CANCELLED))
#: Longest text filter kept from a URL.
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class TableView:
    """What the table shows: chips on, text filter, sort column and direction (defaults: all hosts by name)."""

    chips: tuple[str, ...] = ()
    text: str = ''
    sort: str = 'name'
    desc: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TableView:
        """Read `?status=offline,failed&q=web&sort=seen&dir=desc`; unknown values are dropped, not refused."""
        wanted = {part.strip().lower() for part in str(query.get('status') or '').split(',')}
        chips = tuple(key for key in CHIP_KEYS if key in wanted)
        sort = str(query.get('sort') or 'name').lower()
        if sort not in SORTS:
            sort = 'name'
        direction = str(query.get('dir') or SORTS[sort]).lower()
        text = str(query.get('q') or '').strip()[:MAX_TEXT]
        return cls(chips=chips, text=text, sort=sort, desc=direction == 'desc')

    def to_query(self) -> dict[str, str]:
        """The query parameters of this view (the defaults left out), as the browser writes them."""
        query: dict[str, str] = {}
        if self.chips:
            query['status'] = ','.join(key for key in CHIP_KEYS if key in self.chips)
        if self.text:
            query['q'] = self.text
        if self.sort != 'name' or self.desc:
            query['sort'] = self.sort
            query['dir'] = 'desc' if self.desc else 'asc'
        return query

    def to_wire(self) -> dict[str, Any]:
        """JSON form for the table component."""
        return {'chips': list(self.chips), 'text': self.text, 'sort': self.sort, 'desc': self.desc}


def chips_wire() -> list[dict[str, str]]:
    """The chips for the table component."""
    return [{'key': key, 'label': label, 'group': group, 'tip': tip} for key, label, group, tip in CHIPS]


def compartment_score(compartments: Mapping[str, Any]) -> int:
    """How bad a host's compartments are: 10 per error plus 1 per outdated (0: none is; the Not OK chip is > 0)."""
    score = 0
    for record in compartments.values():
        status = (record or {}).get('status') if isinstance(record, Mapping) else None
        if status == 'error':
            score += 10
        elif status == 'outdated':
            score += 1
    return score


@dataclass(slots=True)
class LastOutcomes:
    """Each host's last command that ran and ended, from the live state's commands (the last hour of them).

    `update` is cheap when the command map did not move (the same object), and tells which hosts' outcome changed.
    """

    _commands: Mapping[str, Mapping[str, Any]] | None = None
    #: host -> status of its last ended command.
    last: dict[str, str] = field(default_factory=dict)

    def update(self, commands: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """Follow the state's command map; return the hosts whose last outcome changed."""
        if commands is self._commands:
            return set()
        self._commands = commands
        latest: dict[str, tuple[str, str]] = {}
        for command in commands.values():
            host, status, ended = command.get('host_id'), command.get('status'), command.get('finished_at')
            if not host or not ended or not status or status in _NOT_RUN:
                continue
            if (known := latest.get(host)) is None or str(ended) >= known[0]:
                latest[host] = (str(ended), str(status))
        now = {host: status for host, (_, status) in latest.items()}
        changed = {host for host in now.keys() | self.last.keys() if now.get(host) != self.last.get(host)}
        self.last = now
        return changed

    def failed(self, host: str) -> bool:
        """Whether the host's last command failed."""
        return self.last.get(host) in FAILED

    def status(self, host: str) -> str | None:
        """The status of the host's last ended command."""
        return self.last.get(host)


def offline_hosts(hosts: Iterable[str], views: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Those of `hosts` whose agent is not connected (the ones Remove may delete), in their order."""
    return [h for h in hosts if (views.get(h) or {}).get('connection') == 'offline']
