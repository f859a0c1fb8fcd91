"""The Pipelines view: every run with its per-host per-stage status grid, Cancel and Retry failed.

Runs of the last hour come from the state (`pipelines`, updated live by `pipeline_updated`); older runs are read from
the journal page by page. A run the server trims from the state (`pruned`) leaves the view too, and is one of the
older runs from then on. A grid cell shows the stage's recorded outcome, or, while the stage runs, the status of
the host's command in the state (`commands`, linked by `pipeline_id` and `stage`). Only cells that changed are sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from nicegui import ui

from nixfleet.ops.dispatch import DispatchError
from nixfleet.ops.gates import waves_left
from nixfleet.streams.state import FleetState
from nixfleet.ui import dialogs
from nixfleet.ui.run_card import RunCard
from nixfleet.ui.tab_session import session_alive
from nixfleet.ui.toasts import toast
from nixfleet.viewmodels.actions_model import hosts_phrase, pipeline_label
from nixfleet.viewmodels.outcomes import refusal
from nixfleet.viewmodels.pipeline_cells import running_cells

if TYPE_CHECKING:
    from nixfleet.journal import Journal
    from nixfleet.ops.engine import OpEngine
    from nixfleet.ui.actions import PageEvents

T = TypeVar('T')
log = logging.getLogger(__name__)

#: Runs per "Load older runs".
PAGE = 10


class PipelinesView:
    """All pipeline runs, newest first; live for runs in the state, older runs on demand."""

    def __init__(self, journal: Journal, ops: OpEngine, state: FleetState, events: PageEvents) -> None:
        self._journal = journal
        self._ops = ops
        self._events = events
        self._hosts = state.hosts
        self.cards: dict[str, RunCard] = {}
        self._live: set[str] = set()  #: cards of runs from the state (the rest were loaded from the journal)
        self._seen: Mapping[str, Mapping[str, Any]] | None = None
        self._commands: Any = None
        self._asking: set[str] = set()  #: runs whose Cancel dialog is open
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
        self._seen, self._commands, self._hosts = state.pipelines, state.commands, state.hosts
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
        """Append the next `limit` runs older than the oldest shown, from the journal (`limit` 0: only find out
        whether there are any, which leaves the button usable meanwhile)."""
        oldest = min((card.created_at for card in self.cards.values()), default=None)
        if limit:
            self._more.disable()  # one page at a time
        try:
            page = await self._journal.pipeline_runs(oldest, limit)
        finally:
            if limit:
                self._more.enable()
        hosts = self._hosts
        for run in page.rows:
            if str(run['id']) not in self.cards:
                self._add(run).update(run, {}, hosts)
        self._foot.set_visibility(page.total > len(page.rows))
        self._empty.set_visibility(not self.cards)

    def _add(self, run: Mapping[str, Any]) -> RunCard:
        with self._list:
            card = RunCard(
                run,
                on_cancel=self.cancel,
                on_retry=self.retry,
                on_host=self.open_host,
                on_continue=self.continue_halted,
                on_roll_back=self.roll_back_wave,
            )
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
        if pipeline_id in self._asking:  # a double click asks once
            return
        self._asking.add(pipeline_id)
        try:  # the button stays usable meanwhile: the dialog gives the focus back to it
            confirmed = await self._confirm_cancel(card.run)
        finally:
            self._asking.discard(pipeline_id)
        if not confirmed:
            return
        card.cancel_button.disable()  # against double clicks
        try:
            run = await _unless_refused('cancel', self._ops.cancel_pipeline(pipeline_id, actor='user'))
        finally:
            card.cancel_button.enable()
        if run is not None:
            toast(f'Cancelling {run.name}: running commands finish, the rest is cancelled', 'info')

    async def retry(self, pipeline_id: str) -> None:
        """Start a new run of the same pipeline on exactly the hosts that failed."""
        if not session_alive(ui.context.client):
            return
        card = self.cards[pipeline_id]
        card.retry_button.disable()
        try:
            run = await _unless_refused('retry', self._ops.retry_failed(pipeline_id, actor='user'))
        finally:
            card.retry_button.enable()
        if run is not None:
            hosts = ', '.join(run.hosts)
            toast(
                f'Retrying {run.name} on {len(run.hosts)} host{"s" if len(run.hosts) != 1 else ""}: {hosts}', 'positive'
            )

    async def continue_halted(self, pipeline_id: str) -> None:
        """After asking: start the waves a halted rollout never started, as a new run with the same gates."""
        card = self.cards[pipeline_id]
        left = waves_left(card.run.get('waves') or [], card.run.get('host_state') or {})
        hosts = [h for wave in left for h in wave]
        if (
            not session_alive(ui.context.client)
            or not hosts
            or not await dialogs.confirm(
                f'Continue {pipeline_label(str(card.run.get("name")))} on {hosts_phrase(hosts)}?',
                f'A new run deploys the {len(left)} wave{"s" if len(left) != 1 else ""} this rollout did not start, '
                'with the same gates and failure policy.',
                'Continue',
                icon='skip_next',
                details=hosts,
            )
        ):
            return
        if (run := await _unless_refused('continue', self._ops.continue_halted(pipeline_id, actor='user'))) is None:
            return
        toast(f'Continuing {run.name} on {len(run.hosts)} host{"s" if len(run.hosts) != 1 else ""}', 'positive')

    async def roll_back_wave(self, pipeline_id: str) -> None:
        """After asking: roll back the switched hosts of a halted rollout's failed wave."""
        if not session_alive(ui.context.client) or not await dialogs.confirm(
            'Roll back the failed wave?',
            'Every host of the wave that failed its gate goes back to its previous generation '
            '(hosts the gate already rolled back are left alone).',
            'Roll back',
            icon='history',
            danger=True,
        ):
            return
        if (results := await _unless_refused('roll back', self._ops.roll_back_wave(pipeline_id, actor='user'))) is None:
            return
        started = [str(r.host) for r in results if r.started]
        if started:
            toast(f'Rolling back {", ".join(started)}', 'positive')
        else:
            toast('Nothing was rolled back: ' + '; '.join(refusal(r.code, r.message or '') for r in results), 'warning')

    @staticmethod
    async def _confirm_cancel(run: Mapping[str, Any]) -> bool:
        """Ask before cancelling a run."""
        label = pipeline_label(str(run.get('name') or '')) or 'the run'
        hosts = list(run.get('hosts') or [])
        return await dialogs.confirm(
            f'Cancel {label} on {hosts_phrase(hosts) if hosts else "the fleet"}?',
            'Commands already running finish; the stages not yet started are cancelled on every host.',
            'Cancel run',
            icon='stop_circle',
            danger=True,
            cancel='Keep running',
        )

    def open_host(self, host: str) -> None:
        """Show the host's output in the panel."""
        self._events.view_output.emit(host)


async def _unless_refused(verb: str, action: Awaitable[T]) -> T | None:
    """What `action` returns, or None when the engine refused it (the toast says why: `Cannot <verb>: …`)."""
    try:
        return await action
    except DispatchError as exc:
        toast(f'Cannot {verb}: {refusal(exc.code, exc.message)}', 'warning')
        return None
