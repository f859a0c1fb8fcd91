"""The Pipelines view (SPEC §11): every run with its per-host per-stage status grid, Cancel and Retry failed.

Runs of the last hour come from the state (`pipelines`, updated live by `pipeline_updated`); older runs are read from
the journal page by page. A run the server trims from the state (`pruned`) leaves the view too, and is one of the
older runs from then on. A grid cell shows the stage's recorded outcome, or, while the stage runs, the status of
the host's command in the state (`commands`, linked by `pipeline_id` and `stage`). Only cells that changed are sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nicegui import ui

from nixfleet.causes import as_cell, cause, cell_of, is_already_current, short_cause
from nixfleet.ops.dispatch import DispatchError
from nixfleet.streams.state import FleetState
from nixfleet.ui.history_queries import pipeline_runs
from nixfleet.ui.history_time_ import LocalTime, duration
from nixfleet.ui.output_buffer import status_tone
from nixfleet.ui.output_panel_ import current_panel
from nixfleet.ui.tab_session import session_alive
from nixfleet.ui.theme import host_color_style

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

log = logging.getLogger(__name__)

#: Runs per "Load older runs".
PAGE = 10
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
#: Tones whose cells show their cause in the cell and in the run's list of causes.
_EXPLAINED = frozenset({'fail', 'partial'})
_RUN_TONES = {'RUNNING': 'running', 'COMPLETE': 'ok', 'PARTIAL': 'partial', 'FAILED': 'fail', 'CANCELLED': 'muted'}
_HOST_STATES = {
    'active': ('running', 'in progress'),
    'done': ('ok', 'completed'),
    'failed': ('fail', 'failed'),
    'cancelled': ('muted', 'cancelled'),
    'halted': ('muted', 'halted'),
}

#: (pipeline id, stage, host or None) → the cell of the command, for the commands of running runs.
CellIndex = dict[tuple[str, int, str | None], Mapping[str, Any]]
#: What a cell says for a stage whose goal already held (SPEC §6).
CURRENT_TEXT = 'already current'
#: Failure causes a run card lists below its grid (the rest are counted).
CAUSES = 6


def running_cells(state: FleetState, runs: Mapping[str, Mapping[str, Any]]) -> CellIndex:
    """Cells of the commands of the running runs in `runs`, by (pipeline, stage, host)."""
    running = {rid for rid, run in runs.items() if run.get('status') == 'RUNNING'}
    if not running:
        return {}
    index: CellIndex = {}
    for command in state.commands.values():
        pid = command.get('pipeline_id')
        if pid in running and command.get('stage') is not None:
            index[(str(pid), int(command['stage']), command.get('host_id'))] = cell_of(command)
    return index


def grid_cell(run: Mapping[str, Any], stage: int, host: str, index: CellIndex) -> Mapping[str, Any] | None:
    """The cell a grid shows: the recorded outcome, else the live state of the stage's command."""
    stages = run.get('stages') or []
    recorded = as_cell((stages[stage] or {}).get(host)) if stage < len(stages) else None
    if recorded and recorded.get('status'):
        return recorded
    rid = str(run.get('id'))
    return index.get((rid, stage, host)) or index.get((rid, stage, None))


def cell_status(run: Mapping[str, Any], stage: int, host: str, index: CellIndex) -> str | None:
    """The status a grid cell shows."""
    cell = grid_cell(run, stage, host, index)
    return str(cell['status']) if cell and cell.get('status') else None


def cell_tone(cell: Mapping[str, Any] | None) -> str:
    """The colour family of a cell: a stage already current has its own (`current`), apart from skips and failures."""
    if cell is not None and is_already_current(cell):
        return 'current'
    return status_tone(cell.get('status') if cell else None)


def cell_words(cell: Mapping[str, Any] | None) -> str:
    """The status of a cell in words."""
    if cell is None or not cell.get('status'):
        return 'waiting'
    return CURRENT_TEXT if is_already_current(cell) else str(cell['status']).lower().replace('_', ' ')


