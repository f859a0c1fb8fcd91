"""The command state machine: the one owner of command state and of "host is busy"; `Lifecycle` (lifecycle.py)
adds the user actions and restart recovery on top."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nixfleet import causes, protocol
from nixfleet.compartments.source import CompartmentSource, ViewCompartments
from nixfleet.config import Settings
from nixfleet.events import EventEntry, EventLog, with_event
from nixfleet.gateway.agents import AgentGateway
from nixfleet.hosts import HostRegistry
from nixfleet.journal.records import command_row
from nixfleet.models import NOT_RUN, TERMINAL, CommandStatus, ErrorCode, EventCategory, EventLevel
from nixfleet.ops import commands as journal
from nixfleet.ops import output_cap
from nixfleet.ops.commands import Command
from nixfleet.ops.logs import CommandLogs
from nixfleet.store import Store
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: Called with every command that just ended (after it is journaled and announced, before its host is re-derived
#: and its waiters wake): the compartment service records the command's result here.
FinishedListener = Callable[[Command], Awaitable[None] | None]

_LEVELS = {
    CommandStatus.SUCCESS: EventLevel.SUCCESS,
    CommandStatus.PARTIAL: EventLevel.WARN,
    CommandStatus.SUSPICIOUS: EventLevel.WARN,
    CommandStatus.KILLED: EventLevel.WARN,
    CommandStatus.CANCELLED: EventLevel.INFO,
    CommandStatus.SKIPPED: EventLevel.INFO,
    CommandStatus.BLOCKED: EventLevel.WARN,
}
#: Failures whose output says why: the line that does is kept on the command (`error_line`).
_OUTPUT_EXPLAINS = frozenset({CommandStatus.ERROR, CommandStatus.TIMEOUT})


class CommandError(Exception):
    """A user action on a command was refused; carries a stable code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CommandStateMachine:
    """The one owner of command state: reserve, start, transition, finish, and waiting for an end.

    Every command lives in `active` (one slot per host, `_fleet` for fleet-wide ops) from the moment it is reserved
    until it reaches a TERMINAL state. A transition is decided and applied to the in-memory record synchronously (no
    `await` between the check and the change, so two triggers cannot both apply), then journaled, then emitted as
    exactly one change, then (for transitions a human cares about) logged as an event.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        stream: FleetStateStream,
        events: EventLog,
        hosts: HostRegistry,
        gateway: AgentGateway,
        logs: CommandLogs,
        clock: Clock,
        *,
        compartments: CompartmentSource | None = None,
        finished_listeners: Sequence[FinishedListener] = (),
    ) -> None:
        """`compartments` is where checks read compartment statuses (default: the host view's `compartments`)."""
        self.settings = settings
        self.store = store
        self.stream = stream
        self.events = events
        self.hosts = hosts
        self.gateway = gateway
        self.logs = logs
        self.clock = clock
        self.compartments: CompartmentSource = compartments if compartments is not None else ViewCompartments()
        self.active: dict[str, Command] = {}
        #: Each host's view field `last_outcome`: its agent command that ended last (`ran_on_agent`, `outcome`).
        self.last_outcomes: dict[str, dict[str, Any]] = {}
        self.finished_listeners: tuple[FinishedListener, ...] = tuple(finished_listeners)
        self._waiters: dict[str, list[asyncio.Future[Command]]] = {}

    # -- queries -------------------------------------------------------------------------------------------------
    def active_for(self, host: str) -> Command | None:
        """The host's active command, if any."""
        return self.active.get(host)

    def find_active(self, command_id: str) -> Command | None:
        """An active command by id."""
        return next((c for c in self.active.values() if c.id == command_id), None)

    async def get(self, command_id: str) -> Command | None:
        """A command by id, active or from the journal."""
        if (cmd := self.find_active(command_id)) is not None:
            return cmd
        row = await self.store.read(lambda db: command_row(db, command_id))
        return Command.from_row(row) if row else None

    def derive(self, view: dict[str, Any]) -> dict[str, Any]:
        """Host-view deriver: busy-ness comes only from here."""
        cmd = self.active.get(view['id'])
        return {
            'busy': cmd is not None,
            'pending_command': cmd.op if cmd else None,
            'command_id': cmd.id if cmd else None,
            'command_status': cmd.status.value if cmd else None,
            'last_outcome': self.last_outcomes.get(view['id']),
        }

    # -- creation ------------------------------------------------------------------------------------------------
    def new_command(self, op: str, host: str | None, actor: str, **fields: Any) -> Command:
        """A fresh command record (not yet reserved or journaled)."""
        now = self.clock()
        cmd = Command(
            id=journal.new_id(now),
            host=host,
            op=op,
            status=CommandStatus.PENDING,
            actor=actor,
            created_at=now,
            **fields,
        )
        cmd.output_file = str(self.logs.path_for(host, cmd.id))
        return cmd

    def reserve(self, cmd: Command) -> Command | None:
        """Take the host's slot for `cmd`; return the command already holding it instead, if any."""
        holder = self.active.get(cmd.key)
        if holder is not None:
            return holder
        self.active[cmd.key] = cmd
        return None

    def unreserve(self, cmd: Command) -> None:
        """Give back the slot `cmd` took but never used (its request was refused before anything was journaled)."""
        if self.active.get(cmd.key) is cmd:
            del self.active[cmd.key]

    async def record_ended(
        self, cmd: Command, status: CommandStatus, *, code: str | None, message: str, failure: bool = True
    ) -> Command:
        """Journal a command that never ran (BLOCKED, SKIPPED, CANCELLED) in one step; `message` is its error, or
        (`failure=False`, e.g. a pipeline stage whose goal already held) its message."""
        now = self.clock()
        cmd.status, cmd.finished_at, cmd.code, cmd.error = status, now, code, message
        if not failure:
            cmd.error, cmd.message = None, message
        cmd.output_file = None
        blocked = (
            self.events.entry(
                f'op:{cmd.op}',
                f'{cmd.op} on {cmd.host or "fleet"} blocked: {message}',
                category=EventCategory.AUDIT,
                level=EventLevel.WARN,
                actor=cmd.actor,
                host=cmd.host,
                details={'command_id': cmd.id, 'code': code},
            )
            if status is CommandStatus.BLOCKED
            else None
        )
        await self._journal(cmd, blocked)
        self.stream.emit(Change(ChangeType.COMMAND_FINISHED, id=cmd.id, fields=cmd.view()))
        if blocked is not None:
            self.events.publish(blocked)
        self._resolve(cmd)
        return cmd

    async def begin(self, cmd: Command) -> None:
        """Start a reserved command: journal it EXECUTING, announce it once, and send it to the agent."""
        now = self.clock()
        cmd.status, cmd.started_at = CommandStatus.EXECUTING, now
        started = self.events.entry(
            f'op:{cmd.op}',
            f'{cmd.op} started on {cmd.host or "fleet"}' + (' (forced)' if cmd.forced else ''),
            category=EventCategory.AUDIT,
            actor=cmd.actor,
            host=cmd.host,
            details={'command_id': cmd.id, 'pipeline_id': cmd.pipeline_id},
        )
        await self._journal(cmd, started)  # a command is never journaled as started without its "started" event
        self.stream.emit(Change(ChangeType.COMMAND_STARTED, id=cmd.id, payload=cmd.view()))
        if cmd.output_file is not None:  # after the start: a follower never gets output of a command it has not got
            self.logs.write_meta(
                cmd.id,
                cmd.host,
                self.logs.path_for(cmd.host, cmd.id),
                f'Command: {cmd.op} ({cmd.id})',
                f'Host: {cmd.host or "fleet"}',
                f'Started: {iso(now)} by {cmd.actor}',
            )
        self._host_changed(cmd)
        self.events.publish(started)
        if cmd.agent_command and cmd.host and not self.gateway.send(cmd.host, protocol.command(cmd.agent_command)):
            await self.finish(
                cmd,
                CommandStatus.ERROR,
                code=ErrorCode.AGENT_UNREACHABLE,
                exit_code=None,
                error=f'could not send {cmd.agent_command} to {cmd.host}: agent not connected',
            )

    # -- transitions ---------------------------------------------------------------------------------------------
    async def update(
        self,
        cmd: Command,
        status: CommandStatus | None = None,
        *,
        event: str | None = None,
        level: EventLevel = EventLevel.INFO,
        actor: str = 'system',
    ) -> None:
        """Journal and emit a non-terminal change of `cmd` (fields already set by the caller)."""
        if status is not None:
            cmd.status = status
        await self.store.write(journal.save(cmd.row()))
        self.stream.emit(Change(ChangeType.COMMAND_UPDATED, id=cmd.id, fields=cmd.view()))
        if status is not None:
            self._host_changed(cmd)
        if event:
            await self.events.record(
                f'op:{cmd.op}', event, level=level, actor=actor, host=cmd.host, details={'command_id': cmd.id}
            )

    async def finish(
        self,
        cmd: Command,
        status: CommandStatus,
        *,
        actor: str = 'system',
        exit_code: int | None = None,
        error: str | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> bool:
        """End a command in a TERMINAL state (at most once); free its host; wake whoever waits for it."""
        if cmd.terminal or status not in TERMINAL:
            return False
        now = self.clock()
        cmd.status, cmd.finished_at = status, now
        cmd.exit_code = exit_code if exit_code is not None else cmd.exit_code
        cmd.error, cmd.code = error or cmd.error, code or cmd.code
        cmd.message = message or cmd.message
        if cmd.host is not None and (row := self.hosts.rows.get(cmd.host)) is not None:
            cmd.track.generation = str(row.get('generation') or '')
        if self.active.get(cmd.key) is cmd:
            del self.active[cmd.key]
        if cmd.output_file is not None:
            if (dropped := output_cap.summary(cmd.track)) is not None:
                self.logs.append(cmd.id, cmd.host, self.logs.path_for(cmd.host, cmd.id), 'meta', dropped)
            if status in _OUTPUT_EXPLAINS:
                cmd.error_line = await self.logs.last_error_line(cmd.id, self.logs.path_for(cmd.host, cmd.id))
            summary = f'Finished: {iso(now)} {status.value}' + (f' exit {exit_code}' if exit_code is not None else '')
            detail = f' — {why}' if (why := causes.detail(cmd.view())) else ''
            self.logs.write_meta(cmd.id, cmd.host, self.logs.path_for(cmd.host, cmd.id), summary + detail)
            await self.logs.flush(cmd.id)
        text = f'{cmd.op} on {cmd.host or "fleet"} ended {status.value}'
        if why := causes.cause(cmd.view()) if status is not CommandStatus.SUCCESS else (message or ''):
            text += f': {why}'
        ended = self.events.entry(
            f'op:{cmd.op}',
            text,
            level=_LEVELS.get(status, EventLevel.ERROR),
            actor=actor,
            host=cmd.host,
            details={'command_id': cmd.id, 'status': status.value, 'exit_code': exit_code, 'code': cmd.code},
        )
        await self._journal(cmd, ended)  # the terminal row and its "ended" event commit together
        if cmd.host is not None and ran_on_agent(cmd):
            self.last_outcomes[cmd.host] = outcome(cmd)  # published with the host's derived fields below
        self.stream.emit(Change(ChangeType.COMMAND_FINISHED, id=cmd.id, fields=cmd.view()))
        for listener in self.finished_listeners:
            try:
                result = listener(cmd)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception('finished-listener %r failed for %s', listener, cmd.id)
        self._host_changed(cmd)
        self.events.publish(ended)
        self._resolve(cmd)
        return True

    async def _journal(self, cmd: Command, event: EventEntry | None) -> None:
        """Write the command's row and (if any) its event in one transaction."""
        await self.store.write(with_event(journal.save(cmd.row()), event))

    def _host_changed(self, cmd: Command) -> None:
        if cmd.host and cmd.host in self.hosts.rows:
            self.hosts.emit_derived(cmd.host)

    def forget_host(self, host: str) -> None:
        """The host was removed: a host registering under its name later starts without a last outcome."""
        self.last_outcomes.pop(host, None)

    # -- waiting -------------------------------------------------------------------------------------------------
    async def wait_terminal(self, command_id: str) -> Command:
        """Wait until the command has ended and return it."""
        cmd = await self.get(command_id)
        if cmd is None:
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, f'no command {command_id}')
        if cmd.terminal:
            return cmd
        future: asyncio.Future[Command] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(command_id, []).append(future)
        return await future

    def _resolve(self, cmd: Command) -> None:
        for future in self._waiters.pop(cmd.id, []):
            if not future.done():
                future.set_result(cmd)


def ran_on_agent(cmd: Command) -> bool:
    """Whether the command tells how the host is doing: its agent ran it (not a dashboard op) and it did not end
    unrun (`NOT_RUN`: refused, skipped, tracking cancelled). The host's last such command is its `last_outcome`."""
    return cmd.agent_command is not None and cmd.terminal and cmd.status not in NOT_RUN


def outcome(cmd: Command) -> dict[str, Any]:
    """A host view's `last_outcome`: what its last command was, how and when it ended, and why (`causes.cause`)."""
    view = cmd.view()
    return {
        'command_id': cmd.id,
        'op': cmd.op,
        'status': cmd.status.value,
        'finished_at': view['finished_at'],
        'cause': causes.cause(view),
    }
