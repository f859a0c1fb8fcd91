"""The pages: `/login` (a plain HTML document: nixfleet.ui.login_page), `/`, the live fleet dashboard, its other
views and a host's own page (`/hosts/{id}`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nicegui import app, ui
from reactivex.scheduler.eventloop import AsyncIOScheduler

from nixfleet.security.sessions import LOGIN_PATH, Session, SessionSigner, login_redirect, safe_next
from nixfleet.streams.state import FleetState
from nixfleet.ui.actions import FleetActions
from nixfleet.ui.context_bar import ContextBar
from nixfleet.ui.header import FleetHeader
from nixfleet.ui.host_detail import HostDetailView
from nixfleet.ui.host_table import HostTable
from nixfleet.ui.layout import Footer, ViewNav
from nixfleet.ui.login_page import login_document
from nixfleet.ui.output_panel import OutputPanel
from nixfleet.ui.pipelines_page import ViewPage
from nixfleet.ui.sync_status import RECONNECT_TIMEOUT, install_fast_reconnect
from nixfleet.ui.tab_session import bind_session
from nixfleet.viewmodels.lifetime import bind_to_client
from nixfleet.viewmodels.table_sync import HostTableSync, Row
from nixfleet.viewmodels.table_view import TableView

if TYPE_CHECKING:
    from nixfleet.security.links import SessionLinks
    from nixfleet.ui import UiParts

_schedulers: dict[asyncio.AbstractEventLoop, AsyncIOScheduler] = {}

#: Builds a protected page's content for a verified session.
PageBuilder = Callable[[Session], None]


def loop_scheduler() -> AsyncIOScheduler:
    """The Rx scheduler of the running loop (never reactivex's default threading one: NiceGUI is loop-affine)."""
    loop = asyncio.get_running_loop()
    if loop not in _schedulers:
        _schedulers.clear()  # a new loop (tests, restarts in one process): the old scheduler is useless
        _schedulers[loop] = AsyncIOScheduler(loop)
    return _schedulers[loop]


def register_pages(parts: UiParts) -> None:
    """Register the UI pages on NiceGUI's app."""

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login_page(request: Request) -> Response:
        next_path = safe_next(request.query_params.get('next'))
        if parts.sessions.of(request) is not None:
            return RedirectResponse(next_path, status_code=303)
        return HTMLResponse(login_document(request.query_params.get('error'), next_path, totp=parts.totp_configured))

    @protected_page('/', parts.sessions, parts.links, title='NixFleet', reconnect_timeout=RECONNECT_TIMEOUT)
    def index(session: Session) -> None:
        FleetPage(parts)

    @protected_page('/pipelines', parts.sessions, parts.links, title='Pipelines · NixFleet')
    def pipelines(session: Session) -> None:
        ViewPage(parts, loop_scheduler(), '/pipelines', {})

    @protected_page('/history', parts.sessions, parts.links, title='History · NixFleet')
    def history(session: Session) -> None:
        ViewPage(parts, loop_scheduler(), '/history', ui.context.client.request.query_params)

    @protected_page('/hosts/{host_id:path}', parts.sessions, parts.links, title='Host · NixFleet')
    def host(session: Session) -> None:
        host_id = str(ui.context.client.request.path_params.get('host_id') or '')
        page = ViewPage(parts, loop_scheduler(), '/hosts', {'host': host_id})
        if isinstance(page.view, HostDetailView) and not page.view.found:
            ui.context.client.status_code = 404  # the "no such host" page, with the status a link checker expects

    @protected_page('/tokens', parts.sessions, parts.links, title='Tokens · NixFleet')
    def tokens(session: Session) -> None:
        ViewPage(parts, loop_scheduler(), '/tokens', {})


def protected_page(
    path: str, sessions: SessionSigner, links: SessionLinks, **page_options: Any
) -> Callable[[PageBuilder], PageBuilder]:
    """Like `ui.page`, for pages only a logged-in admin may see: others are sent to the login page (and back).

    The builder gets the session; the page leaves for the login page as soon as the session ends (logout here or
    elsewhere, expiry: nixfleet.ui.tab_session).
    """

    def decorator(build: PageBuilder) -> PageBuilder:
        @ui.page(path, **page_options)
        def page(request: Request) -> Response | None:
            session = sessions.of(request)
            if session is None:
                target = request.url.path + (f'?{request.url.query}' if request.url.query else '')
                return RedirectResponse(login_redirect(next_path=safe_next(target)), status_code=303)
            build(session)
            bind_session(ui.context.client, session, links, path)
            return None

        return build

    return decorator


class FleetPage:
    """One tab of the dashboard: header, context bar, live host table, output panel, footer, all following the state
    through the tab's one subscription (`sync`)."""

    def __init__(self, parts: UiParts) -> None:
        self.sync = HostTableSync(parts.stream, self, loop_scheduler(), beacons=parts.beacons)
        rows = self.sync.render()
        state = self.sync.rendered
        #: Every button, menu item and shortcut of this tab acts through it (`actions.events`: output panel hooks).
        self.actions = FleetActions(
            parts.stream, parts.ops, ui.context.client.layout, totp_configured=parts.totp_configured
        )
        self.header = FleetHeader(state, self.actions, pinned_agent=parts.settings.expected_agent_version)
        with ui.element('main').classes('nf-page'):
            self.nav = ViewNav('/')
            self.context = ContextBar(state, self.actions, on_clear=lambda: self.table.clear_selection())
            self.table = HostTable(
                state,
                rows,
                on_resync=self.sync.resync,
                on_row_action=self.actions.row_action,
                on_compartment=self.actions.compartment,
                on_selection=self.context.set_selection,
                on_hotkey=self.actions.shortcut,
                view=TableView.from_query(ui.context.client.request.query_params),
            )
        self.context.show(state, self.table.index)
        self.output = OutputPanel(parts.stream, parts.ops, parts.journal, loop_scheduler())
        self.actions.events.view_output.subscribe(self.output.open)
        self.actions.events.output_tab.subscribe(self.output.select_index)
        self.actions.events.front_output.subscribe(self.output.front)
        self.sync.follow(self.output)
        self.footer = Footer(state)
        install_fast_reconnect()
        bind_to_client(ui.context.client, self.sync.attach)

    # -- TableSink -----------------------------------------------------------------------------------------------
    def reset(self, state: FleetState, rows: list[Row]) -> None:
        self.table.reset(state, rows)
        self._follow(state)

    def apply(self, state: FleetState, base: int, upsert: list[Row], remove: list[str]) -> None:
        self.table.apply(state, base, upsert, remove)
        self._follow(state)

    def _follow(self, state: FleetState) -> None:
        self.header.show(state)
        self.nav.show(state)
        self.context.show(state, self.table.index)
        self.actions.follow(state)
        self.footer.show(state)

    # -- BrowserLink ---------------------------------------------------------------------------------------------
    def beacon(self, version: int) -> None:
        self.table.run_method('beacon', {'version': version})

    def synced(self, kind: str, reason: str) -> None:
        self.footer.synced(kind, reason)
