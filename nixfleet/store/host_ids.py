"""Stored hosts whose ids are not hostnames, and stored colours that are not colours, made safe in the database.

The Go dashboard accepted any hostname, so its database may hold hosts called `..`, `a/b`, `<b>x</b>` or ``. An
agent can never register under such an id (`protocol.HOSTNAME_RE`), so nothing keys on it any more: each such host
is adopted under a safe id derived from the original (deterministic, unique, a valid hostname), its commands, events
and pipeline runs follow it, and the original stays as the host's `hostname`, the name the views show. Theme colours
that are not `#rgb`/`#rrggbb` are dropped (the agent's next register sends its colour again). Every change gets a
log line and a journal entry, and `safe_host_ids` returns them for the caller's report. The Go-only tables (never
read) keep the original ids: they are the Go dashboard's record as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from nixfleet.models import EventCategory, EventLevel, is_color
from nixfleet.protocol import HOSTNAME_RE

log = logging.getLogger(__name__)

#: Characters of an original id that carry over into its safe id (the rest become `-`).
_UNSAFE_RUN = re.compile(r'[^A-Za-z0-9_-]+')
#: How much of the original's hash a safe id carries (more when a shorter one is taken).
_HASH_LENGTHS = (8, 12, 16)
_SLUG_LENGTH = 40
#: Colour columns of `hosts` and what a dropped value becomes (`''`: the agent sent none).
_COLOR_COLUMNS = {'theme_color': '', 'theme_color_override': None}


@dataclass(slots=True, kw_only=True)
class SafeHosts:
    """What `safe_host_ids` changed: host ids renamed (original → safe id) and colours dropped."""

    renamed: dict[str, str] = field(default_factory=dict)
    #: (host id, column, the value dropped)
    colors_dropped: list[tuple[str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.renamed or self.colors_dropped)

    def summary(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            'hosts_renamed': [{'from': old, 'to': new} for old, new in self.renamed.items()],
            'colors_dropped': [{'host': h, 'column': c, 'value': v} for h, c, v in self.colors_dropped],
        }

    def describe(self) -> str:
        """One sentence for a journal message ('' when nothing changed)."""
        parts = []
        if self.renamed:
            parts.append(f'{len(self.renamed)} hosts whose ids are not hostnames adopted under safe ids')
        if self.colors_dropped:
            parts.append(f'{len(self.colors_dropped)} theme colours that are not #rgb/#rrggbb dropped')
        return ', '.join(parts)


def shown(value: str, limit: int = 60) -> str:
    """A stored value quoted for a message: `repr`, cut at `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + '…'


def safe_id(original: str, taken: set[str]) -> str:
    """A valid hostname derived from `original` and not in `taken`: its readable part, then a hash of it."""
    slug = _UNSAFE_RUN.sub('-', original).strip('-_')[:_SLUG_LENGTH].rstrip('-_') or 'host'
    digest = hashlib.sha256(original.encode('utf-8', 'surrogatepass')).hexdigest()
    for length in _HASH_LENGTHS:
        candidate = f'{slug}-{digest[:length]}'
        if candidate not in taken:
            return candidate
    counter = 2
    while f'{slug}-{digest[:8]}-{counter}' in taken:
        counter += 1
    return f'{slug}-{digest[:8]}-{counter}'


def journal(
    db: Database,
    now: str,
    message: str,
    *,
    details: dict[str, Any],
    host: str | None = None,
    level: EventLevel = EventLevel.INFO,
) -> None:
    """Insert one `migrate` event (system, by `system`) in the same transaction as the change it reports."""
    db.execute(
        'INSERT INTO event_log (timestamp, category, level, actor, host_id, action, message, details) '
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [now, EventCategory.SYSTEM.value, level.value, 'system', host, 'migrate', message, json.dumps(details)],
    )


def safe_host_ids(db: Database, now: str) -> SafeHosts:
    """Rename hosts whose ids are not hostnames and drop colours that are not colours; journal each change."""
    result = SafeHosts()
    rows = db.execute('SELECT rowid, id FROM hosts ORDER BY rowid').fetchall()
    taken = {str(host) for _, host in rows if isinstance(host, str) and HOSTNAME_RE.match(host)}
    for rowid, host in rows:
        if isinstance(host, str) and HOSTNAME_RE.match(host):
            continue
        original = '' if host is None else str(host)
        new = safe_id(original, taken)
        taken.add(new)
        _rename(db, rowid, host, new)
        result.renamed[original] = new
        message = f'host id {shown(original)} is not a hostname: adopted as {new} (the original kept as its name)'
        log.warning('adopt: %s', message)
        journal(db, now, message, details={'from': original, 'to': new}, host=new, level=EventLevel.WARN)
    result.colors_dropped = _drop_bad_colors(db, now)
    return result


def _rename(db: Database, rowid: int, old: str | None, new: str) -> None:
    """Give the host row `new` as its id (its original stays its hostname) and move what refers to it."""
    db.execute(
        "UPDATE hosts SET id = ?, hostname = CASE WHEN hostname IS NULL OR hostname = '' THEN ? ELSE hostname END "
        'WHERE rowid = ?',
        [new, old or '', rowid],
    )
    if old is None:
        return  # nothing can refer to a NULL id
    db.execute('UPDATE commands SET host_id = ? WHERE host_id = ?', [new, old])
    db.execute('UPDATE event_log SET host_id = ? WHERE host_id = ?', [new, old])
    for pid, hosts_json, state_json in db.execute('SELECT id, hosts, host_status_json FROM pipelines').fetchall():
        hosts = _json(hosts_json)
        if not isinstance(hosts, list) or old not in hosts:
            continue
        state = _json(state_json)
        if isinstance(state, dict):
            state = _renamed_state(state, old, new)
        db.execute(
            'UPDATE pipelines SET hosts = ?, host_status_json = ? WHERE id = ?',
            [json.dumps([new if h == old else h for h in hosts]), json.dumps(state) if state else state_json, pid],
        )


def _renamed_state(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A pipeline run's state with `old` replaced by `new` in its per-host states and its `<stage>:<host>` cells."""
    hosts = state.get('hosts')
    if isinstance(hosts, dict):
        state['hosts'] = {new if h == old else h: v for h, v in hosts.items()}
    cells = state.get('cells')
    if isinstance(cells, dict):
        state['cells'] = {_cell_key(k, old, new): v for k, v in cells.items()}
    return state


def _cell_key(key: str, old: str, new: str) -> str:
    stage, sep, host = key.partition(':')
    return f'{stage}:{new}' if sep and host == old else key


def _drop_bad_colors(db: Database, now: str) -> list[tuple[str, str, str]]:
    present = {row[1] for row in db.execute('PRAGMA table_info(hosts)').fetchall()}
    dropped = []
    for column, replacement in _COLOR_COLUMNS.items():
        if column not in present:
            continue
        rows = db.execute(f'SELECT id, "{column}" FROM hosts WHERE "{column}" IS NOT NULL AND "{column}" != \'\'')
        for host, value in rows.fetchall():
            if is_color(value):
                continue
            db.execute(f'UPDATE hosts SET "{column}" = ? WHERE id = ?', [replacement, host])
            dropped.append((host, column, str(value)))
            message = f'theme colour {shown(str(value))} of {host} dropped: not #rgb/#rrggbb'
            log.warning('adopt: %s', message)
            journal(db, now, message, details={'column': column, 'value': str(value)}, host=host, level=EventLevel.WARN)
    return dropped


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except (TypeError, ValueError):
        return None
