"""The host table's view for triage, NiceGUI-free: status filter chips, sort columns, their URL form, and the row
flags the chips read (last command failed, compartments not OK).

The browser filters and sorts (it holds every row); this module decides what each chip and column means, parses and
writes the query string a view is bookmarked as, and computes the per-row flags on the server, so the browser only
reads fields. Combining: chips of one group are ORed (Offline or Stale), the groups are ANDed with each other and with
the text filter (Online and Failed and "web": online hosts whose last command failed, named like web).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Status chips: key, label, group, what the tooltip says. Group `conn` is the link state, `health` the rest.
CHIPS: tuple[tuple[str, str, str, str], ...] = (
    ('online', 'Online', 'conn', 'Connected and sending heartbeats'),
    ('stale', 'Stale', 'conn', 'Connected, but no heartbeat for 3 intervals'),
    ('offline', 'Offline', 'conn', 'Agent not connected'),
    ('busy', 'Busy', 'health', 'Running a command now'),
    ('failed', 'Failed', 'health', 'Its last command failed'),
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


def offline_hosts(hosts: Iterable[str], views: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Those of `hosts` whose agent is not connected (the ones Remove may delete), in their order."""
    return [h for h in hosts if (views.get(h) or {}).get('connection') == 'offline']
