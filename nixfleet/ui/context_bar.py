"""The context bar above the host table: the pending flake-update PR, one row per command past a deadline (Wait 5m,
Kill, Ignore), and the selection row (every op and pipeline on the selected hosts).

Selection row: Pull/Switch/Test/Do All on the selected online hosts, every other op and pipeline in its More menu, and
"Remove N offline hosts" while offline hosts are selected (selection_actions.py runs them).

The selection row is always there (a hint when nothing is selected), so selecting never moves the table.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nicegui import ui

from nixfleet.streams.state import FleetState
from nixfleet.ui.actions import FleetActions
from nixfleet.ui.dialogs import button
from nixfleet.ui.selection_actions import SelectionActions
from nixfleet.viewmodels.actions_model import CommandIndex, op_label
from nixfleet.viewmodels.selection_menu import BUTTONS, ITEMS, MORE, SelectionItem, targets
from nixfleet.viewmodels.table_view import offline_hosts


def _button(text: str, icon: str | None, tone: str, on_click: Any, marker: str) -> ui.button:
    return button(text, tone, marker, on_click, icon=icon).props('dense')


class ContextBar:
    """One tab's context bar."""

    def __init__(self, state: FleetState, actions: FleetActions, *, on_clear: Callable[[], None]) -> None:
        self._actions = actions
        self._on_clear = on_clear
        self._fleet: Any = None
        self._revision = -1
        self._alerts: list[tuple[Any, ...]] = []
        self._selected: list[str] = []
        self._sel_text: tuple[Any, ...] | None = None
        self._selection = SelectionActions(actions)
        self._hosts: Any = None
        with ui.element('section').classes('nf-context').props('aria-label="Context"').mark('context-bar'):
            self._pr_row = ui.element('div').classes('nf-ctx-row is-pr').mark('ctx-pr')
            self._alert_rows = ui.element('div').classes('nf-ctx-alerts')
            self._build_selection()
        self._pr_row.set_visibility(False)
        self.show(state, None)

    # -- selection -----------------------------------------------------------------------------------------------
    def _build_selection(self) -> None:
        run = self._selection.run
        with ui.element('div').classes('nf-ctx-row is-selection').mark('ctx-selection') as self._sel_row:
            ui.icon('checklist').classes('nf-ctx-icon').props('aria-hidden=true')
            self._sel_label = ui.label('').classes('nf-ctx-text').mark('selection-count')
            self._sel_hint = ui.label('').classes('nf-ctx-hint')
            ui.element('div').classes('nf-spacer')
            with ui.element('div').classes('nf-ctx-actions') as self._sel_actions:
                self._remove = _button(
                    'Remove', 'delete', 'is-danger', functools.partial(run_selected, run, 'remove', self), 'sel-remove'
                )
                self._sel_buttons = [
                    _button(
                        ITEMS[key].label,
                        ITEMS[key].icon,
                        'is-primary' if ITEMS[key].pipeline else 'is-quiet',
                        functools.partial(run_selected, run, key, self),
                        f'sel-{key}',
                    )
                    for key in BUTTONS
                    if key != 'remove'
                ]
                self._build_more(run)
                ui.button(icon='close', on_click=self._clear, color=None).props(
                    'flat round dense aria-label="Clear selection"'
                ).classes('nf-icon-btn').tooltip('Clear selection (Esc)').mark('sel-clear')

    def _build_more(self, run: Callable[[str, Sequence[str]], Awaitable[None]]) -> None:
        """The More menu: every other op and pipeline of the registry."""
        with (
            ui.button('More', icon='more_horiz', color=None)
            .props('unelevated no-caps dense aria-haspopup=menu')
            .classes('nf-act is-quiet')
            .mark('sel-more') as self._more,
            ui.menu()
            .props('anchor="bottom right" self="top right" :offset="[0, 6]" role=menu aria-label="More actions"')
            .classes('nf-fleet-menu'),
        ):
            self._more_items: list[tuple[SelectionItem, ui.menu_item]] = []
            for i, item in enumerate(MORE):
                if i and item.pipeline and not MORE[i - 1].pipeline:
                    ui.separator()
                with (
                    ui.menu_item(on_click=functools.partial(run_selected, run, item.key, self))
                    .classes('nf-menu-item')
                    .props('role=menuitem')
                    .mark(f'sel-more-{item.key}') as entry
                ):
                    ui.icon(item.icon).classes('nf-menu-icon').props('aria-hidden=true')
                    with ui.element('div').classes('nf-menu-text'):
                        dots = '…' if item.confirm or item.key in ('reboot', 'set-color') else ''
                        ui.label(item.label + dots).classes('nf-menu-label')
                        ui.label(item.caption).classes('nf-menu-caption')
                self._more_items.append((item, entry))

    def _clear(self) -> None:
        self.set_selection([])
        self._on_clear()

    def set_selection(self, hosts: Sequence[str]) -> None:
        """The hosts selected in the table (from the browser)."""
        known = self._actions.state.hosts
        self._selected = [h for h in dict.fromkeys(hosts) if h in known]
        self._show_selection(self._actions.state)

    @property
    def selected(self) -> list[str]:
        """The selected hosts, in selection order."""
        return list(self._selected)

    def _show_selection(self, state: FleetState) -> None:
        self._selected = [h for h in self._selected if h in state.hosts]
        count = len(self._selected)
        online = sum(1 for h in self._selected if state.hosts[h].get('connection') == 'online')
        offline = len(offline_hosts(self._selected, state.hosts))
        if not count:
            text = ('No hosts selected', 'Tick hosts to act on several at once · Shift selects a range · Ctrl+A all')
        elif online == count:
            text = (f'{count} host{"s" if count != 1 else ""} selected', '')
        else:
            text = (f'{count} selected · {online} online', 'Actions run on the online ones' if online else '')
        shown = (text, online, offline)
        if shown == self._sel_text:
            return
        self._sel_text = shown
        self._sel_label.set_text(text[0])
        self._sel_hint.set_text(text[1])
        self._sel_row.classes(add='is-active' if count else '', remove='' if count else 'is-active')
        self._sel_actions.set_visibility(bool(count))
        for action in self._sel_buttons:
            action.set_enabled(online > 0)
        self._remove.set_visibility(offline > 0)
        self._remove.set_text(f'Remove {offline} offline host{"s" if offline != 1 else ""}')
        for item, entry in self._more_items:
            entry.set_enabled(bool(targets(item, self._selected, state.hosts)))

    # -- state ---------------------------------------------------------------------------------------------------
    def show(self, state: FleetState, index: CommandIndex | None) -> None:
        """Follow a rendered state (PR and alerts only re-render when they changed)."""
        if state.fleet is not self._fleet:
            self._fleet = state.fleet
            self._show_pr(state.fleet.get('pending_pr') or {}, state)
        if index is not None and index.revision != self._revision:
            self._revision = index.revision
            self._show_alerts(index.alerts())
        if state.hosts is not self._hosts:
            self._hosts = state.hosts
            self._show_selection(state)

    def _show_pr(self, pr: Mapping[str, Any], state: FleetState) -> None:
        self._pr_row.clear()
        self._pr_row.set_visibility(bool(pr))
        if not pr:
            return
        act = self._actions
        counts = state.fleet.get('counts') or state.counts()
        with self._pr_row:
            ui.icon('merge').classes('nf-ctx-icon is-pr').props('aria-hidden=true')
            with ui.element('div').classes('nf-ctx-text'):
                ui.html(
                    f'<a href="{_attr(pr.get("url"))}" target="_blank" rel="noopener noreferrer" class="nf-pr-link">'
                    f'PR #{_text(pr.get("number"))}</a> <span class="nf-pr-title">{_text(pr.get("title"))}</span>',
                    sanitize=False,
                )
            hint = (
                f'will deploy to {counts.get("online", 0)}/{counts.get("total", 0)} hosts'
                if pr.get('can_merge')
                else str(pr.get('why_not') or 'not mergeable yet')
            )
            ui.label(hint).classes('nf-ctx-hint')
            ui.element('div').classes('nf-spacer')
            with ui.element('div').classes('nf-ctx-actions'):
                merge = _button('Merge', 'merge', 'is-quiet', act.handler(act.fleet.merge, deploy=False), 'pr-merge')
                deploy = _button(
                    'Merge & Deploy',
                    'rocket_launch',
                    'is-primary',
                    act.handler(act.fleet.merge, deploy=True),
                    'pr-deploy',
                )
            for action in (merge, deploy):
                action.set_enabled(bool(pr.get('can_merge')))

    def _show_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        key = [(c.get('id'), c.get('status')) for c in alerts]
        if key == self._alerts:
            return
        self._alerts = key
        self._alert_rows.clear()
        act = self._actions
        with self._alert_rows:
            for cmd in alerts:
                cid = str(cmd.get('id'))
                timed_out = cmd.get('status') == 'TIMEOUT_PENDING'
                with (
                    ui.element('div')
                    .classes('nf-ctx-row is-alert' + (' is-timeout' if timed_out else ''))
                    .props(f'role=alert data-command="{cid}"')
                    .mark('ctx-alert')
                ):
                    ui.icon('hourglass_disabled' if timed_out else 'hourglass_bottom').classes('nf-ctx-icon').props(
                        'aria-hidden=true'
                    )
                    with ui.element('div').classes('nf-ctx-text'):
                        ui.label(str(cmd.get('host_id') or 'fleet')).classes('nf-ctx-host')
                        ui.label(op_label(cmd.get('op'))).classes('nf-ctx-op')
                        ui.label('timed out' if timed_out else 'is taking long').classes('nf-ctx-state')
                        ui.html(
                            f'<span class="nf-elapsed" data-nf-elapsed="{_attr(cmd.get("started_at"))}"></span>',
                            sanitize=False,
                        )
                    ui.label(
                        'No result after its hard timeout; the host stays busy until you decide.'
                        if timed_out
                        else 'Past its warning time; it may still finish.'
                    ).classes('nf-ctx-hint')
                    ui.element('div').classes('nf-spacer')
                    with ui.element('div').classes('nf-ctx-actions'):
                        _button(
                            'Wait 5m',
                            'more_time',
                            'is-quiet',
                            act.handler(act.command_action, cid, 'wait'),
                            'alert-wait',
                        )
                        _button(
                            'Kill', 'dangerous', 'is-danger', act.handler(act.command_action, cid, 'kill'), 'alert-kill'
                        )
                        _button(
                            'Ignore',
                            'notifications_off',
                            'is-quiet',
                            act.handler(act.command_action, cid, 'ignore'),
                            'alert-ignore',
                        )
                        if timed_out:  # when even Kill gets no answer (agent gone), free the host by hand
                            _button(
                                'Stop tracking',
                                'link_off',
                                'is-quiet',
                                act.handler(act.command_action, cid, 'cancel'),
                                'alert-cancel',
                            ).tooltip('Forget this command (CANCELLED); the agent is left alone and the host is free')


async def run_selected(run: Callable[[str, Sequence[str]], Awaitable[None]], key: str, bar: ContextBar) -> None:
    """Run `key` on what is selected when the click arrives (not when the button was built)."""
    await run(key, bar.selected)


def _text(value: Any) -> str:
    return html.escape(str(value if value is not None else ''))


def _attr(value: Any) -> str:
    return html.escape(str(value if value is not None else ''), quote=True)