def failed_hosts(run: Mapping[str, Any]) -> list[str]:
    """Hosts that left the run failing (what Retry failed re-runs)."""
    states = run.get('host_state') or {}
    return [h for h in run.get('hosts') or [] if (states.get(h) or {}).get('state') == 'failed']


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
    ) -> None:
        self.id = str(run['id'])
        self.run: Mapping[str, Any] = run
        self.created_at = str(run.get('created_at') or '')
        self._shown: dict[Any, Any] = {}
        self._on_host = on_host
        self._cells: dict[tuple[int, str], ui.element] = {}
        self._rows: dict[str, tuple[ui.element, ui.element]] = {}
        self._all_rows = False
        ops = list(run.get('ops') or [])
        hosts = list(run.get('hosts') or [])
        with ui.element('article').classes('nf-run').props(f'data-run="{self.id}"') as self.element:
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
                        ui.label(f'{len(hosts)} host{"s" if len(hosts) != 1 else ""}')
                        self._took = ui.label('')
                        if run.get('retry_of'):
                            retry = ui.label(f'retry of run …{str(run["retry_of"])[-6:]}').classes('nf-run-retry')
                            retry.props['title'] = f'Retry of run {run["retry_of"]}'
                ui.element('div').classes('nf-spacer')
                with ui.element('div').classes('nf-run-actions'):
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
            self._message = ui.label('').classes('nf-run-message')
            with ui.element('div').classes('nf-run-summary'):
                self._bar = ui.element('div').classes('nf-run-bar').props('aria-hidden=true')
                with self._bar:
                    self._segments = {
                        tone: ui.element('span').classes(f'nf-run-seg t-{tone}')
                        for tone in ('ok', 'current', 'partial', 'fail', 'muted', 'running')
                    }
                self._counts = ui.label('').classes('nf-run-counts')
            with ui.element('div').classes('nf-grid').props('role=table').style(f'--stages: {len(ops)}'):
                with ui.element('div').classes('nf-grid-row nf-grid-head').props('role=row'):
                    ui.label('Host').classes('nf-grid-th').props('role=columnheader')
                    for op in ops:
                        ui.label(op).classes('nf-grid-th').props('role=columnheader')
                for i, host in enumerate(hosts):
                    self._add_row(host, len(ops), hidden=i >= ROWS)
            self._causes = ui.element('ul').classes('nf-run-causes').props('aria-label="Why hosts failed"')
            self._causes.set_visibility(False)
            if len(hosts) > ROWS:
                self._more = (
                    ui.button(f'Show all {len(hosts)} hosts', on_click=self._show_all)
                    .props('flat dense no-caps')
                    .classes('nf-vbtn nf-run-more')
                )

    def _add_row(self, host: str, stages: int, *, hidden: bool) -> None:
        with ui.element('div').classes('nf-grid-row').props(f'role=row data-host="{host}"') as row:
            with (
                ui.element('button')
                .classes('nf-grid-host')
                .props(f'type=button role=rowheader title="Show the output of {host}"')
                .on('click', lambda _, h=host: self._on_host(h)) as cell
            ):
                ui.element('span').classes('nf-grid-hoststate')
                ui.label(host).classes('nf-grid-hostname')
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
        self._all_rows = True
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
        if running:
            label = f'running · stage {min(stage + 1, len(ops))}/{len(ops)}'
            if run.get('cancel_requested'):
                label = 'cancelling…'
        else:
            label = status.lower()
        tone = 'warn' if run.get('cancel_requested') and running else _RUN_TONES.get(status, 'none')
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
        states = run.get('host_state') or {}
        counts = {'ok': 0, 'fail': 0, 'muted': 0, 'running': 0}
        cells = dict.fromkeys(self._segments, 0)
        causes: dict[tuple[str, str], list[str]] = {}  # (op, cause) → hosts
        for host in run.get('hosts') or []:
            host_tone, host_text = _HOST_STATES.get((states.get(host) or {}).get('state') or 'active', ('none', ''))
            counts[host_tone if host_tone in counts else 'running'] += 1
            _, cell = self._rows[host]
            view = hosts.get(host) or {}
            self._set(('host', host), (host_tone, host_text, view.get('theme_color')), self._host, cell)
            for k in range(len(ops)):
                value = grid_cell(run, k, host, index)
                shown = _CellView.of(value, host, ops[k])
                self._set((k, host), shown, _CellView.render, self._cells[(k, host)])
                if shown.tone == 'fail':
                    causes.setdefault((ops[k], shown.cause or shown.words), []).append(host)
                if shown.tone in cells:
                    cells[shown.tone] += 1
                elif shown.tone == 'warn':
                    cells['running'] += 1
        self._set('causes', tuple((op, why, tuple(hs)) for (op, why), hs in causes.items()), self._cause_list)
        total = max(1, len(run.get('hosts') or []) * len(ops))
        for tone_key, segment in self._segments.items():
            self._set(('seg', tone_key), round(100 * cells[tone_key] / total, 2), _set_width, segment)
        parts = [f'{counts["ok"]} completed', f'{counts["fail"]} failed']
        if counts['running']:
            parts.insert(0, f'{counts["running"]} in progress')
        if counts['muted']:
            parts.append(f'{counts["muted"]} cancelled')
        self._set('counts', ' · '.join(parts), self._counts.set_text)

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
            if len(groups) > CAUSES:
                more = len(groups) - CAUSES
                ui.label(f'… and {more} more (each failed cell says why)').classes('nf-run-cause-more')


