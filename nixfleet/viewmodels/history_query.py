"""What the History view shows, NiceGUI-free: its filters (kind, host, op, status group, level, time range, page) and
their round trip through the URL (`/history?kind=events&host=web-01&range=24h&page=2`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from nixfleet.models import CommandStatus, EventLevel
from nixfleet.ops.pipelines import PIPELINES
from nixfleet.ops.registry import OPS
from nixfleet.viewmodels.output_buffer import status_tone

KINDS = {'commands': 'Commands', 'events': 'Events'}
RANGES = {'1h': ('Last hour', 3600), '24h': ('Last 24 hours', 86400), '7d': ('Last 7 days', 7 * 86400),
          '30d': ('Last 30 days', 30 * 86400), 'all': ('Any time', None)}  # fmt: skip
#: Status groups of the commands filter, by the colour family the UI shows them in.
STATUS_GROUPS = {
    'running': 'Running',
    'ok': 'Succeeded',
    'partial': 'Partial / suspicious',
    'fail': 'Failed',
    'muted': 'Skipped / cancelled',
}
LEVELS = {level.value: level.value.capitalize() for level in EventLevel}


def statuses_of(group: str) -> list[str]:
    """The command statuses a status group stands for (by the same mapping the badges use)."""
    return [s.value for s in CommandStatus if status_tone(s.value) in (group, 'warn' if group == 'running' else group)]


@dataclass(frozen=True, slots=True)
class Query:
    """What the History view shows; round-trips through the URL."""

    kind: str = 'commands'
    host: str | None = None
    op: str | None = None
    status: str | None = None
    level: str | None = None
    range: str = 'all'
    page: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        """Read a query from URL parameters (unknown values fall back to the defaults)."""
        try:
            page = max(0, int(params.get('page', '1')) - 1)
        except ValueError:
            page = 0
        return cls(
            kind=str(params.get('kind')) if params.get('kind') in KINDS else 'commands',
            host=params.get('host') or None,
            op=params.get('op') if params.get('op') in OPS or params.get('op') in PIPELINES else None,
            status=params.get('status') if params.get('status') in STATUS_GROUPS else None,
            level=params.get('level') if params.get('level') in LEVELS else None,
            range=str(params.get('range')) if params.get('range') in RANGES else 'all',
            page=page,
        )

    @property
    def filtered(self) -> bool:
        """Whether a filter of this kind narrows the list (the other kind's status/level does not)."""
        narrowing = self.status if self.kind == 'commands' else self.level
        return bool(self.host or self.op or narrowing or self.range != 'all')

    def url(self) -> str:
        """The view's URL for this query."""
        params = {
            'kind': self.kind if self.kind != 'commands' else None,
            'host': self.host,
            'op': self.op,
            'status': self.status if self.kind == 'commands' else None,
            'level': self.level if self.kind == 'events' else None,
            'range': self.range if self.range != 'all' else None,
            'page': str(self.page + 1) if self.page else None,
        }
        query = urlencode({k: v for k, v in params.items() if v})
        return '/history' + (f'?{query}' if query else '')


#: The filters of a fresh view (Reset).
DEFAULT_FILTERS = {'host': None, 'op': None, 'status': None, 'level': None, 'range': 'all'}


def hosts_matching(text: str, hosts: Mapping[str, str]) -> list[str]:
    """The hosts (`hosts`: id → name) a typed host filter means: the one whose id or name it is (case-insensitive),
    else every host whose id or name contains it."""
    needle = text.strip().casefold()
    if not needle:
        return []
    exact = [h for h, name in hosts.items() if needle in (h.casefold(), name.casefold())]
    return exact[:1] or [h for h, name in hosts.items() if needle in h.casefold() or needle in name.casefold()]
