"""The host table element: a Vue component fed by `HostTableSync` (full renders as a prop, updates as transactions).

Rows travel as one JSON string in the `snapshot` prop (NiceGUI would otherwise wrap every row in observable
containers, ~7 ms per 500 rows per tab) and later as small `apply` transactions that touch only changed rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from nicegui import ui

from nixfleet.streams.state import FleetState
from nixfleet.ui.table_sync import Row


class HostTable(ui.element, component='host_table.js'):
    """The live host table of one tab; implements `TableSink`."""

    def __init__(self, state: FleetState, rows: list[Row], *, on_resync: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self._seq = 0
        self._set_snapshot(state, rows)
        if on_resync is not None:
            self.on('resync', lambda _: on_resync())

    def _set_snapshot(self, state: FleetState, rows: list[Row]) -> None:
        self._seq += 1
        self._props['snapshot'] = {
            'seq': self._seq,
            'version': state.version,
            'now': _now_ms(),
            'rows': orjson.dumps(rows).decode(),
        }

    def reset(self, state: FleetState, rows: list[Row]) -> None:
        """Replace every row (a full render; the element is re-sent)."""
        self._set_snapshot(state, rows)

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        """Send one row transaction from version `base` to `state.version`."""
        self.run_method(
            'apply',
            {'base': base, 'version': state.version, 'upsert': upsert, 'remove': remove, 'now': _now_ms()},
        )


def _now_ms() -> int:
    """Server time for the browser's clock-skew correction of "last seen"."""
    return int(time.time() * 1000)
