"""Page chrome: the footer (connection, versions), the view navigation and the cells of the views' ARIA tables. The
header is `header.FleetHeader`."""

from __future__ import annotations

from collections.abc import Iterable

from nicegui import ui

from nixfleet import __version__
from nixfleet.streams.state import FleetState
from nixfleet.ui.sync_status import ResyncBadge


class Footer:
    """The page footer: live connection state (client-side), a "Resynced" badge, and the versions."""

    def __init__(self, state: FleetState) -> None:
        self._version: int | None = None
        with ui.footer(elevated=False).classes(replace='nf-footer'), ui.element('div').classes('nf-footer-inner'):
            ui.html(
                '<span class="nf-conn" data-nf-conn data-state="connecting" role="status">Connecting…</span>',
                sanitize=False,
            )
            self.resync_badge = ResyncBadge()
            ui.element('div').classes('nf-spacer')
            self._state_version = ui.label('').classes('nf-state-version').props('data-state-version')
            ui.html('<span class="nf-sep">│</span>', sanitize=False)
            ui.html(f'<a href="/health" title="Health endpoint">NixFleet {__version__}</a>', sanitize=False)
        self.show(state)

    def show(self, state: FleetState) -> None:
        if state.version != self._version:
            self._version = state.version
            self._state_version.set_text(f'state v{state.version}')

    def synced(self, kind: str, reason: str) -> None:
        """Show that the tab was re-rendered (`resync`) or caught up after a reconnect (`catch_up`)."""
        self.resync_badge.show(kind, reason)


#: The dashboard's views: path, label, icon.
VIEWS = (
    ('/', 'Hosts', 'dns'),
    ('/pipelines', 'Pipelines', 'account_tree'),
    ('/history', 'History', 'history'),
    ('/tokens', 'Tokens', 'key'),
)


class ViewNav:
    """The view switcher at the top of every page (Hosts, Pipelines with a running count, History, Tokens)."""

    def __init__(self, active: str) -> None:
        self._running: int | None = None
        with ui.element('nav').classes('nf-views').props('aria-label="Views"'):
            for path, label, icon in VIEWS:
                link = ui.link(target=path).classes('nf-view').mark(f'nav-{label}')
                if path == active:
                    link.classes(add='is-active').props('aria-current=page')
                with link:
                    ui.icon(icon).classes('nf-view-icon').props('aria-hidden=true')
                    ui.label(label)
                    if path == '/pipelines':
                        self._badge = ui.label('').classes('nf-view-badge').props('title="Running pipelines"')
        self._badge.set_visibility(False)

    def show(self, state: FleetState) -> None:
        """Count the running pipelines."""
        running = sum(1 for p in state.pipelines.values() if p.get('status') == 'RUNNING')
        if running != self._running:
            self._running = running
            self._badge.set_text(str(running))  # "N running"; the word is CSS, dropped on phones
            self._badge.set_visibility(running > 0)


def table_cells(rows: Iterable[ui.element]) -> None:
    """Give each child of the `role=row` elements among `rows` the role `cell` (unless it has a role): an ARIA table
    is read as one only when its rows hold cells."""
    for row in rows:
        if row.props.get('role') == 'row':
            for cell in row.default_slot.children:
                if 'role' not in cell.props:
                    cell.props['role'] = 'cell'
