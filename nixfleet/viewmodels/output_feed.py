"""The output panel's tabs as data, NiceGUI-free: which deltas add lines to which tab, and which open a tab."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nixfleet.streams.changes import ChangeType, VersionedChange
from nixfleet.streams.state import FleetState
from nixfleet.viewmodels.output_buffer import LOG_CAP, LOG_TAB, TabBuffer, blocked_line, event_line, output_line

#: Changes that may alter the strip (names, colours, status dots) besides the ones that add lines.
_CHROME = frozenset({ChangeType.HOST_ADDED, ChangeType.HOST_REMOVED})


class OutputFeed:
    """The open tabs (the System Log first) and the hosts whose started command should open theirs."""

    def __init__(self, state: FleetState) -> None:
        self.tabs: dict[str, TabBuffer] = {LOG_TAB: TabBuffer(cap=LOG_CAP)}
        #: Hosts whose command started: their tabs open at the next flush (elements are not made inside `emit`).
        self.auto_open: list[str] = []
        #: Hosts removed from the fleet while their tab is open: their tabs close at the next flush.
        self.removed: list[str] = []
        self.events_from(state)

    def events_from(self, state: FleetState) -> None:
        """Add the snapshot's events the System Log does not have yet."""
        tab = self.tabs[LOG_TAB]
        fresh = [e for e in reversed(state.events) if int(e.get('id') or 0) > tab.last_event]
        if fresh:
            tab.last_event = max(int(e.get('id') or 0) for e in fresh)
            tab.add([event_line(e, state.hosts) for e in fresh])

    def take(self, item: VersionedChange, hosts: Mapping[str, Mapping[str, Any]]) -> bool:
        """Take one change into the tabs; True if the panel should flush (lines or its strip may have changed)."""
        change = item.change
        kind = change.type
        if kind is ChangeType.COMMAND_OUTPUT:
            self._output(change.payload or {}, str(change.id))
        elif kind is ChangeType.EVENT:
            event = change.payload or {}
            tab = self.tabs[LOG_TAB]
            if int(event.get('id') or 0) > tab.last_event:
                tab.last_event = int(event.get('id') or 0)
                tab.add([event_line(event, hosts)])
        elif kind is ChangeType.COMMAND_STARTED:
            self._started(change.payload or {}, str(change.id))
        elif kind is ChangeType.COMMAND_FINISHED:
            command = change.fields or {}
            host_tab = self.tabs.get(str(command.get('host_id')))
            if host_tab is not None and not command.get('started_at') and not host_tab.loading:
                host_tab.add([blocked_line(command)])  # it never ran, so it has no log file
        elif kind is ChangeType.COMMAND_UPDATED:
            return str((change.fields or {}).get('host_id')) in self.tabs
        elif kind is ChangeType.HOST_UPDATED:
            return str(change.id) in self.tabs or 'hostname' in (change.fields or {})
        elif kind is ChangeType.HOST_REMOVED and str(change.id) in self.tabs:
            self.removed.append(str(change.id))
        else:
            return kind in _CHROME
        return True

    def _output(self, payload: Mapping[str, Any], command_id: str) -> None:
        tab = self.tabs.get(str(payload.get('host_id')))
        if tab is not None:
            lines = payload.get('lines') or []
            if tab.loading:
                tab.held.setdefault(command_id, []).extend(lines)
            else:
                tab.add([output_line(e) for e in lines])

    def _started(self, command: Mapping[str, Any], command_id: str) -> None:
        host = command.get('host_id')
        if (tab := self.tabs.get(str(host))) is not None:
            tab.latest = command_id
            tab.note(command_id, str(command.get('op')))
        elif host and str(host) not in self.auto_open:
            self.auto_open.append(str(host))  # its lines are in the log file the new tab reads
