"""One pipeline run on the Pipelines page: its header with status and actions, a summary bar, and the host-by-stage
grid (only cells that changed are sent)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nicegui import ui

from nixfleet.ui.history_time import LocalTime, duration
from nixfleet.ui.theme import host_color_style
from nixfleet.viewmodels.pipeline_cells import (
    CAUSES,
    HOST_STATES,
    RUN_TONES,
    CellIndex,
    CellView,
    failed_hosts,
    gate_view,
    gated,
    grid_cell,
    run_label,
    wave_of,
)

#: Host rows a card shows before "Show all".
ROWS = 60

_GLYPHS = {
    'ok': '✓',
    'fail': '✗',
    'running': '',
    'warn': '',
    'partial': '◐',
    'muted': '–',
    'current': '✓',
    'none': '·',
}


def _set_classes(element: ui.element, base: str, extra: str) -> None:
    element.classes(replace=f'{base} {extra}'.strip())


def _set_width(element: ui.element, percent: float) -> None:
    element.style(f'width: {percent}%')


class RunCard:
    """One pipeline run: header with status and actions, a summary bar, and the host-by-stage grid."""

    def __init__(
        self,
        run: Mapping[str, Any],
        *,
        on_cancel: Callable[[str], Any],
        on_retry: Callable[[str], Any],
        on_host: Callable[[str], Any],
        on_continue: Callable[[str], Any] | None = None,
        on_roll_back: Callable[[str], Any] | None = None,
    ) -> None:
        self.id = str(run['id'])
        self.run: Mapping[str, Any] = run
        self.created_at = str(run.get('created_at') or '')
        self._shown: dict[Any, Any] = {}
        self._on_host = on_host
        self._cells: dict[tuple[int, str], ui.element] = {}
        self._rows: dict[str, tuple[ui.element, ui.element]] = {}
        ops = list(run.get('ops') or [])
        hosts = list(run.get('hosts') or [])
        #: A rollout's grid has one more column: each host's gate (its wave's soak, check and rollback).
        self.gated = gated(run)
        columns = len(ops) + (1 if self.gated else 0)
        with ui.element('article').classes('nf-run').props(f'data-run="{self.id}"') as self.element:
            self._build_head(run, ops, len(hosts), on_cancel, on_retry)
            if self.gated:
                self._build_halted_actions(on_continue, on_roll_back)
            self._message = ui.label('').classes('nf-run-message')
            with ui.element('div').classes('nf-run-summary'):
                self._bar = ui.element('div').classes('nf-run-bar').props('aria-hidden=true')
                with self._bar:
                    self._segments = {
                        tone: ui.element('span').classes(f'nf-run-seg t-{tone}')
                        for tone in ('ok', 'current', 'partial', 'fail', 'muted', 'running')
                    }
                self._counts = ui.label('').classes('nf-run-counts')
            with ui.element('div').classes('nf-grid').props('role=table').style(f'--stages: {columns}'):
                with ui.element('div').classes('nf-grid-row nf-grid-head').props('role=row'):
                    ui.label('Host').classes('nf-grid-th').props('role=columnheader')
                    for op in [*ops, *(['gate'] if self.gated else [])]:
                        ui.label(op).classes('nf-grid-th').props('role=columnheader')
                for i, host in enumerate(hosts):
                    self._add_row(host, columns, hidden=i >= ROWS, wave=wave_of(run, host))
            self._causes = ui.element('ul').classes('nf-run-causes').props('aria-label="Why hosts failed"')
            self._causes.set_visibility(False)
            if len(hosts) > ROWS:
                self._more = (
                    ui.button(f'Show all {len(hosts)} hosts', on_click=self._show_all)
                    .props('flat dense no-caps')
                    .classes('nf-vbtn nf-run-more')
                )

    def _build_head(
        self,
        run: Mapping[str, Any],
        ops: list[str],
        host_count: int,
        on_cancel: Callable[[str], Any],
        on_retry: Callable[[str], Any],
    ) -> None:
        with ui.element('div').classes('nf-run-head'):
            with ui.element('div').classes('nf-run-left'):
                with ui.element('div').classes('nf-run-title'):
                    ui.label(str(run.get('name'))).classes('nf-run-name')
                    self._status = ui.label('').classes('nf-sbadge').mark(f'run-status-{self.id}')
                    with ui.element('div').classes('nf-run-chain').props('aria-label="Stages"'):
                        self._stage_labels = []
                        for k, op in enumerate(ops):
                            if k:
                                ui.html('<span class="nf-run-arrow" aria-hidden="true">→</span>', sanitize=False)
                            self._stage_labels.append(ui.label(op).classes('nf-run-op'))
                with ui.element('div').classes('nf-run-meta'):
                    LocalTime(run.get('created_at'), 'datetime')
                    ui.label(f'by {run.get("actor") or "system"}')
                    ui.label(f'{host_count} host{"s" if host_count != 1 else ""}')
                    self._took = ui.label('')
                    if run.get('retry_of'):
                        retry = ui.label(f'retry of run …{str(run["retry_of"])[-6:]}').classes('nf-run-retry')
                        retry.props['title'] = f'Retry of run {run["retry_of"]}'
            ui.element('div').classes('nf-spacer')
            with ui.element('div').classes('nf-run-actions') as self._actions:
                self.cancel_button = (
                    ui.button('Cancel', icon='stop_circle', on_click=lambda: on_cancel(self.id))
                    .props('flat dense no-caps')
                    .classes('nf-vbtn is-danger')
                    .mark(f'pipeline-cancel-{self.id}')
                )
                self.retry_button = (
                    ui.button('Retry failed', icon='replay', on_click=lambda: on_retry(self.id))
                    .props('flat dense no-caps')
                    .classes('nf-vbtn is-primary')
                    .mark(f'pipeline-retry-{self.id}')
                )

    def _build_halted_actions(
        self, on_continue: Callable[[str], Any] | None, on_roll_back: Callable[[str], Any] | None
    ) -> None:
        """A halted rollout's two ways on: start the waves it never started, or roll back the wave that failed."""
        with self._actions, ui.element('div').classes('nf-run-actions nf-run-halted') as self.halted_actions:
            self.continue_button = (
                ui.button(
                    'Continue with the next wave',
                    icon='skip_next',
                    on_click=lambda: on_continue and on_continue(self.id),
                )
                .props('flat dense no-caps')
                .classes('nf-vbtn is-primary')
                .mark(f'pipeline-continue-{self.id}')
            )
            self.roll_back_button = (
                ui.button('Roll back the wave', icon='history', on_click=lambda: on_roll_back and on_roll_back(self.id))
                .props('flat dense no-caps')
                .classes('nf-vbtn is-danger')
                .mark(f'pipeline-rollback-wave-{self.id}')
            )
        self.halted_actions.set_visibility(False)

    def _add_row(self, host: str, stages: int, *, hidden: bool, wave: int | None) -> None:
        props = f'role=row data-host="{host}"' + (f' data-wave="{wave + 1}"' if wave is not None else '')
        with ui.element('div').classes('nf-grid-row').props(props) as row:
            with (
                ui.element('button')
                .classes('nf-grid-host')
                .props(f'type=button role=rowheader title="Show the output of {host}"')
                .on('click', lambda _, h=host: self._on_host(h)) as cell
            ):
                ui.element('span').classes('nf-grid-hoststate')
                ui.label(host).classes('nf-grid-hostname')
                if wave is not None:
                    ui.label(f'W{wave + 1}').classes('nf-grid-wave').props(f'title="Wave {wave + 1}"')
            for k in range(stages):
                self._cells[(k, host)] = (
                    ui.element('button')
                    .classes('nf-cell t-none')
                    .props(f'type=button role=cell data-stage="{k}"')
                    .on('click', lambda _, h=host: self._on_host(h))
                    .mark(f'cell-{self.id}-{k}-{host}')
                )
        row.set_visibility(not hidden)
        self._rows[host] = (row, cell)

    def _show_all(self) -> None:
        for row, _ in self._rows.values():
            row.set_visibility(True)
        self._more.set_visibility(False)

    def _set(self, key: Any, value: Any, apply: Callable[..., Any], *target: Any) -> None:
        """Call `apply(*target, value)` when `value` differs from what `key` showed last."""
        if self._shown.get(key, object()) != value:
            self._shown[key] = value
            apply(*target, value)

    def update(self, run: Mapping[str, Any], index: CellIndex, hosts: Mapping[str, Mapping[str, Any]]) -> None:
        """Show the run as it is now (only what changed is sent)."""
        self.run = run
        status = str(run.get('status') or '')
        ops = list(run.get('ops') or [])
        stage = int(run.get('current_stage') or 0)
        running = status == 'RUNNING'
        label = run_label(run)
        tone = 'warn' if run.get('cancel_requested') and running else RUN_TONES.get(status, 'none')
        self._set('status', (label, tone), lambda v: self._status.set_text(v[0]))
        self._set('tone', tone, lambda t: self._status.classes(replace=f'nf-sbadge t-{t}'))
        self._set('data', status, lambda s: self.element.props.update({'data-status': s}))
        for k, op_label in enumerate(self._stage_labels):
            state = 'is-now' if running and k == stage else ('is-done' if k < stage or not running else '')
            self._set(('op', k), state, _set_classes, op_label, 'nf-run-op')
        self._set('took', duration(run.get('created_at'), run.get('finished_at')), self._took_text)
        self._set('message', str(run.get('message') or ''), self._message_text)
        can_cancel = running and not run.get('cancel_requested')
        self._set('cancel', can_cancel, self.cancel_button.set_visibility)
        failed = failed_hosts(run)
        self._set('retry', (not running and bool(failed), len(failed)), self._retry_state)
        if self.gated:
            self._set('halted', status == 'HALTED', self.halted_actions.set_visibility)
        states = run.get('host_state') or {}
        counts = {'ok': 0, 'fail': 0, 'muted': 0, 'running': 0, 'halted': 0}
        cells = dict.fromkeys(self._segments, 0)
        causes: dict[tuple[str, str], list[str]] = {}  # (op, cause) → hosts
        for host in run.get('hosts') or []:
            host_tone, host_text = HOST_STATES.get((states.get(host) or {}).get('state') or 'active', ('none', ''))
            halted = (states.get(host) or {}).get('state') == 'halted'
            counts['halted' if halted else host_tone if host_tone in counts else 'running'] += 1
            _, cell = self._rows[host]
            view = hosts.get(host) or {}
            self._set(('host', host), (host_tone, host_text, view.get('theme_color')), self._host, cell)
            for k in range(len(ops)):
                value = grid_cell(run, k, host, index)
                shown = CellView.of(value, host, ops[k])
                self._set((k, host), shown, render_cell, self._cells[(k, host)])
                if shown.tone == 'fail':
                    causes.setdefault((ops[k], shown.cause or shown.words), []).append(host)
                if shown.tone in cells:
                    cells[shown.tone] += 1
                elif shown.tone == 'warn':
                    cells['running'] += 1
            if self.gated:
                self._set((len(ops), host), gate_view(run, host), render_cell, self._cells[(len(ops), host)])
        self._set('causes', tuple((op, why, tuple(hs)) for (op, why), hs in causes.items()), self._cause_list)
        total = max(1, len(run.get('hosts') or []) * len(ops))
        for tone_key, segment in self._segments.items():
            self._set(('seg', tone_key), round(100 * cells[tone_key] / total, 2), _set_width, segment)
        self._set('counts', _count_text(counts), self._counts.set_text)

    def _took_text(self, took: str) -> None:
        self._took.set_text(f'took {took}' if took else '')
        self._took.set_visibility(bool(took))

    def _message_text(self, message: str) -> None:
        self._message.set_text(message)
        self._message.set_visibility(bool(message))

    def _retry_state(self, value: tuple[bool, int]) -> None:
        visible, count = value
        self.retry_button.set_visibility(visible)
        self.retry_button.set_text(f'Retry {count} failed')

    @staticmethod
    def _host(cell: ui.element, value: tuple[str, str, Any]) -> None:
        tone, text, color = value
        cell.classes(replace=f'nf-grid-host t-{tone}')
        host_color_style(cell, '--hc', color)
        cell.props['aria-label'] = f'{cell.props.get("title", "")}: {text}'

    def _cause_list(self, groups: tuple[tuple[str, str, tuple[str, ...]], ...]) -> None:
        """List why hosts failed, one line per (stage, cause) with its hosts (phones show no cause in the cells)."""
        self._causes.clear()
        self._causes.set_visibility(bool(groups))
        with self._causes:
            for op, why, hosts in groups[:CAUSES]:
                with ui.element('li').classes('nf-run-cause'):
                    ui.html('<span class="nf-run-cause-g" aria-hidden="true">✗</span>', sanitize=False)
                    names = ', '.join(hosts[:4]) + (f' +{len(hosts) - 4}' if len(hosts) > 4 else '')
                    ui.label(names).classes('nf-run-cause-hosts')
                    ui.label(op).classes('nf-run-cause-op')
                    ui.label(why).classes('nf-run-cause-why')
                    show = ui.button('Output', icon='terminal', on_click=lambda _, h=hosts[0]: self._on_host(h))
                    show.props('flat dense no-caps size=sm').classes('nf-vbtn').style('margin-left: auto')
                    show.props['aria-label'] = f'Show the output of {hosts[0]}'
                    show.mark(f'cause-output-{self.id}-{hosts[0]}')
            if len(groups) > CAUSES:
                more = len(groups) - CAUSES
                ui.label(f'… and {more} more (each failed cell says why)').classes('nf-run-cause-more')


