"""The host table element: a Vue component fed by `HostTableSync` (full renders as a prop, updates as transactions).

Rows travel as one JSON string in the `snapshot` prop (NiceGUI would otherwise wrap every row in observable
containers, ~7 ms per 500 rows per tab) and later as small `apply` transactions that touch only changed rows.
Each row also carries `run`, the live progress of the host's running command; a command that moves without its
host's view changing (progress, deadlines) re-sends just that row (`CommandIndex`, O(busy hosts) per flush).

The browser owns selection, the row menu, the tooltips and the view (status chips, text filter, sort: they live in the
page's URL, read here when the page opens: `TableView`), and reports what the user did as events: `row_action`,
`compartment`, `selection`, `hotkey` (Ctrl+1..9), `resync`, and `copied` (toasted here). Each row carries what the
chips read, both from its host view (table_sync.py `host_row`): `failed` (its last command failed: the view's
`last_outcome`, kept by the op engine across restarts) and `bad` (its compartments' score), and `fail`, why an idle
host's last command failed (shown in its activity cell).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from nicegui import ui

from nixfleet.streams.state import FleetState
from nixfleet.ui.toasts import toast
from nixfleet.viewmodels.actions_model import ROW_MENU, CommandIndex, refusals
from nixfleet.viewmodels.table_sync import Row, host_row
from nixfleet.viewmodels.table_view import SORTS, TableView, chips_wire

#: The component's own ES modules beside it; NiceGUI serves each and maps its file stem in the page's import map, so
#: host_table.js and they import one another by that bare name (`import { HostRow } from "host_table_row"`).
HOST_TABLE_MODULES: list[str | Path] = [
    'host_table_cells.js',
    'host_table_row.js',
    'host_table_window.js',
    'host_table_keys.js',
    'host_table_menu.js',
    'host_table_tip.js',
    'host_table_view.js',
]


class HostTable(ui.element, component='host_table.js', dependencies=HOST_TABLE_MODULES):
    """The live host table of one tab; implements `TableSink`."""

    def __init__(
        self,
        state: FleetState,
        rows: list[Row],
        *,
        on_resync: Callable[[], Any] | None = None,
        on_row_action: Callable[[str, str], Any] | None = None,
        on_compartment: Callable[[str, str], Any] | None = None,
        on_selection: Callable[[list[str]], Any] | None = None,
        on_hotkey: Callable[[dict[str, Any]], Any] | None = None,
        view: TableView | None = None,
    ) -> None:
        super().__init__()
        self._seq = 0
        #: The running commands of the hosts this tab shows.
        self.index = CommandIndex()
        #: The bulky fields last sent per host (compartments, ops, refusals).
        self._sent: dict[str, tuple[Any, ...]] = {}
        self._props['menu'] = [item.to_wire() for item in ROW_MENU]
        self._props['chips'] = chips_wire()
        self._props['sorts'] = dict(SORTS)
        #: The view the page was opened with (its URL); the browser owns it from then on and writes it to the URL.
        self._props['startView'] = (view or TableView()).to_wire()
        self._set_snapshot(state, rows)
        self.on('copied', _copied)
        if on_resync is not None:
            self.on('resync', lambda _: on_resync())
        if on_row_action is not None:
            self.on('row_action', lambda e: on_row_action(str(e.args['host']), str(e.args['key'])))
        if on_compartment is not None:
            self.on('compartment', lambda e: on_compartment(str(e.args['host']), str(e.args['name'])))
        if on_selection is not None:
            self.on('selection', lambda e: on_selection([str(h) for h in e.args.get('ids') or []]))
        if on_hotkey is not None:
            self.on('hotkey', lambda e: on_hotkey(dict(e.args or {})))

    def _set_snapshot(self, state: FleetState, rows: list[Row]) -> None:
        self.index.reset(state.hosts, state.commands)
        self._sent.clear()
        for row in rows:
            self._complete(state, row, full=True)
        self._seq += 1
        self._props['snapshot'] = {
            'seq': self._seq,
            'version': state.version,
            'now': _now_ms(),
            'rows': orjson.dumps(rows).decode(),
        }

    def _complete(self, state: FleetState, row: Row, *, full: bool) -> None:
        """Add what the row menu and the progress cell need beyond the host view; unless `full`, leave out the
        bulky fields the browser already has (a heartbeat rarely changes compartments or ops; the browser merges)."""
        host = row['id']
        row['run'] = self.index.cell(host)
        row['why'] = refusals(state.hosts.get(host) or {})
        bulky = (row['comp'], row['ops'], row['why'])
        if not full and self._sent.get(host) == bulky:
            del row['comp'], row['ops'], row['why']
        self._sent[host] = bulky

    def reset(self, state: FleetState, rows: list[Row]) -> None:
        """Replace every row (a full render; the element is re-sent)."""
        self._set_snapshot(state, rows)

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        """Send one row transaction from version `base` to `state.version` (with the progress of running commands)."""
        touched = {row['id'] for row in upsert}
        moved = self.index.update(state.hosts, state.commands, touched, remove)
        rows = list(upsert)
        rows += [host_row(state.hosts[host]) for host in sorted(moved) if host in state.hosts]
        for host in remove:
            self._sent.pop(host, None)
        for row in rows:
            self._complete(state, row, full=False)
        self.run_method(
            'apply',
            {'base': base, 'version': state.version, 'upsert': rows, 'remove': remove, 'now': _now_ms()},
        )

    def clear_selection(self) -> None:
        """Clear the browser's selection (it reports the empty selection back)."""
        self.run_method('clearSelection')


def _copied(event: Any) -> None:
    """The browser copied a hostname (or could not): say so in the one toast style."""
    args = event.args or {}
    name = str(args.get('name') or 'the hostname')
    if args.get('ok'):
        toast(f'Copied {name}', 'positive')
    else:
        toast(f'Could not copy {name}: the browser refused the clipboard', 'warning')


def _now_ms() -> int:
    """Server time for the browser's clock-skew correction of "last seen"."""
    return int(time.time() * 1000)
