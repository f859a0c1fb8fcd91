"""The output panel (SPEC §11): a System Log tab and one tab per host with the live output of its commands.

A host tab is restored from the log files of the host's newest commands when it opens (and again after the tab's
socket was away), and follows `command_output` changes live; the lines that arrive while the files are read are
held and merged (`merge_restored`), so nothing is lost or doubled. Each tab keeps at most `TAB_CAP` lines; the
browser shows "… N earlier lines" and Download serves the whole log. Bursts are coalesced per `WINDOW` on the
loop's scheduler. Collapsed state, height, font size and the open tabs are kept per browser (`app.storage.user`);
until a browser collapses or expands the panel itself, a narrow screen (a phone) shows it collapsed to one row of
tabs (`narrow`), and opened it takes at most 40 % of the screen's height.

Other components reach the panel of the current browser tab with `open_host_output(host)` (the row menu's "View
output") and `select_output_tab(n)` (Ctrl+1..9).
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nicegui import Client, app, ui
from reactivex.abc import DisposableBase, SchedulerBase
from reactivex.disposable import Disposable

from nixfleet.ops.logs import parse_log
from nixfleet.streams.changes import ChangeType, VersionedChange
from nixfleet.streams.state import FleetState
from nixfleet.ui.history_queries import host_commands
from nixfleet.ui.theme import host_color_style
from nixfleet.viewmodels.lifetime import bind_to_client
from nixfleet.viewmodels.output_buffer import (
    LOG_CAP,
    LOG_TAB,
    TAB_CAP,
    TabBuffer,
    blocked_line,
    event_line,
    merge_restored,
    output_line,
    status_tone,
)

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

log = logging.getLogger(__name__)

#: Coalescing window for output bursts (seconds).
WINDOW = 0.1
#: Commands a host tab restores from their log files.
RESTORE_COMMANDS = 3
#: A command that starts opens its host's tab (without focusing it) while fewer host tabs than this are open.
AUTO_OPEN_LIMIT = 8
FONT_MIN, FONT_MAX, FONT_DEFAULT = 9, 20, 13
HEIGHT_MIN, HEIGHT_MAX, HEIGHT_DEFAULT = 120, 2000, 300
#: Key of the panel's preferences in `app.storage.user`.
PREFS_KEY = 'output_panel'

#: Characters a download's file name keeps.
_UNSAFE_FILENAME = re.compile(r'[^A-Za-z0-9._-]+')

_panels: weakref.WeakValueDictionary[str, OutputPanel] = weakref.WeakValueDictionary()


def command_log_url(command_id: str) -> str:
    """Where a command's whole log is served as text (a session cookie or API token is needed)."""
    return f'/api/commands/{command_id}/output'


def download_command_log(command_id: str, host: str | None, op: str | None) -> None:
    """Let the browser save a command's whole log as `<host>-<op>-<id>.log`."""
    name = _UNSAFE_FILENAME.sub('_', f'{host or "fleet"}-{op or "command"}-{command_id}')[:180]
    ui.download.from_url(command_log_url(command_id), f'{name}.log', 'text/plain')


def current_panel() -> OutputPanel | None:
    """The output panel of the browser tab whose event is being handled, if its page has one."""
    return panel_of(ui.context.client)


def panel_of(client: Client) -> OutputPanel | None:
    """The output panel of a browser tab, if its page has one."""
    return _panels.get(client.id)


def open_host_output(host: str) -> bool:
    """Open (restore if needed), focus and show the host's output tab in the current browser tab's panel."""
    panel = current_panel()
    if panel is None:
        return False
    panel.open(host, focus=True)
    return True


def select_output_tab(number: int) -> bool:
    """Switch the current browser tab's panel to its `number`-th tab (1 is the System Log); False if none."""
    panel = current_panel()
    return panel.select_index(number) if panel is not None else False


