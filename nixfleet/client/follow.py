"""Follow a run (commands of a pipeline, or of one dispatch) live over `/api/sync`.

The follower keeps a `StateMirror` of the fleet state and reads `command_output`, `command_finished` and
`pipeline_updated` deltas in version order. It connects *before* the run is started, so no delta of the run can be
missed; when the mirror asks for a resync (a version gap, a beacon mismatch, a reconnect after the dashboard
restarted) it fetches the output of each followed command over HTTP and reports only the lines not yet reported.
That read says the state version it is exact for, and the `command_output` deltas up to that version (they may
arrive after the read, queued behind the new state) are skipped, their lines being in it: every line is reported
once. The server trims finished commands from the live state (a `pruned` change); a followed command that left the
mirror before its end was seen (after a resync) is read over HTTP instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect

from nixfleet.client.api import ApiClient, ApiError
from nixfleet.streams.mirror import StateMirror, Verdict, change_from_wire
from nixfleet.streams.state import FleetState

#: How long the follower keeps trying to reconnect after losing `/api/sync`.
RECONNECT_WINDOW = 60.0
#: Longest single wait for a message (deadlines are checked at least this often).
POLL = 1.0

Matcher = Callable[[Mapping[str, Any]], bool]
Done = Callable[[FleetState], bool]


class RunSink(Protocol):
    """Receives what a followed run does."""

    def output(self, command: Mapping[str, Any], lines: list[dict[str, Any]]) -> None:
        """New output lines of a command."""

    def finished(self, command: Mapping[str, Any]) -> None:
        """A command reached its terminal state."""


class FollowLost(Exception):
    """`/api/sync` could not be (re)connected within the window."""


class SyncFollower:
    """A `/api/sync` connection with a state mirror; `follow` reports one run's output until it is done."""

    def __init__(self, api: ApiClient, sink: RunSink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.sink = sink
        self.mirror = StateMirror()
        self._clock = clock
        self._ws: ClientConnection | None = None
        self._reported: dict[str, int] = {}
        #: Per command caught up over HTTP: the sync version that read was exact for (its older deltas are in it).
        self._read_at: dict[str, int] = {}
        self._finished: set[str] = set()
        #: Ids of the commands followed so far (matched, or announced by `expect`).
        self._followed: set[str] = set()

    # -- connection ------------------------------------------------------------------------------------------
    def open(self, timeout: float = 10.0) -> None:
        """Connect and load the initial state (call before starting the run)."""
        try:
            self._ws = connect(
                self.api.config.sync_url,
                additional_headers=self.api.config.headers,
                open_timeout=timeout,
                max_size=None,
                ping_interval=20,
                ping_timeout=60,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            code = 'unauthorized' if status == 401 else 'http_error'
            raise ApiError(status, code, f'/api/sync refused the connection (HTTP {status})') from None
        except (OSError, TimeoutError, InvalidURI, WebSocketException) as exc:
            raise ApiError(0, 'unreachable', f'cannot open {self.api.config.sync_url}: {exc}') from None
        deadline = self._clock() + timeout
        while self.mirror.state is None or self.mirror.awaiting_state:
            self._handle(self._receive(deadline), None)
            if self._clock() > deadline:
                raise ApiError(0, 'unreachable', '/api/sync sent no initial state')

    def close(self) -> None:
        """Close the connection."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def __enter__(self) -> SyncFollower:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _receive(self, deadline: float | None) -> dict[str, Any] | None:
        assert self._ws is not None
        wait = POLL if deadline is None else max(0.0, min(POLL, deadline - self._clock()))
        try:
            raw = self._ws.recv(timeout=wait)
        except TimeoutError:
            return None
        message = json.loads(raw)
        return message if isinstance(message, dict) else None

    def _reconnect(self) -> None:
        self.close()
        give_up, delay = self._clock() + RECONNECT_WINDOW, 0.5
        while True:
            try:
                self.open()
                return
            except ApiError as exc:
                if exc.status == 401 or self._clock() + delay > give_up:
                    raise FollowLost(f'lost the live stream and could not reconnect: {exc.message}') from None
            time.sleep(delay)  # a blocking CLI waiting for the dashboard to come back
            delay = min(delay * 2, 5.0)

    # -- following -------------------------------------------------------------------------------------------
    def expect(self, command_ids: set[str]) -> None:
        """Follow these commands by id too (e.g. just dispatched: their end is reported even if trimmed first)."""
        self._followed |= command_ids

    def ended(self, command_id: str) -> bool:
        """Whether the command's end has been reported."""
        return command_id in self._finished

    def follow(self, match: Matcher, done: Done, *, timeout: float | None = None) -> bool:
        """Report output and ends of the commands `match` accepts until `done(state)`; False on timeout."""
        deadline = None if timeout is None else self._clock() + timeout
        self._catch_up(match, resynced=False)  # connected before the run started: its deltas are all on their way
        while True:
            state = self.mirror.state
            if state is not None and not self.mirror.awaiting_state and done(state):
                return True
            if deadline is not None and self._clock() >= deadline:
                return False
            try:
                message = self._receive(deadline)
            except ConnectionClosed:
                self._reconnect()
                self._catch_up(match)
                continue
            if message is not None:
                self._handle(message, match)

    def _handle(self, message: dict[str, Any] | None, match: Matcher | None) -> None:
        if message is None:
            return
        verdict = self.mirror.message(message)
        if verdict is Verdict.RESYNC:
            assert self._ws is not None
            self._ws.send(json.dumps({'type': 'get_state'}))
            return
        if verdict is not Verdict.APPLIED or match is None:
            return
        if message.get('type') in ('init', 'full_state'):
            self._catch_up(match)
            return
        payload = message.get('payload') or {}
        change = change_from_wire(payload.get('change', payload))
        self._on_change(change.type.value, str(change.id), change.payload, match, int(message['version']))

    def _on_change(self, kind: str, command_id: str, payload: Any, match: Matcher, version: int) -> None:
        state = self.mirror.state
        command = state.commands.get(command_id) if state is not None else None
        if command is None or not match(command):
            return
        self._followed.add(command_id)
        if kind == 'command_output':
            lines = list((payload or {}).get('lines') or [])
            read_at = self._read_at.get(command_id)
            if lines and (read_at is None or version > read_at):  # older ones were in what the catch-up read
                self._reported[command_id] = self._reported.get(command_id, 0) + len(lines)
                self.sink.output(command, lines)
        elif kind == 'command_finished' and command_id not in self._finished:
            self._finished.add(command_id)
            self.sink.finished(command)

    def _catch_up(self, match: Matcher, *, resynced: bool = True) -> None:
        """Report what the followed commands did while we were not receiving their deltas.

        After a resync, a followed command missing from the new state left it (the server trims ended commands):
        its end and output are read over HTTP.
        """
        state = self.mirror.state
        if state is None:
            return
        self._read_at.clear()  # versions of an earlier connection say nothing about this one's deltas
        for command_id, command in sorted(state.commands.items(), key=lambda item: str(item[1].get('created_at'))):
            if match(command):
                self._followed.add(command_id)
                self._report(command_id, command)
        for command_id in sorted(self._followed - state.commands.keys() - self._finished) if resynced else ():
            command = self.api.command(command_id)  # trimmed from the live state: ended, or not in our copy yet
            if command.get('terminal'):
                self._report(command_id, command)

    def _report(self, command_id: str, command: Mapping[str, Any]) -> None:
        """Report the command's output not reported yet, and its end once."""
        if command.get('status') not in ('BLOCKED', 'SKIPPED') or command_id in self._reported:
            log = self.api.output_log(command_id)
            if log.version is not None:
                self._read_at[command_id] = log.version
            fresh = log.entries[self._reported.get(command_id, 0) :]
            if fresh:
                self._reported[command_id] = len(log.entries)
                self.sink.output(command, fresh)
        if command.get('terminal') and command_id not in self._finished:
            self._finished.add(command_id)
            self.sink.finished(command)
