"""The page header: brand, fleet target (config commit, branch, age; expected agent), host counts, the fleet-wide
actions menu and logout. `show(state)` sends only what changed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from nicegui import ui

from nixfleet.streams.state import FleetState
from nixfleet.timeutil import parse_iso
from nixfleet.ui.actions import FleetActions
from nixfleet.ui.theme import asset


def age(seconds: float) -> str:
    """`42s`, `5m`, `3h`, `2d` (never negative)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f'{int(seconds)}s'
    if seconds < 3600:
        return f'{int(seconds // 60)}m'
    if seconds < 86400:
        return f'{int(seconds // 3600)}h'
    return f'{int(seconds // 86400)}d'


def expected_agent(fleet: Mapping[str, Any], pinned: str = '') -> str:
    """`0.1.0`, or `go 3.1.5 · python 0.1.0` when implementations differ; empty when unknown."""
    versions: Mapping[str, str] = fleet.get('expected_agent_versions') or {}
    if not versions:
        return pinned if '=' not in pinned else ''
    if len(versions) == 1:
        return next(iter(versions.values()))
    return ' · '.join(f'{impl} {version}' for impl, version in versions.items())


def config_target(remote: Mapping[str, Any] | None, now: float) -> tuple[str, str, str]:
    """(text, tooltip, tone) of the fleet's desired config: `d5e0c1a · main · 3m ago`."""
    remote = remote or {}
    if not remote.get('configured'):
        return 'tracking off', 'Set NIXFLEET_VERSION_URL to compare every host with your config repository', 'is-off'
    error = remote.get('error')
    short = remote.get('short')
    if not short:
        return 'version.json unavailable', f'version.json could not be read: {error or "not fetched yet"}', 'is-error'
    parts = [str(short)]
    if remote.get('branch'):
        parts.append(str(remote['branch']))
    stamp = parse_iso(remote['timestamp']) if remote.get('timestamp') else None
    if stamp is not None:
        parts.append(f'{age(now - stamp)} ago')
    tip = [f'Config {remote.get("commit")}', str(remote.get('message') or '')]
    if remote.get('repo'):
        tip.append(f'Repository {remote["repo"]}')
    if error:
        tip.append(f'Last fetch failed: {error} (showing the last good version.json)')
    return ' · '.join(parts), '\n'.join(t for t in tip if t), 'is-error' if error else ''


class CountPill:
    """One "● 5 online" pill; dimmed at zero."""

    def __init__(self, kind: str, label: str) -> None:
        self._value: int | None = None
        with ui.element('span').classes(f'nf-pill {kind}').props(f'data-count={kind} title={label}') as self.element:
            ui.element('span').classes('nf-pill-dot')
            self._number = ui.label('').classes('nf-pill-n')
            ui.label(label).classes('nf-pill-label')

    def show(self, value: int) -> None:
        if value == self._value:
            return
        self._value = value
        self._number.set_text(str(value))
        self.element.classes(add='is-zero' if value == 0 else '', remove='' if value == 0 else 'is-zero')


def _menu_item(icon: str, text: str, caption: str, marker: str, on_click: Any) -> ui.menu_item:
    with ui.menu_item(on_click=on_click).classes('nf-menu-item').props('role=menuitem').mark(marker) as item:
        ui.icon(icon).classes('nf-menu-icon').props('aria-hidden=true')
        with ui.element('div').classes('nf-menu-text'):
            ui.label(text).classes('nf-menu-label')
            ui.label(caption).classes('nf-menu-caption')
    return item