def _clamp(value: Any, low: int, high: int, default: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _browser_prefs() -> MutableMapping[str, Any]:
    try:
        return app.storage.user
    except (RuntimeError, AssertionError, KeyError):  # no storage secret or no request: nothing is remembered
        return {}


class OutputView(ui.element, component='output_panel.js'):
    """The panel element: grip, line view and clipboard in the browser; tab strip and tools as children."""

    def __init__(
        self,
        *,
        active: str,
        font: int,
        collapsed: bool,
        height: int,
        initial: dict[str, Any] | None = None,
        variant: str = 'dock',
        auto_collapse: bool = False,
    ) -> None:
        super().__init__()
        self._props.update(active=active, font=font, collapsed=collapsed, height=height, cap=TAB_CAP, variant=variant)
        # the user never chose: a narrow screen shows the panel collapsed from the first paint and says so (`narrow`)
        self._props['autocollapse'] = auto_collapse
        if initial is not None:  # content known at build time (a dialog); the dock gets its lines by `reset`
            self._props['initial'] = initial

    def set(self, **props: Any) -> None:
        """Change props, sending the element only when something changed."""
        if any(self._props.get(k) != v for k, v in props.items()):
            self._props.update(props)
            self.update()


class TabChip:
    """One tab of the strip: status dot, name in the host colour, unread marker, and a close button for hosts."""

    def __init__(self, key: str, label: str, on_select: Callable[[], Any], on_close: Callable[[], Any] | None) -> None:
        self.key = key
        self._state: tuple[Any, ...] = ()
        with ui.element('div').classes('nf-otab-wrap') as self.wrap:
            with ui.element('button').classes('nf-otab').props('type=button role=tab') as self.button:
                self.dot = ui.element('span').classes('nf-otab-dot t-none')
                self.label = ui.label(label).classes('nf-otab-label')
                ui.element('span').classes('nf-otab-unread').props('aria-hidden=true')
            self.button.on('click', lambda _: on_select())
            if on_close is not None:
                close = ui.button(icon='close', on_click=lambda _: on_close()).props('flat dense round size=xs')
                close.classes('nf-otab-close').mark(f'output-close-{key}')
                close.props['aria-label'] = f'Close the output of {label}'
        self.wrap.props['data-tab'] = key
        self.button.mark(f'output-tab-{key}')
        self.wrap.mark(f'output-chip-{key}')

    def show(self, *, label: str, color: str, tone: str, title: str, active: bool, unread: bool) -> None:
        """Update what changed since the last call."""
        state = (label, color, tone, title, active, unread)
        if state == self._state:
            return
        self._state = state
        self.label.set_text(label)
        self.dot.classes(replace=f'nf-otab-dot t-{tone}')
        self.wrap.classes(replace='nf-otab-wrap' + (' is-active' if active else '') + (' is-unread' if unread else ''))
        self.button.props['aria-selected'] = 'true' if active else 'false'
        self.button.props['title'] = title
        host_color_style(self.wrap, '--hc', color)


class OutputPanel:
    """The output panel of one browser tab."""

    def __init__(self, dashboard: Dashboard, scheduler: SchedulerBase) -> None:
        self.dashboard = dashboard
        self._scheduler = scheduler
        self._prefs_store = _browser_prefs()
        prefs = dict(self._prefs_store.get(PREFS_KEY) or {})
        #: Whether this browser ever collapsed or expanded the panel itself (else a phone starts it collapsed).
        self._chosen = isinstance(prefs.get('collapsed'), bool)
        self.collapsed = bool(prefs.get('collapsed', False))
        self.height = _clamp(prefs.get('height'), HEIGHT_MIN, HEIGHT_MAX, HEIGHT_DEFAULT)
        self.font = _clamp(prefs.get('font'), FONT_MIN, FONT_MAX, FONT_DEFAULT)
        state = dashboard.stream.value
        self.tabs: dict[str, TabBuffer] = {LOG_TAB: TabBuffer(cap=LOG_CAP)}
        self._chips: dict[str, TabChip] = {}
        self._events_from(state)
        self._subscription: DisposableBase | None = None
        self._flush_handle: DisposableBase | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._host_options: list[str] = []
        #: Hosts whose command started: their tabs open at the next flush (elements are not made inside `emit`).
        self._auto_open: list[str] = []
        wanted = [h for h in prefs.get('tabs') or [] if isinstance(h, str) and h and not h.startswith(':')]
        active = prefs.get('active') if isinstance(prefs.get('active'), str) else LOG_TAB
        self.active = LOG_TAB

        with ui.element('div').classes('nf-output-dock'):
            self.view = OutputView(
                active=LOG_TAB,
                font=self.font,
                collapsed=self.collapsed,
                height=self.height,
                auto_collapse=not self._chosen and not self.collapsed,
            )
            self.view.mark('output-panel')
            self.view.on('resize', self._on_resize)
            self.view.on('narrow', lambda _: self.narrow())
            self.view.on('copy_failed', lambda _: ui.notify('The browser refused the clipboard', type='warning'))
            with self.view, ui.element('div').classes('nf-output-bar'):
                with ui.element('div').classes('nf-output-title'):
                    ui.html('<i class="material-icons" aria-hidden="true">terminal</i>', sanitize=False)
                    ui.label('Output').classes('nf-output-name')
                self._strip = ui.element('div').classes('nf-output-tabs').props('role=tablist aria-label="Output tabs"')
                self._add_chip(LOG_TAB, 'System Log')
                ui.element('div').classes('nf-spacer')
                with ui.element('div').classes('nf-output-tools'):
                    self._picker = (
                        ui.select({}, with_input=True, on_change=self._on_pick)
                        .props('dense borderless options-dense hide-dropdown-icon placeholder="Open host…"')
                        .props('aria-label="Open the output of a host" popup-content-class=nf-output-menu')
                        .classes('nf-output-pick')
                        .mark('output-open-host')
                    )
                    self._tool('text_decrease', 'Smaller text', self.smaller, 'output-font-down')
                    self._font_label = ui.label(f'{self.font}px').classes('nf-output-font').mark('output-font')
                    self._tool('text_increase', 'Larger text', self.larger, 'output-font-up')
                    ui.element('span').classes('nf-output-sep')
                    self._tool('content_copy', 'Copy this tab', self.copy, 'output-copy')
                    self._tool('playlist_remove', 'Clear this view (the logs stay)', self.clear, 'output-clear')
                    self._tool('download', 'Download the log', self.download, 'output-download')
                    self._toggle = (
                        ui.button(on_click=lambda _: self.toggle())
                        .props('flat dense round size=sm')
                        .classes('nf-output-tool nf-output-toggle')
                        .mark('output-toggle')
                    )
                    with self._toggle:
                        self._toggle_tip = ui.tooltip('')
        self._show_toggle()
        for host in wanted:
            self._open_tab(host)
        self.select(active if active in self.tabs else LOG_TAB, expand=False, save=False)
        self._refresh(state)
        client = ui.context.client
        _panels[client.id] = self
        client.on_delete(lambda: _panels.pop(client.id, None))
        bind_to_client(client, self.attach)

    # -- building ------------------------------------------------------------------------------------------------
    def _tool(self, icon: str, label: str, action: Callable[[], Any], marker: str) -> ui.button:
        return (
            ui.button(icon=icon, on_click=lambda _: action())
            .props(f'flat dense round size=sm aria-label="{label}"')
            .classes('nf-output-tool')
            .tooltip(label)
            .mark(marker)
        )

    def _add_chip(self, key: str, label: str) -> TabChip:
        with self._strip:
            chip = TabChip(
                key,
                label,
                lambda: self.select(key),
                None if key == LOG_TAB else (lambda: self.close(key)),
            )
        self._chips[key] = chip
        return chip

    def _events_from(self, state: FleetState) -> None:
        tab = self.tabs[LOG_TAB]
        fresh = [e for e in reversed(state.events) if int(e.get('id') or 0) > tab.last_event]
        if fresh:
            tab.last_event = max(int(e.get('id') or 0) for e in fresh)
            tab.add([event_line(e, state.hosts) for e in fresh])

    # -- following the stream ------------------------------------------------------------------------------------
    def attach(self) -> DisposableBase:
        """Follow the stream while the socket is there; (re)load every host tab from its log files."""
        snapshot, self._subscription = self.dashboard.stream.snapshot_and_subscribe(self._on_delta, self._on_error)
        self._events_from(snapshot)
        log_tab = self.tabs[LOG_TAB]
        log_tab.take_outgoing()
        self.view.run_method('reset', LOG_TAB, log_tab.payload())
        for host in list(self.tabs):
            if host != LOG_TAB:
                self._restore(host)
        self._refresh(snapshot)
        return Disposable(self.detach)

    def detach(self) -> None:
        """Stop following; the next attach reloads what was missed."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None
        if self._flush_handle is not None:
            self._flush_handle.dispose()
            self._flush_handle = None
        for task in list(self._tasks):
            task.cancel()

    @property
    def attached(self) -> bool:
        """Whether the panel follows the stream."""
        return self._subscription is not None

    def _on_error(self, exc: Exception) -> None:
        log.error('output panel stream failed: %r', exc)

    def _on_delta(self, item: VersionedChange) -> None:
        change = item.change
        kind = change.type
        if kind is ChangeType.COMMAND_OUTPUT:
            payload = change.payload or {}
            tab = self.tabs.get(str(payload.get('host_id')))
            if tab is not None:
                lines = payload.get('lines') or []
                if tab.loading:
                    tab.held.setdefault(str(change.id), []).extend(lines)
                else:
                    tab.add([output_line(e) for e in lines])
        elif kind is ChangeType.EVENT:
            event = change.payload or {}
            tab = self.tabs[LOG_TAB]
            if int(event.get('id') or 0) > tab.last_event:
                tab.last_event = int(event.get('id') or 0)
                tab.add([event_line(event, self.dashboard.stream.value.hosts)])
        elif kind is ChangeType.COMMAND_STARTED:
            command = change.payload or {}
            host = command.get('host_id')
            if (tab := self.tabs.get(str(host))) is not None:
                tab.latest = str(change.id)
                tab.note(str(change.id), str(command.get('op')))
            elif host and str(host) not in self._auto_open:
                self._auto_open.append(str(host))  # its lines are in the log file the new tab reads
        elif kind is ChangeType.COMMAND_FINISHED:
            command = change.fields or {}
            tab = self.tabs.get(str(command.get('host_id')))
            if tab is not None and not command.get('started_at') and not tab.loading:
                tab.add([blocked_line(command)])  # it never ran, so it has no log file
        elif kind is ChangeType.COMMAND_UPDATED:
            if str((change.fields or {}).get('host_id')) not in self.tabs:
                return
        elif kind is ChangeType.HOST_UPDATED:
            if str(change.id) not in self.tabs and 'hostname' not in (change.fields or {}):
                return
        elif kind not in (ChangeType.HOST_ADDED, ChangeType.HOST_REMOVED):
            return
        if self._flush_handle is None:
            self._flush_handle = self._scheduler.schedule_relative(WINDOW, self._scheduled_flush)

    def _scheduled_flush(self, _scheduler: Any = None, _state: Any = None) -> None:
        self._flush_handle = None
        try:
            self.flush()
        except Exception:
            log.exception('output panel flush failed')

    def flush(self) -> None:
        """Send the lines queued since the last flush and refresh the tab strip."""
        opening, self._auto_open = self._auto_open, []
        for host in opening:
            if host not in self.tabs and self._host_tab_count() < AUTO_OPEN_LIMIT:
                self._open_tab(host)
                self.tabs[host].unread = True  # a command started there: something new to look at
        for key, tab in self.tabs.items():
            if tab.loading:
                continue
            lines, dropped = tab.take_outgoing()
            if lines or dropped:
                self.view.run_method('append', key, lines, dropped)
                if key != self.active or self.collapsed:
                    tab.unread = True
        self._refresh(self.dashboard.stream.value)

    # -- restoring host tabs -------------------------------------------------------------------------------------
    def _restore(self, host: str) -> None:
        tab = self.tabs[host]
        tab.loading, tab.held = True, {}
        tab.reset([])
        if not self.attached:
            return  # attach restores every tab
        self.view.run_method('reset', host, tab.payload())
        task = asyncio.get_running_loop().create_task(self._load(host, tab), name=f'output-restore-{host}')
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, host: str, tab: TabBuffer) -> None:
        ops, store = self.dashboard.ops, self.dashboard.store
        files: dict[str, list[dict[str, Any]]] = {}
        failed = False
        try:
            commands = await store.read(lambda db: host_commands(db, host, RESTORE_COMMANDS))
            for command in commands:
                cid = str(command['id'])
                try:
                    text = await ops.read_output(cid)
                except Exception as exc:  # e.g. the command was pruned meanwhile
                    log.info('no log for %s: %s', cid, exc)
                    text = ''
                files[cid] = await asyncio.to_thread(parse_log, text) if len(text) > 65536 else parse_log(text)
                tab.note(cid, str(command.get('op')))
                tab.latest = cid
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception('restoring the output of %s failed', host)
            failed = True
        if self.tabs.get(host) is not tab:
            return  # closed meanwhile
        # From here to the reset nothing awaits: every later line arrives as a live line of the loaded tab.
        lines: list[dict[str, Any]] = []
        earlier = 0
        for cid, entries in files.items():  # merged only now: a line written while a file was read arrives later
            merged = merge_restored(entries, tab.held.pop(cid, []))
            lines.extend(output_line(e) for e in merged[-TAB_CAP:])
            earlier += max(0, len(merged) - TAB_CAP)
        for cid, held in tab.held.items():  # commands that started after the query
            lines.extend(output_line(e) for e in held)
            if cid not in tab.commands:
                tab.note(cid, '')
        if failed:
            lines.append({'t': None, 'k': 'fail', 'x': 'Could not read the log files; see the dashboard log.'})
        tab.loading, tab.held = False, {}
        tab.reset(lines, earlier)
        self.view.run_method('reset', host, tab.payload())
        self._refresh(self.dashboard.stream.value)

    # -- tabs ----------------------------------------------------------------------------------------------------
    def _host_tab_count(self) -> int:
        return len(self.tabs) - 1

    def _open_tab(self, host: str) -> None:
        if host in self.tabs:
            return
        self.tabs[host] = TabBuffer(cap=TAB_CAP)
        view = self.dashboard.stream.value.hosts.get(host) or {}
        self._add_chip(host, str(view.get('hostname') or host))
        self._restore(host)
        self._save()

    def open(self, host: str, *, focus: bool = True) -> None:
        """Open the host's tab (restoring it from its log files); focus it and show the panel unless told not to."""
        self._open_tab(host)
        if focus:
            self.select(host)

    def close(self, key: str) -> None:
        """Close a host tab (the System Log stays)."""
        if key == LOG_TAB or key not in self.tabs:
            return
        keys = list(self.tabs)
        del self.tabs[key]
        chip = self._chips.pop(key)
        chip.wrap.delete()
        self.view.run_method('drop', key)
        if self.active == key:
            index = keys.index(key)
            self.select(keys[index + 1] if index + 1 < len(keys) else keys[index - 1], expand=False)
        self._save()

    def select(self, key: str, *, expand: bool = True, save: bool = True) -> None:
        """Show a tab (expanding a collapsed panel)."""
        if key not in self.tabs:
            return
        self.active = key
        self.tabs[key].unread = False
        if expand and self.collapsed:
            self._set_collapsed(False)
        self.view.set(active=key)
        self._refresh(self.dashboard.stream.value)
        if save:
            self._save()

    def select_index(self, number: int) -> bool:
        """Show the `number`-th tab, 1-based in strip order (1 is the System Log)."""
        keys = list(self.tabs)
        if not 1 <= number <= len(keys):
            return False
        self.select(keys[number - 1])
        return True

    @property
    def open_tabs(self) -> list[str]:
        """The keys of the open tabs in strip order (the System Log first)."""
        return list(self.tabs)

    def lines(self, key: str | None = None) -> list[dict[str, Any]]:
        """What a tab (default: the active one) holds; nothing for a tab that is not open."""
        tab = self.tabs.get(key or self.active)
        return list(tab.lines) if tab is not None else []

    # -- tools ---------------------------------------------------------------------------------------------------
    def _tab_name(self, key: str) -> str:
        if key == LOG_TAB:
            return 'the System Log'
        return str((self.dashboard.stream.value.hosts.get(key) or {}).get('hostname') or key)

    def smaller(self) -> None:
        """Smaller text (down to 9 px)."""
        self._set_font(self.font - 1)

    def larger(self) -> None:
        """Larger text (up to 20 px)."""
        self._set_font(self.font + 1)

    def _set_font(self, size: int) -> None:
        self.font = _clamp(size, FONT_MIN, FONT_MAX, FONT_DEFAULT)
        self.view.set(font=self.font)
        self._font_label.set_text(f'{self.font}px')
        self._save()

    def copy(self) -> None:
        """Put the active tab's lines on the clipboard."""
        tab = self.tabs[self.active]
        if not tab.lines:
            ui.notify(f'Nothing to copy from {self._tab_name(self.active)}')
            return
        self.view.run_method('copy', tab.text())
        ui.notify(f'Copied {len(tab.lines)} lines from {self._tab_name(self.active)}', type='positive')

    def clear(self) -> None:
        """Empty the active tab's view (the log files are untouched)."""
        tab = self.tabs[self.active]
        count = tab.clear()
        tab.unread = False
        self.view.run_method('reset', self.active, tab.payload())
        ui.notify(f'Cleared {count} lines from {self._tab_name(self.active)}')

    def download(self) -> None:
        """Download the active tab: a host's newest command log, or the System Log as shown."""
        if self.active == LOG_TAB:
            stamp = datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')
            text = self.tabs[LOG_TAB].text() + '\n'
            ui.download.content(text.encode(), f'nixfleet-system-log-{stamp}.txt', 'text/plain; charset=utf-8')
            return
        tab = self.tabs[self.active]
        if tab.latest is None:
            ui.notify(f'{self._tab_name(self.active)} has no command log yet')
            return
        download_command_log(tab.latest, self._tab_name(self.active), tab.commands.get(tab.latest))

    def toggle(self) -> None:
        """Collapse or expand the panel (this browser's choice from now on)."""
        self._chosen = True
        self._set_collapsed(not self.collapsed)
        if not self.collapsed:
            self.tabs[self.active].unread = False
            self._refresh(self.dashboard.stream.value)
        self._save()

    def narrow(self) -> None:
        """The browser's screen is narrow (a phone): collapse the panel unless this browser chose otherwise."""
        if not self._chosen and not self.collapsed:
            self._set_collapsed(True)

    def _set_collapsed(self, collapsed: bool) -> None:
        self.collapsed = collapsed
        self.view.set(collapsed=collapsed, autocollapse=False)
        self._show_toggle()

    def _show_toggle(self) -> None:
        label = 'Expand the panel' if self.collapsed else 'Collapse the panel'
        self._toggle.props['icon'] = 'expand_less' if self.collapsed else 'expand_more'
        self._toggle.props['aria-label'] = label
        self._toggle_tip.set_text(label)

    def _on_resize(self, event: Any) -> None:
        self.height = _clamp((event.args or {}).get('height'), HEIGHT_MIN, HEIGHT_MAX, HEIGHT_DEFAULT)
        self.view.set(height=self.height)
        self._save()

    def _on_pick(self, event: Any) -> None:
        host = event.value
        if host:
            self._picker.set_value(None)
            self.open(str(host))

    def _save(self) -> None:
        prefs = {
            'collapsed': self.collapsed if self._chosen else None,
            'height': self.height,
            'font': self.font,
            'tabs': [k for k in self.tabs if k != LOG_TAB],
            'active': self.active,
        }
        if self._prefs_store.get(PREFS_KEY) != prefs:
            self._prefs_store[PREFS_KEY] = prefs

    # -- chrome --------------------------------------------------------------------------------------------------
    def _refresh(self, state: FleetState) -> None:
        """Tab names, colours, status dots and unread markers; the host picker; the active command's progress."""
        for key, chip in self._chips.items():
            tab = self.tabs[key]
            if key == LOG_TAB:
                chip.show(
                    label='System Log',
                    color='',
                    tone='log',
                    title='Fleet events',
                    active=key == self.active,
                    unread=tab.unread,
                )
                continue
            host = state.hosts.get(key) or {}
            command = state.commands.get(tab.latest or '') or {}
            status = command.get('status') or ''
            label = str(host.get('hostname') or key)
            title = f'{label}: {command.get("op")} {status}' if command else label
            chip.show(
                label=label,
                color=str(host.get('theme_color') or ''),
                tone=status_tone(status),
                title=title,
                active=key == self.active,
                unread=tab.unread,
            )
        hosts = sorted(state.hosts, key=lambda h: str(state.hosts[h].get('hostname') or h).lower())
        if hosts != self._host_options:
            self._host_options = hosts
            self._picker.set_options({h: str(state.hosts[h].get('hostname') or h) for h in hosts})
        self.view.set(progress=self._progress_text(state))

    def _progress_text(self, state: FleetState) -> str:
        if self.active == LOG_TAB:
            return ''
        command = state.commands.get(self.tabs[self.active].latest or '') or {}
        if not command:
            return ''
        text = f'{command.get("op")} · {str(command.get("status") or "").lower().replace("_", " ")}'
        phases = [
            f'{name} {p.get("current")}/{p.get("total")}'
            for name, p in (command.get('progress') or {}).items()
            if isinstance(p, dict) and p.get('total') and status_tone(command.get('status')) == 'running'
        ]
        return ' · '.join([text, *phases[-1:]])
