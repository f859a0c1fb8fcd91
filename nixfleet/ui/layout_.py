"""Page chrome: the header (brand, fleet target, host counts, logout) and the footer (connection, versions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nicegui import ui

from nixfleet import __version__
from nixfleet.streams.state import FleetState
from nixfleet.ui.sync_status import ResyncBadge
from nixfleet.ui.theme import asset


class CountPill:
    """One "● 5 online" pill; dimmed at zero."""

    def __init__(self, kind: str, label: str) -> None:
        self._value: int | None = None
        with ui.element('span').classes(f'nf-pill {kind}').props(f'data-count={kind}') as self.element:
            ui.element('span').classes('nf-pill-dot')
            self._number = ui.label('').classes('nf-pill-n')
            ui.label(label)

    def show(self, value: int) -> None:
        if value == self._value:
            return
        self._value = value
        self._number.set_text(str(value))
        self.element.classes(add='is-zero' if value == 0 else '', remove='' if value == 0 else 'is-zero')


class Header:
    """The page header; `show(state)` refreshes what depends on the state (only what changed is sent)."""

    def __init__(self, state: FleetState, *, expected_agent: str = '') -> None:
        self._expected_agent = expected_agent
        self._target_text: str | None = None
        with ui.header(elevated=False).classes(replace='nf-header'), ui.element('div').classes('nf-header-inner'):
            ui.html(
                f'<a class="nf-brand" href="/" aria-label="NixFleet home"><img src="{asset("logo.svg")}" alt="">'
                '<span class="nf-brand-name">Nix<b>Fleet</b></span></a>',
                sanitize=False,
            )
            self._target = ui.label('').classes('nf-fleet-target')
            ui.element('div').classes('nf-spacer')
            with ui.element('div').classes('nf-counts').props('aria-label="Fleet status"'):
                self._online = CountPill('online', 'online')
                self._stale = CountPill('stale', 'stale')
                self._offline = CountPill('offline', 'offline')
            with ui.element('form').props('method=post action=/logout'):
                ui.button(icon='logout').props('type=submit flat round dense aria-label="Log out"').classes(
                    'nf-icon-btn'
                ).tooltip('Log out')
        self.show(state)

    def show(self, state: FleetState) -> None:
        counts = state.counts()
        self._online.show(counts.get('online', 0))
        self._stale.show(counts.get('stale', 0))
        self._offline.show(counts.get('offline', 0))
        target = fleet_target(state.fleet, self._expected_agent)
        if target != self._target_text:
            self._target_text = target
            self._target.set_text(target)


def fleet_target(fleet: Mapping[str, Any], expected_agent: str) -> str:
    """The header's "what the fleet should run" line (empty until something is known)."""
    parts = []
    agent = fleet.get('expected_agent_version') or expected_agent
    if agent:
        parts.append(f'Agent {agent}')
    commit = str(fleet.get('config_commit') or fleet.get('git_commit') or '')
    if commit:
        branch = fleet.get('config_branch') or fleet.get('branch')
        parts.append(f'Config {commit[:7]}' + (f' ({branch})' if branch else ''))
    return ' · '.join(parts)


class Footer:
    """The page footer: live connection state (client-side), a "Resynced" badge, and the versions."""

    def __init__(self, state: FleetState) -> None:
        self._version: int | None = None
        with ui.footer(elevated=False).classes(replace='nf-footer'), ui.element('div').classes('nf-footer-inner'):
            ui.html('<span class="nf-conn" data-nf-conn data-state="connecting">Connecting…</span>', sanitize=False)
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
VIEWS = (('/', 'Hosts', 'dns'), ('/pipelines', 'Pipelines', 'account_tree'), ('/history', 'History', 'history'))


class ViewNav:
    """The view switcher at the top of every page (Hosts, Pipelines with a running count, History)."""

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
            self._badge.set_text(f'{running} running')
            self._badge.set_visibility(running > 0)