class FleetHeader:
    """The page header of one tab."""

    def __init__(self, state: FleetState, actions: FleetActions, *, pinned_agent: str = '') -> None:
        self._actions = actions
        self._pinned = pinned_agent
        self._shown: dict[str, Any] = {}
        self._hosts: Any = None
        self._fleet: Any = None
        with ui.header(elevated=False).classes(replace='nf-header'), ui.element('div').classes('nf-header-inner'):
            ui.html(
                f'<a class="nf-brand" href="/" aria-label="NixFleet home"><img src="{asset("logo.svg")}" alt="">'
                '<span class="nf-brand-name">Nix<b>Fleet</b></span></a>',
                sanitize=False,
            )
            with ui.element('div').classes('nf-target').props('aria-label="Fleet target"').mark('fleet-target'):
                with ui.element('span').classes('nf-target-part nf-target-config').mark('fleet-config-box') as box:
                    self._config_box = box
                    ui.icon('commit').classes('nf-target-icon').props('aria-hidden=true')
                    ui.label('Config').classes('nf-target-key')
                    self._config = ui.label('').classes('nf-target-val').mark('fleet-config')
                    self._config_tip = ui.tooltip('').classes('nf-hdr-tip')
                with ui.element('span').classes('nf-target-part nf-target-agent') as self._agent_box:
                    ui.icon('smart_toy').classes('nf-target-icon').props('aria-hidden=true')
                    ui.label('Agent').classes('nf-target-key')
                    self._agent = ui.label('').classes('nf-target-val').mark('fleet-agent')
                    ui.tooltip('The agent version hosts should run').classes('nf-hdr-tip')
            ui.element('div').classes('nf-spacer')
            with ui.element('div').classes('nf-counts').props('aria-label="Fleet status"'):
                self._online = CountPill('online', 'online')
                self._stale = CountPill('stale', 'stale')
                self._offline = CountPill('offline', 'offline')
            self._build_menu()
            with ui.element('form').props('method=post action=/logout').classes('nf-logout'):
                ui.button(icon='logout', color=None).props('type=submit flat round dense aria-label="Log out"').classes(
                    'nf-icon-btn'
                ).tooltip('Log out')
        self.show(state)
        ui.timer(30.0, self._tick)

    def _build_menu(self) -> None:
        act = self._actions
        with (
            ui.button('Fleet', icon='bolt', color=None)
            .props('flat no-caps dense aria-label="Fleet actions" aria-haspopup=menu')
            .classes('nf-fleet-btn')
            .mark('fleet-menu'),
            ui.menu()
            .props('anchor="bottom right" self="top right" :offset="[0, 8]" role=menu aria-label="Fleet actions"')
            .classes('nf-fleet-menu'),
        ):
            with ui.element('div').classes('nf-menu-pr') as self._pr_box:
                self._pr_item = _menu_item(
                    'merge', 'Merge PR', '', 'bulk-merge-pr', act.handler(act.fleet.bulk, 'merge-pr')
                )
                ui.separator()
            ui.label('Online hosts').classes('nf-menu-head')
            _menu_item(
                'rocket_launch', 'Do All', 'Pull → Switch → Test', 'bulk-do-all', act.handler(act.fleet.bulk, 'do-all')
            )
            _menu_item('download', 'Pull all', 'Fetch the new config', 'bulk-pull', act.handler(act.fleet.bulk, 'pull'))
            _menu_item(
                'published_with_changes',
                'Switch all',
                'Activate it',
                'bulk-switch',
                act.handler(act.fleet.bulk, 'switch'),
            )
            _menu_item('science', 'Test all', 'Run the host tests', 'bulk-test', act.handler(act.fleet.bulk, 'test'))
            ui.separator()
            _menu_item(
                'restart_alt',
                'Restart all agents',
                'They reconnect within seconds',
                'bulk-restart',
                act.handler(act.fleet.bulk, 'restart'),
            )
            self._refetch = _menu_item(
                'sync',
                'Re-fetch version.json',
                'Compare with the repo now',
                'bulk-refresh-git',
                act.handler(act.run, 'refresh-git', []),
            )

    def _set(self, key: str, value: Any, apply: Any) -> None:
        if self._shown.get(key, object()) != value:
            self._shown[key] = value
            apply(value)

    def _tick(self) -> None:
        self._show_config(self._actions.state.fleet)

    def _show_config(self, fleet: Mapping[str, Any]) -> None:
        text, tip, tone = config_target(fleet.get('remote'), time.time())
        self._set('config', text, self._config.set_text)
        self._set('config_tip', tip, self._config_tip.set_text)
        self._set(
            'config_tone',
            tone,
            lambda t: self._config_box.classes(replace=f'nf-target-part nf-target-config {t}'.strip()),
        )

    def show(self, state: FleetState) -> None:
        """Refresh counts, target and the PR item from a state (cheap when neither hosts nor fleet changed)."""
        if state.hosts is not self._hosts or state.fleet is not self._fleet:
            self._hosts = state.hosts
            counts = state.fleet.get('counts') or state.counts()  # the stream keeps them current
            self._online.show(counts.get('online', 0))
            self._stale.show(counts.get('stale', 0))
            self._offline.show(counts.get('offline', 0))
        if state.fleet is self._fleet:
            return
        fleet = self._fleet = state.fleet
        self._show_config(fleet)
        agent = expected_agent(fleet, self._pinned)
        self._set('agent', agent, lambda v: (self._agent.set_text(v), self._agent_box.set_visibility(bool(v))))
        pr = fleet.get('pending_pr') or {}
        self._set('pr', bool(pr), self._pr_box.set_visibility)
        if pr:
            caption = str(pr.get('title') or '') if pr.get('can_merge') else str(pr.get('why_not') or 'not mergeable')
            label = f'Merge PR #{pr.get("number")}'
            self._set('pr_text', (label, caption), lambda v: self._set_item(self._pr_item, *v))
            self._set('pr_ok', bool(pr.get('can_merge')), self._pr_item.set_enabled)
        configured = bool((fleet.get('remote') or {}).get('configured'))
        self._set('refetch', configured, self._refetch.set_visibility)

    @staticmethod
    def _set_item(item: ui.menu_item, label: str, caption: str) -> None:
        labels = [e for e in item.descendants() if isinstance(e, ui.label)]
        labels[0].set_text(label)
        labels[1].set_text(caption)
