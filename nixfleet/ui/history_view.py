"""The History view: commands and events from the journal, filtered by host, op, status and time, paged.

Filters live in the URL (`/history?kind=events&host=web-01&range=24h&page=2`), so a reload or a shared link shows the
same page. The first page follows new commands and events (re-queried at most every `REFRESH` seconds); later pages
stay still while you read them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

from nixfleet.causes import cause, short_cause
from nixfleet.journal import CommandFilter, EventFilter, Journal, Page
from nixfleet.ops.pipelines import PIPELINES
from nixfleet.ops.registry import OPS
from nixfleet.streams.state import FleetState
from nixfleet.timeutil import iso
from nixfleet.ui.history_host_filter import enter_applies_typed_host
from nixfleet.ui.history_log import download_log, show_command_log
from nixfleet.ui.history_time import LocalTime, duration
from nixfleet.ui.layout import table_cells
from nixfleet.ui.theme import host_color_style
from nixfleet.viewmodels.history_query import DEFAULT_FILTERS, KINDS, LEVELS, RANGES, STATUS_GROUPS, Query, statuses_of
from nixfleet.viewmodels.output_buffer import status_tone

if TYPE_CHECKING:
    from nixfleet.ops.engine import OpEngine
    from nixfleet.timeutil import Clock
    from nixfleet.ui.actions import PageEvents

log = logging.getLogger(__name__)

PAGE_SIZE = 50
#: Seconds between re-queries of the first page while new entries arrive.
REFRESH = 2.0


class HistoryView:
    """The History card: kind toggle, filters, the rows of one page, and paging."""

    def __init__(
        self, journal: Journal, ops: OpEngine, clock: Clock, state: FleetState, query: Query, events: PageEvents
    ) -> None:
        self._journal = journal
        self._ops = ops
        self._clock = clock
        self._events = events
        self._state = state
        self._loaded_at: float | None = None
        self._refresh_due = False
        self.query = query
        self.page = Page()
        self._seen: tuple[Any, Any] = (state.commands, state.events)
        self._stale = False
        self._loading = False
        self._hosts: list[str] = []
        self._quiet = False
        with ui.element('section').classes('nf-card nf-history').mark('history') as self._card:
            with ui.element('div').classes('nf-card-head nf-history-head'):
                ui.label('History').classes('nf-card-title')
                self._kind = (
                    ui.toggle(KINDS, value=query.kind, on_change=self._picked('kind'))
                    .props('dense no-caps unelevated toggle-color=nf toggle-text-color=nf')  # colours: .nf-seg
                    .classes('nf-seg')
                    .mark('history-kind')
                )
                ui.element('div').classes('nf-spacer')
                self._summary = ui.label('').classes('nf-card-sub').mark('history-summary')
            with ui.element('div').classes('nf-filters').props('role=search aria-label="Filter the history"'):
                self._host = self._select('Host', {}, query.host, 'host', 'history-host', filterable=True)
                enter_applies_typed_host(self._host, lambda host: self.change(host=host))
                op_names = {op: op for op in sorted({*OPS, *PIPELINES})}
                self._op = self._select('Op', op_names, query.op, 'op', 'history-op', filterable=True)
                self._status = self._select('Status', STATUS_GROUPS, query.status, 'status', 'history-status')
                self._level = self._select('Level', LEVELS, query.level, 'level', 'history-level')
                self._range = self._select(
                    'Time', {k: v[0] for k, v in RANGES.items()}, query.range, 'range', 'history-range', clearable=False
                )
                self._filters = {'kind': self._kind, 'host': self._host, 'op': self._op, 'status': self._status,
                                 'level': self._level, 'range': self._range}  # fmt: skip
                (
                    ui.button('Reset', icon='filter_alt_off', on_click=lambda: self.change(**DEFAULT_FILTERS))
                    .props('flat dense no-caps')
                    .classes('nf-vbtn')
                    .mark('history-reset')
                )
            with ui.element('div').props('role=table aria-label="History"'):
                self._head = ui.element('div').classes('nf-hrow nf-hhead').props('role=row')
                self._rows = ui.element('div').classes('nf-hrows').props('role=rowgroup').mark('history-rows')
            self._build_pager()
        self._show_filters()
        self._set_host_options(state, [])
        ui.timer(0, self.load, once=True)  # timers start once the browser is connected

    def _build_pager(self) -> None:
        with ui.element('div').classes('nf-pager').props('aria-label="Pages"'):
            self._prev = (
                ui.button('Newer', icon='chevron_left', on_click=lambda: self.change(page=self.query.page - 1))
                .props('flat dense no-caps')
                .classes('nf-vbtn')
                .mark('history-prev')
            )
            self._where = ui.label('').classes('nf-pager-where').mark('history-page')
            self._next = (
                ui.button('Older', on_click=lambda: self.change(page=self.query.page + 1))
                .props('flat dense no-caps icon-right=chevron_right')
                .classes('nf-vbtn')
                .mark('history-next')
            )

    def _select(
        self,
        label: str,
        options: dict[str, str],
        value: str | None,
        field: str,
        marker: str,
        *,
        filterable: bool = False,
        clearable: bool = True,
    ) -> ui.select:
        if value is not None and value not in options:  # e.g. a host from the URL before the hosts are known
            options = {**options, value: value}
        select = (
            ui.select(options, value=value, label=label, with_input=filterable, clearable=clearable)
            .props('dense outlined options-dense popup-content-class=nf-select-menu')
            .props(f'aria-label="{label}"')
            .classes(f'nf-filter nf-filter-{field}')
            .mark(marker)
        )
        select.on_value_change(self._picked(field))
        return select

    def _picked(self, field: str) -> Callable[[ValueChangeEventArguments], Awaitable[None] | None]:
        """The change handler of the `field` filter: a user's pick is applied, the view's own re-sets are not."""

        def picked(e: ValueChangeEventArguments) -> Awaitable[None] | None:
            return None if self._quiet else self.pick(**{field: e.value})

        return picked

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set filter widgets from code without their change handlers taking it for a user's pick."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _show_filters(self) -> None:
        commands = self.query.kind == 'commands'
        self._status.set_visibility(commands)
        self._level.set_visibility(not commands)

    # -- data ----------------------------------------------------------------------------------------------------
    async def load(self) -> None:
        """Run the query and show its page (also fills the host filter with hosts known only to the journal)."""
        if self._loading:
            self._stale = True
            return
        self._loading = True
        self._stale = False
        query = self.query
        since = None
        if (seconds := RANGES[query.range][1]) is not None:
            since = iso(self._clock() - seconds)
        journal, offset = self._journal, query.page * PAGE_SIZE
        try:
            if query.kind == 'commands':
                statuses = statuses_of(query.status) if query.status else []
                flt = CommandFilter(host=query.host, op=query.op, statuses=statuses, since=since)
                page = await journal.commands(flt, limit=PAGE_SIZE, offset=offset)
            else:
                levels = [query.level] if query.level else []
                events = EventFilter(host=query.host, op=query.op, levels=levels, since=since)
                page = await journal.events(events, limit=PAGE_SIZE, offset=offset)
            known = await journal.hosts()
        finally:
            self._loading = False
            self._loaded_at = time.monotonic()
        if query != self.query:  # the filters changed while this ran (their own load was skipped): load them now
            await self.load()
            return
        if query.page and not page.rows and page.total:  # the page ran past the end (entries expired)
            await self.change(page=max(0, (page.total - 1) // PAGE_SIZE))
            return
        self.page = page
        self._set_host_options(self._state, known)
        self._render()

    async def change(self, **fields: Any) -> None:
        """Apply filter or page changes made by the view (Reset, paging): show them in the filters, then apply."""
        with self._quietly():
            for key, select in self._filters.items():
                if key in fields and select.value != fields[key]:
                    select.set_value(fields[key])
        await self.pick(**fields)

    async def pick(self, **fields: Any) -> None:
        """Apply filter or page changes (filters go back to the first page), update the URL and reload.

        A filter widget already shows what the user picked in it, so this never sets a widget: a re-set would be
        another change, and two quick picks would re-set each other for ever.
        """
        if 'page' not in fields:
            fields['page'] = 0
        query = replace(self.query, **fields)
        if query == self.query:
            return
        self.query = query
        self._show_filters()
        ui.navigate.history.replace(query.url())
        await self.load()

    def show(self, state: FleetState) -> None:
        """Note new commands or events; the first page re-queries within `REFRESH` seconds."""
        self._state = state
        seen = (state.commands, state.events)
        if seen[0] is not self._seen[0] or seen[1] is not self._seen[1]:
            self._seen = seen
            if self.query.page == 0:
                self._stale = True
                self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        """Re-query the first page once, at most `REFRESH` seconds after the last query."""
        if self._refresh_due:
            return
        self._refresh_due = True
        since = REFRESH if self._loaded_at is None else time.monotonic() - self._loaded_at
        with self._card:
            ui.timer(max(0.0, REFRESH - since), self._refresh_if_stale, once=True)

    async def _refresh_if_stale(self) -> None:
        self._refresh_due = False
        if self._stale and not self._loading and self.query.page == 0:
            await self.load()
        elif self._stale and self.query.page == 0:
            self._schedule_refresh()  # a query is running: look again after it

    def _set_host_options(self, state: FleetState, known: list[str]) -> None:
        picked = {h for h in (self.query.host, self._host.value) if h}  # the widget's may be a pick not applied yet
        hosts = sorted({*state.hosts, *known, *picked}, key=str.lower)
        if hosts != self._hosts:
            self._hosts = hosts
            with self._quietly():  # keeps the widget's value (it is one of the options)
                self._host.set_options({h: str((state.hosts.get(h) or {}).get('hostname') or h) for h in hosts})

    # -- rendering -----------------------------------------------------------------------------------------------
    def _render(self) -> None:
        commands = self.query.kind == 'commands'
        hosts = self._state.hosts
        self._head.clear()
        self._head.classes(replace=f'nf-hrow nf-hhead {"is-commands" if commands else "is-events"}')
        columns = ('Time', 'Host', 'Op', 'Status', 'Took', 'Exit', 'By', '') if commands else (
            'Time', 'Level', 'Host', 'Action', 'Message', 'By')  # fmt: skip
        with self._head:
            for title in columns:
                ui.label(title).classes('nf-hth').props('role=columnheader')
        self._rows.clear()
        with self._rows:
            for row in self.page.rows:
                (self._command_row if commands else self._event_row)(row, hosts)
            if not self.page.rows:
                with ui.element('div').classes('nf-empty nf-history-empty').props('role=row'):
                    ui.html('<i class="material-icons" aria-hidden="true">manage_search</i>', sanitize=False)
                    if not self.query.filtered:
                        noun = 'commands' if commands else 'events'
                        ui.label(f'No {noun} yet').classes('nf-empty-title')
                        ui.label(
                            'Ops run from this page, the API or the CLI show up here as they happen.'
                            if commands
                            else 'Connections, ops, logins and changes show up here as they happen.'
                        ).classes('nf-empty-sub')
                    else:
                        ui.label('Nothing matches these filters').classes('nf-empty-title')
                        ui.label('Widen the time range or reset the filters.').classes('nf-empty-sub')
        table_cells(self._rows.default_slot.children)
        total, page = self.page.total, self.query.page
        pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
        first = page * PAGE_SIZE + 1 if self.page.rows else 0
        last = page * PAGE_SIZE + len(self.page.rows)
        noun = 'commands' if commands else 'events'
        self._summary.set_text(f'{total:,} {noun}')
        self._where.set_text(f'{first:,}–{last:,} of {total:,} · page {page + 1} of {pages}')
        self._prev.set_enabled(page > 0)
        self._next.set_enabled(last < total)

    def _host_label(self, host_id: str | None, hosts: Mapping[str, Mapping[str, Any]]) -> None:
        view = hosts.get(str(host_id)) if host_id else None
        label = ui.label(str((view or {}).get('hostname') or host_id or 'fleet')).classes('nf-htd nf-hhost')
        if view and view.get('theme_color'):
            host_color_style(label, '--hc', view['theme_color'])  # CSS lightens a colour too dark to read
        elif not host_id:
            label.classes(add='is-fleet')

    def _command_row(self, row: Mapping[str, Any], hosts: Mapping[str, Mapping[str, Any]]) -> None:
        status = str(row.get('status') or '')
        tone = status_tone(status)
        with ui.element('div').classes('nf-hrow is-commands').props(f'role=row data-command="{row["id"]}"'):
            with ui.element('div').classes('nf-htd'):
                LocalTime(row.get('created_at'), 'datetime')
            self._host_label(row.get('host_id'), hosts)
            ui.label(str(row.get('op'))).classes('nf-htd nf-hop')
            with ui.element('div').classes('nf-htd nf-hstatus'):
                badge = ui.label(status.lower().replace('_', ' ')).classes(f'nf-sbadge t-{tone}')
                why = cause(row)
                badge.props['title'] = (why or str(row.get('message') or status))[:300]
                badge.props['aria-label'] = f'{status.lower()}: {why}' if why else status.lower()
                if short := short_cause(row) if tone in ('fail', 'partial') else '':
                    ui.label(short).classes(f'nf-hwhy t-{tone}').props['title'] = why
            ui.label(duration(row.get('started_at'), row.get('finished_at')) or '—').classes('nf-htd nf-hnum')
            exit_code = row.get('exit_code')
            ui.label('—' if exit_code is None else str(exit_code)).classes(
                'nf-htd nf-hnum' + (' is-bad' if exit_code not in (None, 0) else '')
            )
            ui.label(str(row.get('actor') or '')).classes('nf-htd nf-hactor')
            with ui.element('div').classes('nf-htd nf-hacts'):
                if row.get('output_file'):
                    cid = str(row['id'])
                    view = ui.button(icon='article', on_click=lambda _, r=row: self.view_log(r))
                    view.props('flat dense round size=sm').classes('nf-output-tool').mark(f'history-view-{cid}')
                    view.props['aria-label'] = f'View the log of {row.get("op")} on {row.get("host_id") or "fleet"}'
                    view.tooltip('View the log')
                    get = ui.button(icon='download', on_click=lambda _, r=row: download_log(r))
                    get.props('flat dense round size=sm').classes('nf-output-tool').mark(f'history-download-{cid}')
                    get.props['aria-label'] = f'Download the log of {row.get("op")} on {row.get("host_id") or "fleet"}'
                    get.tooltip('Download the log')
            if tone in ('fail', 'partial') and why:
                self._cause_line(row, why, tone)

    def _cause_line(self, row: Mapping[str, Any], why: str, tone: str) -> None:
        """The whole cause under a failed command's row; a click shows its log."""
        line = ui.element('button').classes(f'nf-hcause t-{tone}').props('type=button').mark(f'history-why-{row["id"]}')
        line.props['aria-label'] = f'Why: {why}. View the log'
        if row.get('output_file'):
            line.on('click', lambda _, r=row: self.view_log(r))
        else:
            line.props['disabled'] = True
        with line:
            ui.html('<span class="nf-hcause-g" aria-hidden="true">✗</span>', sanitize=False)
            ui.label(why).classes('nf-hcause-t')

    def _event_row(self, row: Mapping[str, Any], hosts: Mapping[str, Mapping[str, Any]]) -> None:
        level = str(row.get('level') or 'info')
        with ui.element('div').classes(f'nf-hrow is-events lvl-{level}').props(f'role=row data-event="{row["id"]}"'):
            with ui.element('div').classes('nf-htd'):
                LocalTime(row.get('timestamp'), 'datetime')
            with ui.element('div').classes('nf-htd'):
                ui.label(level).classes(f'nf-sbadge lvl-{level}')
            self._host_label(row.get('host_id'), hosts)
            ui.label(str(row.get('action') or '')).classes('nf-htd nf-hop')
            message = ui.label(str(row.get('message') or '')).classes('nf-htd nf-hmsg')
            message.props['title'] = f'{row.get("category") or ""}: {row.get("message") or ""}'[:500]
            ui.label(str(row.get('actor') or '')).classes('nf-htd nf-hactor')

    async def view_log(self, row: Mapping[str, Any]) -> None:
        """Show one command's log in a dialog (with Download and a way to the live host tab)."""
        await show_command_log(self._ops, row, self._events.view_output.emit)
