"""The command lifecycle (docs/architecture.md#commands-lifecycle): the state machine plus what users and dashboard
restarts do to commands.

`CommandStateMachine` (state_machine.py) owns command state and host busy-ness; `Lifecycle` adds the user actions
on a running command (Wait N min, Kill, Ignore, Cancel tracking) and the reload of unfinished commands from the
journal after a restart. Both go through the state machine's `update` and `finish`, never around them.
"""

from __future__ import annotations

import logging

from nixfleet import protocol
from nixfleet.journal.records import active_commands, last_outcomes
from nixfleet.models import CommandStatus, ErrorCode, EventLevel
from nixfleet.ops.commands import Command
from nixfleet.ops.logs import LogRead
from nixfleet.ops.state_machine import CommandError, CommandStateMachine, outcome

__all__ = ['ADOPT_WINDOW', 'KILL_ESCALATION', 'RUNNING', 'CommandError', 'Lifecycle']

log = logging.getLogger(__name__)

#: Seconds a recovered command waits for its agent before it is ORPHANED.
ADOPT_WINDOW = 120.0
#: Seconds between SIGTERM and SIGKILL.
KILL_ESCALATION = 5.0
#: Running states a user may kill or extend.
RUNNING = frozenset({CommandStatus.EXECUTING, CommandStatus.RUNNING_WARNING, CommandStatus.TIMEOUT_PENDING})


class Lifecycle(CommandStateMachine):
    """Command state machine with user actions and restart recovery: the op engine's single command owner."""

    # -- user actions --------------------------------------------------------------------------------------------
    def _running(self, command_id: str) -> Command:
        cmd = self.find_active(command_id)
        if cmd is None:
            raise CommandError(ErrorCode.INVALID_STATE, f'command {command_id} is not running')
        return cmd

    async def wait(self, command_id: str, minutes: float, actor: str = 'user') -> Command:
        """Give the command `minutes` from now: no deadline of it passes before then (AWAITING_RECONNECT stays).

        Wait means "ask me again in N minutes": every deadline earlier than now + N moves to now + N, later ones
        stay. A command past its hard deadline is therefore quiet for exactly N minutes and then times out
        again; adding N to deadlines long passed (an earlier wording of the rule) put it back in warning seconds later.
        A deferred post-check is no deadline: it keeps its time.
        """
        if not 0 < minutes <= 24 * 60:
            raise CommandError(ErrorCode.INVALID_REQUEST, 'minutes must be between 1 and 1440')
        cmd = self._running(command_id)
        extra = minutes * 60.0
        now = self.clock()
        until = now + extra
        cmd.warn_at = max(cmd.warn_at, until) if cmd.warn_at is not None else None
        cmd.hard_at = max(cmd.hard_at, until) if cmd.hard_at is not None else None
        if cmd.track.reconnect_deadline is not None:
            cmd.track.reconnect_deadline = max(cmd.track.reconnect_deadline, until)
        if cmd.adopt_deadline is not None:
            cmd.adopt_deadline = max(cmd.adopt_deadline, until)
        cmd.track.extended_s += extra
        cmd.track.alert_dismissed = False
        status = None
        if cmd.status in (CommandStatus.RUNNING_WARNING, CommandStatus.TIMEOUT_PENDING):
            status = CommandStatus.EXECUTING  # every deadline is at least N minutes away now
        await self.update(cmd, status, event=f'{cmd.op} on {cmd.host}: waiting {minutes:g} more min', actor=actor)
        return cmd

    async def kill(self, command_id: str, actor: str = 'user') -> Command:
        """Ask the agent to SIGTERM the command (SIGKILL follows after 5 s); KILLED when the agent confirms."""
        cmd = self._running(command_id)
        if cmd.status not in RUNNING or cmd.agent_command is None or cmd.host is None:
            raise CommandError(ErrorCode.INVALID_STATE, f'{cmd.op} is {cmd.status.value}: nothing to kill')
        if cmd.track.kill_at is None:
            cmd.track.kill_at = self.clock()
        sent = self.gateway.send(cmd.host, protocol.kill_command('SIGTERM'))
        self.logs.append(cmd.id, cmd.host, self.logs.path_for(cmd.host, cmd.id), 'meta', f'kill requested by {actor}')
        note = '' if sent else ' (agent not connected: it is killed when it comes back without the command)'
        await self.update(
            cmd, event=f'{cmd.op} on {cmd.host}: kill requested (SIGTERM){note}', actor=actor, level=EventLevel.WARN
        )
        return cmd

    async def escalate_kill(self, cmd: Command) -> None:
        """SIGKILL a command that survived SIGTERM for `KILL_ESCALATION` seconds."""
        cmd.track.kill_escalated = True
        if cmd.host:
            self.gateway.send(cmd.host, protocol.kill_command('SIGKILL'))
        await self.update(cmd, event=f'{cmd.op} on {cmd.host}: still running; SIGKILL sent', level=EventLevel.WARN)

    async def ignore(self, command_id: str, actor: str = 'user') -> Command:
        """Dismiss the command's warning or timeout alert; tracking continues."""
        cmd = self._running(command_id)
        cmd.track.alert_dismissed = True
        await self.update(cmd, event=f'{cmd.op} on {cmd.host}: alert dismissed, still tracked', actor=actor)
        return cmd

    async def cancel(self, command_id: str, actor: str = 'user') -> Command:
        """Stop tracking the command (CANCELLED): the agent is left alone and the host is free again."""
        cmd = self._running(command_id)
        await self.finish(cmd, CommandStatus.CANCELLED, actor=actor, message=f'tracking cancelled by {actor}')
        return cmd

    async def read_output(self, command_id: str) -> str:
        """The command's log so far (buffered lines are written first)."""
        return (await self.read_output_at(command_id)).text

    async def read_output_at(self, command_id: str) -> LogRead:
        """The command's log so far and the state version whose output changes it holds (see `read_complete`)."""
        cmd = await self.get(command_id)
        if cmd is None:
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, f'no command {command_id}')
        path = self.logs.path_for(cmd.host, cmd.id) if cmd.output_file is not None else None
        return await self.logs.read_complete(cmd.id, path)

    # -- restart recovery ----------------------------------------------------------------------------------------
    def load(self) -> list[Command]:
        """Reload unfinished commands from the journal (blocking; startup), each awaiting its agent for 2 min, and each
        host's last outcome."""
        now = self.clock()
        loaded = self.store.read_sync(active_commands)
        for cmd in loaded:
            cmd.recovered, cmd.adopt_deadline = True, now + ADOPT_WINDOW
            cmd.track.awaiting_heartbeat = False
            if cmd.key in self.active:  # two unfinished commands for one host: only the newest can be real
                log.warning('journal holds two unfinished commands for %s; keeping %s', cmd.key, cmd.id)
            self.active[cmd.key] = cmd
        if loaded:
            log.info('reloaded %d unfinished commands from the journal', len(loaded))
        self.last_outcomes = {host: outcome(cmd) for host, cmd in self.store.read_sync(last_outcomes).items()}
        return loaded
