"""The host page (`/hosts/{id}`): one host's facts, compartments with reasons, last commands with causes and output
links, generation history and CPU/RAM sparklines of the last hour.

It follows the state as every view does: the page's one subscription hands it each rendered snapshot (`show`). Facts,
status and compartments come from the host's view in the snapshot; the sparklines from the in-memory samples, redrawn
when a heartbeat added one; commands and generations from the journal, re-read when one of the host's commands in the
snapshot started, moved or ended. An id that names no host (mistyped, odd, removed) gets a "no such host" page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement

from nixfleet.journal import CommandFilter, EventFilter
from nixfleet.streams.state import FleetState
from nixfleet.ui.downloads import command_log_url
from nixfleet.ui.history_time import LocalTime, duration
from nixfleet.ui.host_sparklines import Sparklines
from nixfleet.ui.theme import host_color_style
from nixfleet.viewmodels.host_detail import (
    DEPLOY_OPS,
    CommandLine,
    Deploy,
    command_lines,
    compartment_lines,
    deploys,
    facts,
    host_commands,
    host_id_of,
    presence,
    shown_id,
)

if TYPE_CHECKING:
    from nixfleet.journal import Journal
    from nixfleet.streams.samples import MetricSamples
    from nixfleet.timeutil import Clock
    from nixfleet.ui.actions import PageEvents

#: Commands and generations the page lists.
LAST_COMMANDS = 10
LAST_DEPLOYS = 10
#: Seconds between re-reads of the journal while the host's commands keep changing.
REFRESH = 1.0
_STATUS_ICONS = {'ok': 'check', 'outdated': 'arrow_upward', 'error': 'priority_high', 'working': 'sync'}


class HostDetailView:
    """The host page's content, following the snapshots its page renders."""

    def __init__(
        self, journal: Journal, samples: MetricSamples, clock: Clock, state: FleetState, raw_id: str, events: PageEvents
    ) -> None:
        self._journal = journal
        self._events = events
        self.host = host_id_of(raw_id)
        self._raw_id = raw_id
        self._view: Mapping[str, Any] | None = None
        self._shown: tuple[Any, ...] = ()
        self._known = False  #: the host existed while this page was open
        self._rows: list[dict[str, Any]] = []
        self._deploys: list[dict[str, Any]] = []
        self._live: dict[str, Mapping[str, Any]] = {}
        self._seen_commands: Any = None
        self._command_key: tuple[Any, ...] = ()
        self._loading = self._stale = self._due = False
        self._cmds: ui.element | None = None
        self._gens: ui.element | None = None
        self._connection: Any = None
        self._loaded_at = 0.0
        with ui.element('section').classes('nf-hostd').mark('host-detail') as self._root:
            self._head = ui.element('div').classes('nf-hostd-head')
            self._body = ui.element('div').classes('nf-hostd-grid')
        self._sparks = Sparklines(samples, clock, self.host or '')
        self.show(state)  # a known host: its journal is read once the browser is connected (a timer)

    @property
    def found(self) -> bool:
        """Whether the page shows a host (False: the "no such host" page)."""
        return self._view is not None

    # -- following the state -------------------------------------------------------------------------------------
    def show(self, state: FleetState) -> None:
        """Render a snapshot: cheap when nothing of this host changed."""
        with self._root:  # called from the tab's subscription too: no slot of ours is current then
            self._show(state)

    def _show(self, state: FleetState) -> None:
        view = state.hosts.get(self.host) if self.host is not None else None
        if view is None:
            if self._view is not None or not self._shown:
                self._view = None
                self._render_missing()
            return
        if self._view is None:
            self._known = True
            self._build(view)
            self._view = view
            self.refresh()
        elif view is not self._view:
            self._update(view)
            self._view = view
        if state.commands is not self._seen_commands:
            self._seen_commands = state.commands
            self._live = host_commands(state.commands, str(self.host))
            key = tuple(sorted((cid, c.get('status')) for cid, c in self._live.items()))
            if key != self._command_key:
                self._command_key = key
                self._render_commands()  # a status that moved shows at once; a new command after the re-read
                self._render_deploys()
                self.refresh()

    def _build(self, view: Mapping[str, Any]) -> None:
        self._head.clear()
        self._body.clear()
        with self._head:
            _back_link()
            with ui.element('div').classes('nf-hostd-title'):
                self._name = ui.label('').classes('nf-hostd-name').props('role=heading aria-level=1')
                self._presence = ui.label('').classes('nf-hostd-presence').props('role=status')
            ui.element('div').classes('nf-spacer')
            with ui.link(target=f'/history?host={self.host}').classes('nf-vbtn nf-hostd-btn').mark('host-history'):
                ui.icon('history').props('aria-hidden=true')
                ui.label('History')
            output = ui.button('Live output', icon='terminal', on_click=self._view_output)
            output.props('flat dense no-caps').classes('nf-vbtn nf-hostd-btn').mark('host-output')
        with self._body:
            with ui.element('div').classes('nf-hostd-col'):
                with _card('Facts', 'info', 'nf-hostd-facts'):
                    self._facts = ui.element('dl').classes('nf-facts').mark('host-facts')
                    with ui.element('dl').classes('nf-facts nf-facts-live'):
                        _text('dt', 'Last seen')
                        with ui.element('dd'):
                            self._seen = LocalTime(None, 'ago').mark('host-last-seen')
                        _text('dt', 'Connected')
                        with ui.element('dd'):
                            self._since = LocalTime(None, 'ago').mark('host-connected')
                with _card('Compartments', 'fact_check', 'nf-hostd-comps'):
                    self._comps = ui.element('div').classes('nf-comp-list').mark('host-compartments')
            with ui.element('div').classes('nf-hostd-col'):
                with _card('Last hour', 'show_chart', 'nf-hostd-metrics'):
                    self._sparks.build()
                with _card('Generation history', 'commit', 'nf-hostd-gens'):
                    self._gens = ui.element('div').classes('nf-gen-list').props('role=list').mark('host-generations')
            with _card('Recent commands', 'terminal', 'nf-hostd-cmds'):
                self._cmds = ui.element('div').classes('nf-cmd-list').props('role=list').mark('host-commands')
        self._shown = ()
        self._update(view)
        self._render_commands()
        self._render_deploys()

    def _update(self, view: Mapping[str, Any]) -> None:
        """Show what moved in the host's view: name and status, facts, compartments, last seen, metrics."""
        key, words = presence(view)
        name = str(view.get('hostname') or self.host)
        lines, comps = facts(view), compartment_lines(view)
        shown = (name, key, words, view.get('theme_color'), tuple(lines), tuple(comps))
        if shown != self._shown:
            self._shown = shown
            self._name.set_text(name)
            host_color_style(self._name, 'color', view.get('theme_color'))
            self._presence.set_text(words)
            self._presence.classes(replace=f'nf-hostd-presence is-{key}')
            ui.page_title(f'{name} · NixFleet')
            self._render_facts(lines)
            self._render_compartments(comps)
        self._seen.props['iso'] = view.get('last_seen') or ''
        self._seen.update()
        self._sparks.show(view)
        if view.get('connection') != self._connection:
            self._connection = view.get('connection')
            self.refresh()  # since when it is connected

    def _view_output(self) -> None:
        if self.host is not None:
            self._events.view_output.emit(self.host)

    # -- journal ---------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the journal soon (at most once per `REFRESH` seconds)."""
        self._stale = True
        if self._due or self._loading or self.host is None or self._view is None:
            return
        self._due = True
        wait = max(0.0, REFRESH - (time.monotonic() - self._loaded_at))
        with self._root:
            ui.timer(wait, self._refresh_due, once=True)

    async def _refresh_due(self) -> None:
        self._due = False
        if self._stale:
            await self.load()

    async def load(self) -> None:
        """Read the host's last commands, its generation history and when it connected."""
        host = self.host
        if host is None or self._loading:
            return
        self._loading, self._stale = True, False
        try:
            page = await self._journal.commands(CommandFilter(host=host), limit=LAST_COMMANDS)
            history = await self._journal.host_commands_of(host, DEPLOY_OPS, LAST_DEPLOYS)
            connects = await self._journal.events(EventFilter(host=host, action='connect'), limit=1)
        finally:
            self._loading, self._loaded_at = False, time.monotonic()
        if self._view is None:
            return  # the host went while we read
        self._rows, self._deploys = page.rows, history
        connected = connects.rows[0]['timestamp'] if connects.rows else self._view.get('created_at')
        online = self._view.get('connection') != 'offline'
        self._since.props['iso'] = (connected or '') if online else ''
        self._since.props['empty'] = 'not connected'
        self._since.update()
        self._render_commands()
        self._render_deploys()
        if self._stale:
            self.refresh()

    # -- rendering -------------------------------------------------------------------------------------------------
    def _render_facts(self, lines: list[Any]) -> None:
        self._facts.clear()
        with self._facts:
            for fact in lines:
                _text('dt', fact.label)
                value = _text('dd', fact.value or '—').classes('is-code' if fact.code and fact.value else '')
                if fact.code and fact.value:
                    value.props['title'] = fact.value

    def _render_compartments(self, comps: list[Any]) -> None:
        self._comps.clear()
        with self._comps:
            for comp in comps:
                with ui.element('div').classes(f'nf-comp-line is-{comp.status}').props(f'data-comp={comp.key}'):
                    icon = _STATUS_ICONS.get(comp.status, 'remove')
                    ui.html(f'<i class="material-icons" aria-hidden="true">{icon}</i>', sanitize=False).classes(
                        'nf-comp-icon'
                    )
                    ui.label(comp.label).classes('nf-comp-name')
                    ui.label(comp.status).classes('nf-comp-status')
                    with ui.element('div').classes('nf-comp-why'):
                        ui.label(comp.message).classes('nf-comp-msg')
                        if comp.hint:
                            ui.label(comp.hint).classes('nf-comp-hint')

    def _render_commands(self) -> None:
        if self._cmds is None:
            return
        self._cmds.clear()
        with self._cmds:
            lines = command_lines(self._rows, self._live)
            for line in lines:
                _command_line(line, str(self.host))
            if not lines:
                ui.label('No commands yet. Ops run on this host show up here.').classes('nf-hostd-empty')

    def _render_deploys(self) -> None:
        if self._gens is None:
            return
        self._gens.clear()
        with self._gens:
            lines = deploys(self._deploys, self._live)
            for deploy in lines:
                _deploy_line(deploy)
            if not lines:
                ui.label('No switch, rollback or rebuild yet.').classes('nf-hostd-empty')

    def _render_missing(self) -> None:
        self._head.clear()
        self._body.clear()
        self._shown = ('missing',)
        self._cmds = self._gens = None
        self._rows, self._deploys, self._live, self._command_key, self._seen_commands = [], [], {}, (), None
        name = shown_id(self._raw_id)
        ui.page_title('No such host · NixFleet')
        with self._head:
            _back_link()
        with self._body, ui.element('div').classes('nf-card nf-empty nf-hostd-missing').mark('host-missing'):
            ui.html('<i class="material-icons" aria-hidden="true">travel_explore</i>', sanitize=False)
            ui.label('No such host').classes('nf-empty-title').props('role=heading aria-level=1')
            if self._known:
                text = f'{name} has been removed. It comes back when its agent registers again.'
            elif name:
                text = f'There is no host “{name}”. It may have been removed, or the link is mistyped.'
            else:
                text = 'The link names no host.'
            ui.label(text).classes('nf-empty-sub')
            with ui.link(target='/').classes('nf-vbtn is-primary nf-hostd-home').mark('host-missing-back'):
                ui.icon('dns').props('aria-hidden=true')
                ui.label('Back to all hosts')


