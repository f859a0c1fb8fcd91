"""The output panel: a System Log tab and one tab per host with the live output of its commands.

A host tab is restored from the log files of the host's newest commands when it opens (and again after the tab's
socket was away: nixfleet.viewmodels.output_restore), and follows `command_output` changes live. Each tab keeps at
most `TAB_CAP` lines; the browser shows "… N earlier lines" and Download serves the whole log. Bursts are coalesced
per `WINDOW` on the loop's scheduler. Collapsed state, height, font size and the open tabs are kept per browser
(nixfleet.ui.output_prefs); until a browser collapses or expands the panel itself, a narrow screen (a phone) shows it
collapsed to one row of tabs (`narrow`), and opened it takes at most 40 % of the screen's height.

The panel follows the state as a `DeltaFollower` of its tab's one subscription (nixfleet.viewmodels.table_sync);
other parts of the tab reach it only through the tab's `PageEvents` (`view_output`, `output_tab`, `front_output`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nicegui import ui
from reactivex.abc import DisposableBase, SchedulerBase

from nixfleet.streams.changes import VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.ui.downloads import download_command_log
from nixfleet.ui.output_prefs import (
    FONT_DEFAULT,
    FONT_MAX,
    FONT_MIN,
    HEIGHT_DEFAULT,
    HEIGHT_MAX,
    HEIGHT_MIN,
    PanelPrefs,
    clamp,
)
from nixfleet.ui.output_strip import TabStrip, progress_text
from nixfleet.ui.output_tools import OutputTools
from nixfleet.ui.toasts import toast
from nixfleet.viewmodels.output_buffer import (
    LOG_TAB,
    TAB_CAP,
    TabBuffer,
)
from nixfleet.viewmodels.output_feed import OutputFeed
from nixfleet.viewmodels.output_restore import OutputReader, read_host_logs, restored_lines

if TYPE_CHECKING:
    from nixfleet.journal import Journal

log = logging.getLogger(__name__)

#: Coalescing window for output bursts (seconds).
WINDOW = 0.1
#: A command that starts opens its host's tab (without focusing it) while fewer host tabs than this are open.
AUTO_OPEN_LIMIT = 8


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


class OutputPanel:
    """The output panel of one browser tab (a `DeltaFollower` of the tab's state subscription)."""

    def __init__(self, stream: FleetStateStream, ops: OutputReader, journal: Journal, scheduler: SchedulerBase) -> None:
        self._stream = stream
        self._ops = ops
        self._journal = journal
        self._scheduler = scheduler
        self._prefs = PanelPrefs()
        self.collapsed, self.height, self.font = self._prefs.collapsed, self._prefs.height, self._prefs.font
        self.feed = OutputFeed(stream.value)
        #: The open tabs' buffers by key (the System Log first).
        self.tabs = self.feed.tabs
        self._following = False
        self._flush_handle: DisposableBase | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._host_options: list[str] = []
        self.active = LOG_TAB
        self._build()
        for host in self._prefs.tabs:
            self._open_tab(host)
        self.select(self._prefs.active if self._prefs.active in self.tabs else LOG_TAB, expand=False, save=False)
        self._refresh(stream.value)

    # -- building ------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        with ui.element('div').classes('nf-output-dock'):
            self.view = OutputView(
                active=LOG_TAB,
                font=self.font,
                collapsed=self.collapsed,
                height=self.height,
                auto_collapse=not self._prefs.chosen and not self.collapsed,
            )
            self.view.mark('output-panel')
            self.view.on('resize', self._on_resize)
            self.view.on('narrow', lambda _: self.narrow())
            self.view.on('copy_failed', lambda _: toast('The browser refused the clipboard', 'warning'))
            with self.view, ui.element('div').classes('nf-output-bar'):
                with ui.element('div').classes('nf-output-title'):
                    ui.html('<i class="material-icons" aria-hidden="true">terminal</i>', sanitize=False)
                    ui.label('Output').classes('nf-output-name')
                self._strip = TabStrip()
                self._strip.add(LOG_TAB, 'System Log', lambda: self.select(LOG_TAB), None)
                ui.element('div').classes('nf-spacer')
                self._tools = OutputTools(self, font=self.font)
        self._tools.show_collapsed(self.collapsed)

    # -- following the tab's deltas (DeltaFollower) --------------------------------------------------------------
    def attached(self, snapshot: FleetState) -> None:
        """The tab follows the stream again: catch up the System Log and (re)load every host tab from its log files."""
        self._following = True
        self.feed.events_from(snapshot)
        log_tab = self.tabs[LOG_TAB]
        log_tab.take_outgoing()
        self.view.run_method('reset', LOG_TAB, log_tab.payload())
        for host in [h for h in self.tabs if h in self._host_options and h not in snapshot.hosts]:
            self.close(host)  # removed from the fleet while this tab was away
        for host in list(self.tabs):
            if host != LOG_TAB:
                self._restore(host)
        self._refresh(snapshot)

    def detached(self) -> None:
        """Stop following; the next `attached` reloads what was missed."""
        self._following = False
        if self._flush_handle is not None:
            self._flush_handle.dispose()
            self._flush_handle = None
        for task in list(self._tasks):
            task.cancel()

    @property
    def following(self) -> bool:
        """Whether the panel follows the stream."""
        return self._following

    def delta(self, item: VersionedChange) -> None:
        """Take one change: queue its lines, note started commands, refresh the strip at the next flush."""
        if self.feed.take(item, self._stream.value.hosts) and self._flush_handle is None:
            self._flush_handle = self._scheduler.schedule_relative(WINDOW, self._scheduled_flush)

    def _scheduled_flush(self, _scheduler: Any = None, _state: Any = None) -> None:
        self._flush_handle = None
        try:
            self.flush()
        except Exception:
            log.exception('output panel flush failed')

    def flush(self) -> None:
        """Send the lines queued since the last flush and refresh the tab strip."""
        opening, self.feed.auto_open = self.feed.auto_open, []
        gone, self.feed.removed = self.feed.removed, []
        for host in gone:
            if host not in self._stream.value.hosts:  # not re-added meanwhile
                self.close(host)
        for host in opening:
            if host not in self.tabs and len(self.tabs) - 1 < AUTO_OPEN_LIMIT:
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
        self._refresh(self._stream.value)

    # -- restoring host tabs -------------------------------------------------------------------------------------
    def _restore(self, host: str) -> None:
        tab = self.tabs[host]
        tab.loading, tab.held = True, {}
        tab.reset([])
        if not self._following:
            return  # `attached` restores every tab
        self.view.run_method('reset', host, tab.payload())
        task = asyncio.get_running_loop().create_task(self._load(host, tab), name=f'output-restore-{host}')
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, host: str, tab: TabBuffer) -> None:
        files, failed = await read_host_logs(self._ops, self._journal, host, tab)
        if self.tabs.get(host) is not tab:
            return  # closed meanwhile
        # From here to the reset nothing awaits: every later line arrives as a live line of the loaded tab.
        lines, earlier = restored_lines(files, tab, failed=failed)
        tab.loading, tab.held = False, {}
        tab.reset(lines, earlier)
        self.view.run_method('reset', host, tab.payload())
        self._refresh(self._stream.value)

    # -- tabs ----------------------------------------------------------------------------------------------------
    def _open_tab(self, host: str) -> None:
        if host in self.tabs:
            return
        self.tabs[host] = TabBuffer(cap=TAB_CAP)
        view = self._stream.value.hosts.get(host) or {}
        self._strip.add(host, str(view.get('hostname') or host), lambda: self.select(host), lambda: self.close(host))
        self._restore(host)
        self._save()

    def open(self, host: str, *, focus: bool = True) -> None:
        """Open the host's tab (restoring it from its log files); focus it and show the panel unless told not to."""
        self._open_tab(host)
        if focus:
            self.select(host)

    def front(self, host: str) -> None:
        """Bring the host's tab to the front (opening it), without expanding a collapsed panel: a command this tab's
        user started shows there, not behind the System Log."""
        self._open_tab(host)
        self.select(host, expand=False)

    def close(self, key: str) -> None:
        """Close a host tab (the System Log stays)."""
        if key == LOG_TAB or key not in self.tabs:
            return
        keys = list(self.tabs)
        del self.tabs[key]
        self._strip.remove(key)
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
        self._refresh(self._stream.value)
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
        return str((self._stream.value.hosts.get(key) or {}).get('hostname') or key)

    def smaller(self) -> None:
        """Smaller text (down to 9 px)."""
        self._set_font(self.font - 1)

    def larger(self) -> None:
        """Larger text (up to 20 px)."""
        self._set_font(self.font + 1)

    def _set_font(self, size: int) -> None:
        self.font = clamp(size, FONT_MIN, FONT_MAX, FONT_DEFAULT)
        self.view.set(font=self.font)
        self._tools.font_label.set_text(f'{self.font}px')
        self._save()

    def copy(self) -> None:
        """Put the active tab's lines on the clipboard."""
        tab = self.tabs[self.active]
        if not tab.lines:
            toast(f'Nothing to copy from {self._tab_name(self.active)}')
            return
        self.view.run_method('copy', tab.text())
        toast(f'Copied {len(tab.lines)} lines from {self._tab_name(self.active)}', 'positive')

    def clear(self) -> None:
        """Empty the active tab's view (the log files are untouched)."""
        tab = self.tabs[self.active]
        count = tab.clear()
        tab.unread = False
        self.view.run_method('reset', self.active, tab.payload())
        toast(f'Cleared {count} lines from {self._tab_name(self.active)}')

    def download(self) -> None:
        """Download the active tab: a host's newest command log, or the System Log as shown."""
        if self.active == LOG_TAB:
            stamp = datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')
            text = self.tabs[LOG_TAB].text() + '\n'
            ui.download.content(text.encode(), f'nixfleet-system-log-{stamp}.txt', 'text/plain; charset=utf-8')
            return
        tab = self.tabs[self.active]
        if tab.latest is None:
            toast(f'{self._tab_name(self.active)} has no command log yet')
            return
        download_command_log(tab.latest, self._tab_name(self.active), tab.commands.get(tab.latest))

    def toggle(self) -> None:
        """Collapse or expand the panel (this browser's choice from now on)."""
        self._prefs.chosen = True
        self._set_collapsed(not self.collapsed)
        if not self.collapsed:
            self.tabs[self.active].unread = False
            self._refresh(self._stream.value)
        self._save()

    def narrow(self) -> None:
        """The browser's screen is narrow (a phone): collapse the panel unless this browser chose otherwise."""
        if not self._prefs.chosen and not self.collapsed:
            self._set_collapsed(True)

    def _set_collapsed(self, collapsed: bool) -> None:
        self.collapsed = collapsed
        self.view.set(collapsed=collapsed, autocollapse=False)
        self._tools.show_collapsed(collapsed)

    def _on_resize(self, event: Any) -> None:
        self.height = clamp((event.args or {}).get('height'), HEIGHT_MIN, HEIGHT_MAX, HEIGHT_DEFAULT)
        self.view.set(height=self.height)
        self._save()

    def on_pick(self, event: Any) -> None:
        """Open the host picked in the tools (and clear the picker)."""
        host = event.value
        if host:
            self._tools.picker.set_value(None)
            self.open(str(host))

    def _save(self) -> None:
        self._prefs.save(
            collapsed=self.collapsed, height=self.height, font=self.font, tabs=list(self.tabs), active=self.active
        )

    # -- chrome --------------------------------------------------------------------------------------------------
    def _refresh(self, state: FleetState) -> None:
        """Tab names, colours, status dots and unread markers; the host picker; the active command's progress."""
        self._strip.show(self.tabs, self.active, state)
        hosts = sorted(state.hosts, key=lambda h: str(state.hosts[h].get('hostname') or h).lower())
        if hosts != self._host_options:
            self._host_options = hosts
            self._tools.picker.set_options({h: str(state.hosts[h].get('hostname') or h) for h in hosts})
        command = {} if self.active == LOG_TAB else state.commands.get(self.tabs[self.active].latest or '') or {}
        self.view.set(progress=progress_text(command))
