"""The Pipelines, History, Tokens and host pages: the dashboard's chrome (header, views, output panel, footer) around
a view.

They follow the state as every tab does, through the tab's one subscription (`HostTableSync`, coalesced
transactions): these pages have no host table, so they ignore the rows and render the snapshot each transaction
brings; the output panel gets every delta from the same subscription.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from nicegui import ui
from reactivex.abc import SchedulerBase

from nixfleet.streams.state import FleetState
from nixfleet.ui.actions import FleetActions
from nixfleet.ui.header import FleetHeader
from nixfleet.ui.history_view import HistoryView
from nixfleet.ui.host_detail import HostDetailView
from nixfleet.ui.layout import Footer, ViewNav
from nixfleet.ui.output_panel import OutputPanel
from nixfleet.ui.pipelines_view import PipelinesView
from nixfleet.ui.tokens_view import TokensView
from nixfleet.viewmodels.history_query import Query
from nixfleet.viewmodels.lifetime import bind_to_client
from nixfleet.viewmodels.table_sync import HostTableSync, Row

if TYPE_CHECKING:
    from nixfleet.ui import UiParts


class View(Protocol):
    """What a page's one view does with each rendered snapshot."""

    def show(self, state: FleetState) -> None: ...


class ViewPage:
    """Header, view switcher, one view, the output panel and the footer, following the state."""

    def __init__(self, parts: UiParts, scheduler: SchedulerBase, path: str, params: Mapping[str, str]) -> None:
        self.sync = HostTableSync(parts.stream, self, scheduler)
        state = self.sync.rendered
        client = ui.context.client
        self.actions = FleetActions(parts.stream, parts.ops, client.layout, totp_configured=parts.totp_configured)
        self.header = FleetHeader(state, self.actions, pinned_agent=parts.settings.expected_agent_version)
        events = self.actions.events
        self.view: View
        with ui.element('main').classes('nf-page'):
            self.nav = ViewNav('/' if path == '/hosts' else path)  # a host's page lies under Hosts
            if path == '/pipelines':
                self.view = PipelinesView(parts.journal, parts.ops, state, events)
            elif path == '/hosts':
                host = params.get('host', '')
                self.view = HostDetailView(parts.journal, parts.samples, parts.clock, state, host, events)
            elif path == '/tokens':
                self.view = TokensView(
                    parts.tokens, parts.sessions, state, shared_token=parts.settings.agent_token is not None
                )
            else:
                self.view = HistoryView(parts.journal, parts.ops, parts.clock, state, Query.from_params(params), events)
        self.output = OutputPanel(parts.stream, parts.ops, parts.journal, scheduler)
        events.view_output.subscribe(self.output.open)
        events.output_tab.subscribe(self.output.select_index)
        events.front_output.subscribe(self.output.front)
        self.sync.follow(self.output)
        self.footer = Footer(state)
        bind_to_client(client, self.sync.attach)

    # -- TableSink: no table here, so only the snapshot counts -------------------------------------------------
    def reset(self, state: FleetState, rows: list[Row]) -> None:
        self.show(state)

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        self.show(state)

    def show(self, state: FleetState) -> None:
        """Render a snapshot."""
        self.header.show(state)
        self.nav.show(state)
        self.actions.follow(state)
        self.view.show(state)
        self.footer.show(state)