def _text(tag: str, text: str) -> TextElement:
    """An element of `tag` holding `text` (as text, never HTML)."""
    return TextElement(tag=tag, text=text)


def _back_link() -> None:
    with ui.link(target='/').classes('nf-hostd-back').mark('host-back'):
        ui.icon('arrow_back').props('aria-hidden=true')
        ui.label('All hosts')


def _card(title: str, icon: str, classes: str) -> ui.element:
    card = ui.element('section').classes(f'nf-card nf-hostd-card {classes}')
    with card, ui.element('div').classes('nf-card-head'):
        ui.icon(icon).classes('nf-hostd-card-icon').props('aria-hidden=true')
        ui.label(title).classes('nf-card-title').props('role=heading aria-level=2')
    return card


def _item(kind: str, tone: str, command_id: str) -> ui.element:
    """A list item of one command (its id from the journal is set as a value, never parsed as props)."""
    item = ui.element('div').classes(f'{kind} t-{tone}').props('role=listitem')
    item.props['data-command'] = command_id
    return item


def _command_line(line: CommandLine, host: str) -> None:
    with _item('nf-cmd', line.tone, line.id):
        with ui.element('div').classes('nf-cmd-main'):
            ui.label(line.op).classes('nf-cmd-op')
            badge = ui.label(line.status.lower().replace('_', ' ')).classes(f'nf-sbadge t-{line.tone}')
            badge.props['aria-label'] = f'status {line.status.lower()}'
            if line.exit_code not in (None, 0) and f'exit {line.exit_code}' not in line.cause:
                ui.label(f'exit {line.exit_code}').classes('nf-cmd-exit')
            ui.element('div').classes('nf-spacer')
            with ui.element('span').classes('nf-cmd-when'):
                LocalTime(line.created_at, 'datetime')
            took = duration(line.started_at, line.finished_at)
            ui.label(took or '').classes('nf-cmd-took').set_visibility(bool(took))
            if line.has_output:
                link = ui.link('Output', command_log_url(line.id), new_tab=True).classes('nf-cmd-out')
                link.props['rel'] = 'noopener'
                link.props['aria-label'] = f'Output of {line.op} on {host} ({line.id})'
                link.mark(f'host-output-{line.id}')
        if line.cause:
            ui.label(line.cause).classes('nf-cmd-why').props['title'] = line.cause
        if line.error_line and line.error_line not in line.cause:
            ui.label(line.error_line).classes('nf-cmd-line')


def _deploy_line(deploy: Deploy) -> None:
    with _item('nf-gen-line', deploy.tone, deploy.id):
        with ui.element('span').classes('nf-gen-when'):
            LocalTime(deploy.at, 'datetime')
        ui.label(deploy.op).classes('nf-gen-op')
        ui.label(deploy.status.lower().replace('_', ' ')).classes(f'nf-sbadge t-{deploy.tone}')
        with ui.element('span').classes('nf-gen-hash'):
            if deploy.previous and deploy.generation and deploy.previous != deploy.generation:
                ui.label(deploy.previous[:7]).classes('nf-gen-from').props['title'] = deploy.previous
                ui.html('<i class="material-icons" aria-label="to">arrow_forward</i>', sanitize=False)
            target = ui.label(deploy.generation[:7] or '—').classes('nf-gen-to')
            if deploy.generation:
                target.props['title'] = deploy.generation
