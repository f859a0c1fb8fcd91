"""The Pipelines, History and Tokens pages: the dashboard's chrome (header, views, output panel, footer) around a
view.

These pages have no host table, so they follow the state as sampled snapshots (`SAMPLE` seconds apart, on the
loop's scheduler) instead of row transactions: a snapshot is always whole, so there is nothing to resync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nicegui import ui
from reactivex import operators as ops
from reactivex.abc import DisposableBase, SchedulerBase

from nixfleet.streams.state import FleetState, FleetStateStream, guarded
from nixfleet.ui.actions import FleetActions
from nixfleet.ui.header import FleetHeader
from nixfleet.ui.history_view import HistoryView, Query
from nixfleet.ui.layout import Footer, ViewNav
from nixfleet.ui.output_panel import OutputPanel
from nixfleet.ui.pipelines_view import PipelinesView
from nixfleet.ui.tokens_view import TokensView
from nixfleet.viewmodels.lifetime import bind_to_client

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

log = logging.getLogger(__name__)

#: Seconds between the snapshots these pages render.
SAMPLE = 0.2


def follow_snapshots(
    stream: FleetStateStream, scheduler: SchedulerBase, on_state: Callable[[FleetState], None]
) -> Callable[[], DisposableBase]:
    """An `attach` for `bind_to_client`: the newest snapshot at most every `SAMPLE` seconds (and once on attach)."""

    def attach() -> DisposableBase:
        return stream.state.pipe(ops.sample(SAMPLE, scheduler=scheduler)).subscribe(
            guarded(on_state), lambda exc: log.error('snapshot stream failed: %r', exc), scheduler=scheduler
        )

    return attach


class ViewPage:
    """Header, view switcher, one view, the output panel and the footer, following the state."""

    def __init__(self, dashboard: Dashboard, scheduler: SchedulerBase, path: str, params: Mapping[str, str]) -> None:
        state = dashboard.stream.value
        client = ui.context.client
        self.actions = FleetActions(dashboard, client.layout)
        self.header = FleetHeader(state, self.actions, pinned_agent=dashboard.settings.expected_agent_version)
        self.view: Any
        with ui.element('main').classes('nf-page'):
            self.nav = ViewNav(path)
            if path == '/pipelines':
                self.view = PipelinesView(dashboard, state)
            elif path == '/tokens':
                self.view = TokensView(dashboard, state, self.actions.toast)
            else:
                self.view = HistoryView(dashboard, state, Query.from_params(params))
        self.output = OutputPanel(dashboard, scheduler)
        self.actions.events.view_output.subscribe(self.output.open)
        self.actions.events.output_tab.subscribe(self.output.select_index)
        self.footer = Footer(state)
        bind_to_client(client, follow_snapshots(dashboard.stream, scheduler, self.show))

    def show(self, state: FleetState) -> None:
        """Render a snapshot."""
        self.header.show(state)
        self.nav.show(state)
        self.actions.follow(state)
        self.view.show(state)
        self.footer.show(state)