@dataclass(frozen=True, slots=True)
class _CellView:
    """What one grid cell shows: its status in words and colour, its cause short and in full."""

    status: str | None
    tone: str
    words: str
    short: str
    cause: str
    label: str

    @classmethod
    def of(cls, cell: Mapping[str, Any] | None, host: str, op: str) -> _CellView:
        """The view of `cell` (None: the stage has not reached the host yet)."""
        tone, words = cell_tone(cell), cell_words(cell)
        why = cause(cell) if cell is not None and tone not in ('ok', 'running', 'warn') else ''
        short = short_cause(cell) if cell is not None and tone in _EXPLAINED else ''
        label = f'{host}, {op}: {words}' + (f' — {why}' if why else '')
        status = str(cell['status']) if cell and cell.get('status') else None
        return cls(status=status, tone=tone, words=words, short=short, cause=why, label=label)

    @staticmethod
    def render(element: ui.element, view: _CellView) -> None:
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


class PipelinesView:
    """All pipeline runs, newest first; live for runs in the state, older runs on demand."""

    def __init__(self, dashboard: Dashboard, state: FleetState) -> None:
        self.dashboard = dashboard
        self.cards: dict[str, RunCard] = {}
        self._live: set[str] = set()  #: cards of runs from the state (the rest were loaded from the journal)
        self._seen: Mapping[str, Mapping[str, Any]] | None = None
        self._commands: Any = None
        with ui.element('section').classes('nf-card nf-pipes').mark('pipelines'):
            with ui.element('div').classes('nf-card-head'):
                ui.label('Pipelines').classes('nf-card-title')
                ui.html('<span class="nf-live-badge">live</span>', sanitize=False)
                ui.label('Each run’s hosts and stages; a host leaves the run at its first failed stage.').classes(
                    'nf-card-sub'
                )
            self._list = ui.element('div').classes('nf-pipes-list')
            with ui.element('div').classes('nf-empty nf-pipes-empty') as self._empty:
                ui.html('<i class="material-icons" aria-hidden="true">account_tree</i>', sanitize=False)
                ui.label('No pipeline runs yet').classes('nf-empty-title')
                ui.label('Select hosts and choose Do All, or use the Fleet menu, to start one.').classes('nf-empty-sub')
            with ui.element('div').classes('nf-pipes-foot') as self._foot:
                self._more = (
                    ui.button('Load older runs', icon='history', on_click=self.load_older)
                    .props('flat dense no-caps')
                    .classes('nf-vbtn')
                    .mark('pipelines-older')
                )
        self._foot.set_visibility(False)
        self.show(state)
        ui.timer(0, lambda: self.load_older(limit=0), once=True)  # are there older runs? (once connected)

    # -- data ----------------------------------------------------------------------------------------------------
    def show(self, state: FleetState) -> None:
        """Render the runs of the state (cheap when neither pipelines nor commands changed)."""
        if state.pipelines is self._seen and state.commands is self._commands:
            return
        self._seen, self._commands = state.pipelines, state.commands
        index = running_cells(state, state.pipelines)
        for rid, run in state.pipelines.items():
            card = self.cards.get(rid)
            if card is None:
                self._add(run).update(run, index, state.hosts)
            elif card.run is not run or run.get('status') == 'RUNNING':
                card.update(run, index, state.hosts)
        self._live.update(state.pipelines.keys())
        if gone := self._live - state.pipelines.keys():
            self._drop(gone)
        self._empty.set_visibility(not self.cards)

    def _drop(self, runs: set[str]) -> None:
        """Remove the cards of runs that left the state; "Load older runs" brings them back from the journal."""
        for rid in runs:
            if (card := self.cards.pop(rid, None)) is not None:
                card.element.delete()
        self._live -= runs
        self._foot.set_visibility(True)

    async def load_older(self, limit: int = PAGE) -> None:
        """Append the next `limit` runs older than the oldest shown, from the journal."""
        oldest = min((card.created_at for card in self.cards.values()), default=None)
        self._more.disable()
        try:
            page = await self.dashboard.store.read(lambda db: pipeline_runs(db, oldest, limit))
        finally:
            self._more.enable()
        hosts = self.dashboard.stream.value.hosts
        for run in page.rows:
            if str(run['id']) not in self.cards:
                self._add(run).update(run, {}, hosts)
        self._foot.set_visibility(page.total > len(page.rows))
        self._empty.set_visibility(not self.cards)

    def _add(self, run: Mapping[str, Any]) -> RunCard:
        with self._list:
            card = RunCard(run, on_cancel=self.cancel, on_retry=self.retry, on_host=self.open_host)
        self.cards[card.id] = card
        order = sorted(self.cards.values(), key=lambda c: (c.created_at, c.id), reverse=True)
        position = order.index(card)
        if position != len(order) - 1:
            card.element.move(self._list, target_index=position)
        return card

    # -- actions -------------------------------------------------------------------------------------------------
    async def cancel(self, pipeline_id: str) -> None:
        """Cancel a running run (running commands finish; pending stages are cancelled)."""
        if not session_alive(ui.context.client):
            return
        card = self.cards[pipeline_id]
        card.cancel_button.disable()  # against double clicks
        try:
            run = await self.dashboard.ops.cancel_pipeline(pipeline_id, actor='user')
        except DispatchError as exc:
            ui.notify(f'Cannot cancel: {exc.message} ({exc.code})', type='warning')
            return
        finally:
            card.cancel_button.enable()
        ui.notify(f'Cancelling {run.name}: running commands finish, the rest is cancelled', type='info')

    async def retry(self, pipeline_id: str) -> None:
        """Start a new run of the same pipeline on exactly the hosts that failed."""
        if not session_alive(ui.context.client):
            return
        card = self.cards[pipeline_id]
        card.retry_button.disable()
        try:
            run = await self.dashboard.ops.retry_failed(pipeline_id, actor='user')
        except DispatchError as exc:
            ui.notify(f'Cannot retry: {exc.message} ({exc.code})', type='warning')
            return
        finally:
            card.retry_button.enable()
        hosts = ', '.join(run.hosts)
        ui.notify(
            f'Retrying {run.name} on {len(run.hosts)} host{"s" if len(run.hosts) != 1 else ""}: {hosts}',
            type='positive',
        )

    def open_host(self, host: str) -> None:
        """Show the host's output in the panel."""
        panel = current_panel()
        if panel is not None:
            panel.open(host)