def _count_text(counts: Mapping[str, int]) -> str:
    """The run's hosts by how they are doing: `1 in progress · 2 completed · 1 failed · 3 cancelled`."""
    parts = [f'{counts["ok"]} completed', f'{counts["fail"]} failed']
    if counts['running']:
        parts.insert(0, f'{counts["running"]} in progress')
    if counts['muted']:
        parts.append(f'{counts["muted"]} cancelled')
    if counts['halted']:
        parts.append(f'{counts["halted"]} not started (halted)')
    return ' · '.join(parts)


def render_cell(element: ui.element, view: CellView) -> None:
    """Show `view` in the cell's element (the argument order of `RunCard._set`)."""
    element.classes(replace=f'nf-cell t-{view.tone}')
    element.props['data-status'] = view.status or 'PENDING'
    element.props['data-code'] = 'already_current' if view.tone == 'current' else ''
    element.props['aria-label'] = view.label
    element.props['title'] = view.label if not view.cause else ''
    element.clear()
    with element:
        ui.html(f'<span class="nf-cell-g" aria-hidden="true">{_GLYPHS.get(view.tone, "·")}</span>', sanitize=False)
        ui.label(view.words).classes('nf-cell-t')
        if view.short:
            ui.label(view.short).classes('nf-cell-why')
        if view.cause:
            ui.tooltip(view.label).classes('nf-cell-tip')
