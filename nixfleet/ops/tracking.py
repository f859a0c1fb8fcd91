"""Agent messages → command transitions (docs/architecture.md#commands-lifecycle, docs/agent-protocol.md#messages).

Rules worth knowing:
- `output` is attributed to the host's active command (the agent's `command` field is always empty), within the
  output limits (`output_cap`: bytes per second per agent, bytes per command).
- `status` ends the active command when its `command` matches; anything else is logged and ignored.
- A heartbeat never marks a host busy. It is only read right after a (re-)register, when the agent's
  `pending_command` tells whether the command we track is still running (re-adopt) or not (decide how it ended).
- Switch-like ops end through reconnect: after `status ok` (or a disconnect while running) the agent is expected
  to re-register; the freshness triple captured at dispatch is compared with the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from nixfleet import protocol
from nixfleet.models import CommandStatus, ErrorCode, EventLevel
from nixfleet.ops.commands import Command
from nixfleet.ops.lifecycle import RUNNING, Lifecycle
from nixfleet.ops.logs import parse_log
from nixfleet.ops.output_cap import OutputCap, OutputLimits
from nixfleet.ops.registry import OPS, Completion
from nixfleet.ops.validation import Blocked, Snapshot
from nixfleet.protocol import (
    CommandRejected,
    Heartbeat,
    HeartbeatPayload,
    OperationProgress,
    Output,
    Register,
    Status,
    StatusPayload,
)
from nixfleet.timeutil import parse_iso

log = logging.getLogger(__name__)

FRESHNESS = ('source_commit', 'store_path', 'binary_hash')
#: Why a command recovered after a dashboard restart ends ORPHANED when its agent comes back without it.
ORPHANED_BACK_IDLE = 'dashboard restarted while it ran; the agent came back without it, so its outcome is unknown'
#: Seconds a force-rebuild may take to restart its agent after `status ok` before we stop waiting for it.
RESTART_GRACE = 10.0


def judge_freshness(
    before: Mapping[str, str], after: Mapping[str, str], expect_update: bool
) -> tuple[CommandStatus, str]:
    """Compare the agent's freshness triple captured at dispatch with the one it re-registered with."""
    if not (before.get('store_path') or before.get('binary_hash')):
        return CommandStatus.SUCCESS, 'agent is back (no freshness captured at dispatch: not verified)'
    if binary_changed(before, after):
        return CommandStatus.SUCCESS, 'agent is back with a new binary'
    old, new = before.get('source_commit') or '', after.get('source_commit') or ''
    if old and new and 'unknown' not in (old, new) and old != new:
        return CommandStatus.SUSPICIOUS, 'source commit changed but the binary did not (Nix cache issue?)'
    if expect_update:
        return (
            CommandStatus.STALE_BINARY,
            'agent still runs the old binary: run nix-collect-garbage -d and switch again',
        )
    return CommandStatus.SUCCESS, 'agent is back (binary unchanged; no agent update was expected)'


def binary_changed(before: Mapping[str, str], after: Mapping[str, str]) -> bool:
    """Whether the agent's store path or binary hash differs from the one captured at dispatch."""
    return any(after.get(k) and before.get(k) and after.get(k) != before.get(k) for k in ('store_path', 'binary_hash'))


class AgentTracker:
    """The lifecycle's AgentListener: turns agent messages into command transitions."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lc = lifecycle
        #: Every output line passes these limits before it is buffered, written or published.
        self.output = OutputCap(OutputLimits.of(lifecycle.settings), lifecycle.clock)
        self.stopping = False
        self.ignored: dict[str, int] = {}

    def _ignore(self, host: str, kind: str, detail: str) -> None:
        count = self.ignored[kind] = self.ignored.get(kind, 0) + 1
        if count == 1 or count % 1000 == 0:
            log.info('%s from %s ignored (%s; %d so far)', kind, host, detail, count)

    def _freshness_now(self, host: str) -> dict[str, str]:
        row = self.lc.hosts.rows.get(host, {})
        return {k: row.get(k) or '' for k in FRESHNESS}

    # -- AgentListener -------------------------------------------------------------------------------------------
    async def on_register(self, host: str, message: Register) -> None:
        """The agent (re-)connected: finish re-register ops, judge switches, or wait for its first heartbeat."""
        cmd = self.lc.active_for(host)
        if cmd is None or self.stopping:
            return
        op = OPS.get(cmd.op)
        cmd.track.disconnected_at = None
        if cmd.recovered and not cmd.track.status_ok:
            cmd.track.awaiting_heartbeat = True
        elif op and op.completion is Completion.REREGISTER and cmd.track.kill_at is None:
            await self.lc.finish(cmd, CommandStatus.SUCCESS, actor=f'agent:{host}', message='agent re-registered')
        elif op and op.completion is Completion.SWITCH and cmd.track.status_ok:
            await self._judge(cmd, host)
        else:
            cmd.track.awaiting_heartbeat = True

    async def on_disconnect(self, host: str) -> None:
        """The agent's link closed: switch-like and re-register ops now await the agent's return."""
        cmd = self.lc.active_for(host)
        if cmd is None or self.stopping:
            return
        op = OPS.get(cmd.op)
        cmd.track.disconnected_at = self.lc.clock()
        switching = op is not None and op.completion in (Completion.SWITCH, Completion.REREGISTER)
        if switching and cmd.status in RUNNING and cmd.track.kill_at is None and not cmd.recovered:
            if cmd.track.reconnect_deadline is None and op is not None:
                cmd.track.reconnect_deadline = self.lc.clock() + op.reconnect_timeout
            await self.lc.update(
                cmd,
                CommandStatus.AWAITING_RECONNECT,
                event=f'{cmd.op} on {host}: agent went away; waiting for it to come back',
            )
        else:
            await self.lc.update(cmd)

    async def on_message(self, host: str, message: protocol.AgentMessage) -> None:
        """Route one agent message to the host's active command."""
        if self.stopping:
            return
        cmd = self.lc.active_for(host)
        if isinstance(message, Heartbeat):
            if cmd is not None:
                await self._heartbeat(cmd, host, message.payload)
            return
        if cmd is None:
            if not isinstance(message, Register):
                self._ignore(host, message.type, 'no active command')
            return
        if isinstance(message, Output):
            self._output(cmd, host, message)
        elif isinstance(message, Status):
            await self._status(cmd, host, message)
        elif isinstance(message, CommandRejected):
            reason = message.payload.reason or 'rejected'
            current = message.payload.current_command
            await self.lc.finish(
                cmd,
                CommandStatus.ERROR,
                actor=f'agent:{host}',
                exit_code=None,
                code='agent_busy',
                error=f'agent rejected the command: {reason}' + (f' ({current} is running)' if current else ''),
            )
        elif isinstance(message, OperationProgress):
            cmd.progress = {**cmd.progress, **{k: p.model_dump() for k, p in message.payload.progress.items()}}
            await self.lc.update(cmd)

    # -- handlers ------------------------------------------------------------------------------------------------
    def _output(self, cmd: Command, host: str, message: Output) -> None:
        """Log what the output limits let through of one output line (and their markers)."""
        lines = self.output.admit(host, cmd.track, message.payload.stream or 'stdout', message.payload.line)
        if lines:
            path = self.lc.logs.path_for(host, cmd.id)
            for stream, text in lines:
                self.lc.logs.append(cmd.id, host, path, stream, text)

    async def _status(self, cmd: Command, host: str, message: Status) -> None:
        st = message.payload
        if st.command != cmd.agent_command:
            self._ignore(host, 'status', f'for {st.command!r}, but {cmd.agent_command!r} is tracked')
            return
        actor = f'agent:{host}'
        op = OPS[cmd.op]
        cmd.exit_code = st.exit_code
        if st.status == 'stopped':
            await self.lc.finish(
                cmd, CommandStatus.KILLED, actor=actor, exit_code=st.exit_code, message=st.message or 'stopped'
            )
        elif st.status not in ('ok', 'warning'):
            await self.lc.finish(
                cmd,
                CommandStatus.ERROR,
                actor=actor,
                exit_code=st.exit_code,
                error=st.message or f'{st.status} (exit {st.exit_code})',
            )
        elif op.completion is Completion.SWITCH:
            # The process that ran the switch sent this status (from its outbox when it reconnected first): the
            # switch is complete only once the agent is back on a new process, i.e. registers again after this
            # frame. Whatever came before (a register, the first heartbeat after it) was still the old process.
            cmd.track.status_ok, cmd.track.status_at = True, self.lc.clock()
            cmd.track.post_message = st.message
            cmd.track.awaiting_heartbeat = False
            cmd.recovered, cmd.adopt_deadline = False, None  # its outcome is known: no longer at risk of ORPHANED
            cmd.track.reconnect_deadline = self.lc.clock() + op.reconnect_timeout
            await self.lc.update(
                cmd,
                CommandStatus.AWAITING_RECONNECT,
                event=f'{cmd.op} on {host} reported ok; waiting for the agent to restart',
            )
        elif (problem := self._reported_problem(cmd, st)) is not None:
            status, blocked = problem
            await self.lc.finish(
                cmd, status, actor=actor, exit_code=st.exit_code, code=blocked.code, error=blocked.message
            )
        else:
            cmd.track.post_message = st.message
            await self.post_check(cmd, host, generation=st.generation, final=not op.post_check_waits_heartbeat)

    @staticmethod
    def _reported_problem(cmd: Command, st: StatusPayload) -> tuple[CommandStatus, Blocked] | None:
        """A problem the agent's own result reports, and how the command ends for it; None when there is none.

        `warning` (check-version: running ≠ installed) → PARTIAL with the agent's message: the command ran, its answer
        is a problem. A refresh whose `status ok` message says its check failed (`error`) → ERROR, as if the agent had
        reported `error` (which is what the simulated agent does).
        """
        if st.status == 'warning':
            return CommandStatus.PARTIAL, Blocked(ErrorCode.AGENT_WARNING, st.message or 'the agent reported a warning')
        check = OPS[cmd.op].result_check
        blocked = check(st.message) if check is not None else None
        return (CommandStatus.ERROR, blocked) if blocked is not None else None

    async def post_check(self, cmd: Command, host: str, *, generation: str = '', final: bool = True) -> None:
        """Judge an op that exited 0: SUCCESS, or PARTIAL when its goal was not reached."""
        op = OPS[cmd.op]
        message = cmd.track.post_message or None
        if op.post_check is None or host not in self.lc.hosts.rows:
            await self.lc.finish(cmd, CommandStatus.SUCCESS, actor=f'agent:{host}', exit_code=0, message=message)
            return
        view = dict(self.lc.hosts.view(host))
        if generation:
            view['generation'] = generation
        # judged on the state the command leaves behind: computed without the command itself as the host's active
        # one (which would show its own compartment `working`, e.g. Git during a pull)
        after = Snapshot.of(view, self.lc.compartments.statuses(view, idle=True))
        blocked = op.post_check(Snapshot.from_json(cmd.track.before), after)
        if blocked is None:
            await self.lc.finish(cmd, CommandStatus.SUCCESS, actor=f'agent:{host}', exit_code=0, message=message)
        elif final:
            await self.lc.finish(
                cmd, CommandStatus.PARTIAL, actor=f'agent:{host}', exit_code=0, code=blocked.code, error=blocked.message
            )
        else:
            interval = self.lc.hosts.rows[host].get('heartbeat_interval') or self.lc.settings.heartbeat_interval
            cmd.track.post_check_due = self.lc.clock() + 2 * interval + 1
            await self.lc.update(cmd)

    async def _heartbeat(self, cmd: Command, host: str, beat: HeartbeatPayload) -> None:
        pending = beat.pending_command
        if cmd.track.post_check_due is not None:
            cmd.track.post_check_due = None
            await self.post_check(cmd, host)
            return
        if not cmd.track.awaiting_heartbeat:
            return  # never (re-)mark busy from a heartbeat: the post-status one still shows the old command
        cmd.track.awaiting_heartbeat = False
        actor = f'agent:{host}'
        if pending and pending == cmd.agent_command:
            await self._readopt(cmd, host)
        elif cmd.track.kill_at is not None:
            await self.lc.finish(cmd, CommandStatus.KILLED, actor=actor, message='agent came back without the command')
        elif OPS[cmd.op].completion is Completion.SWITCH:
            await self._switch_back_without_status(cmd, host, beat)
        else:
            await self._back_without_result(cmd, actor, f'agent restarted while {cmd.op} ran and reported no result')

    async def _switch_back_without_status(self, cmd: Command, host: str, beat: HeartbeatPayload) -> None:
        """Judge a switch whose agent came back idle with no `status` for it.

        The Go agent has no outbox: a status sent while the link was down (the dashboard restarting, a dropped link)
        is lost. What the agent does is still evidence. After a successful switch it exits and is restarted (exit
        101 under systemd, a new launchd job on macOS), and a restarted agent reports empty compartments; a failed
        switch leaves the same process running with System `error`. So an agent that ran the switch (its output is
        in the command's log) and comes back with System empty or `ok` since the start did restart after a success:
        the freshness triple then says SUCCESS, SUSPICIOUS or STALE_BINARY as after a delivered `status ok`. No such
        evidence: ORPHANED after a dashboard restart (the outcome is unknown), ERROR otherwise.
        """
        actor = f'agent:{host}'
        now = self._freshness_now(host)
        report = beat.update_status.system if beat.update_status is not None else None
        reported_at = parse_iso(report.checked_at) if report is not None else None
        since_start = reported_at is not None and cmd.started_at is not None and reported_at >= cmd.started_at
        if report is not None and report.status == 'error' and since_start:
            await self.lc.finish(
                cmd, CommandStatus.ERROR, actor=actor, error=f'the agent reports the switch failed: {report.message}'
            )
            return
        cleared = report is None or not report.status or (report.status == 'ok' and since_start)
        if binary_changed(cmd.freshness, now) or (cleared and await self._agent_ran(cmd)):
            status, text = judge_freshness(cmd.freshness, now, cmd.track.expect_agent_update)
            if status is CommandStatus.SUCCESS and not binary_changed(cmd.freshness, now):
                text = 'agent is back on a new process after the switch (its status was lost while disconnected)'
            ok = status is CommandStatus.SUCCESS
            await self.lc.finish(
                cmd,
                status,
                actor=actor,
                exit_code=0 if ok else None,
                message=text if ok else None,
                error=None if ok else text,
            )
        else:
            unknown = 'agent restarted during the switch without reporting a result and its binary is unchanged'
            await self._back_without_result(cmd, actor, unknown + ': check the host')

    async def _back_without_result(self, cmd: Command, actor: str, error: str) -> None:
        """End a command whose agent came back without it and without a result: ORPHANED when the dashboard
        restarted while it ran (it may never have reached the agent), else ERROR with `error`."""
        if cmd.recovered:
            await self.lc.finish(cmd, CommandStatus.ORPHANED, actor=actor, error=ORPHANED_BACK_IDLE)
        else:
            await self.lc.finish(cmd, CommandStatus.ERROR, actor=actor, error=error)

    async def _agent_ran(self, cmd: Command) -> bool:
        """Whether the agent's own output for the command is in its log (it received and started the command)."""
        if cmd.output_file is None or cmd.host is None:
            return False
        read = await self.lc.logs.read_complete(cmd.id, self.lc.logs.path_for(cmd.host, cmd.id))
        return any(entry['stream'] != 'meta' for entry in parse_log(read.text))

    async def _readopt(self, cmd: Command, host: str) -> None:
        was_recovered = cmd.recovered
        cmd.recovered, cmd.adopt_deadline = False, None
        status = None
        if cmd.status is CommandStatus.AWAITING_RECONNECT and not cmd.track.status_ok:
            now = self.lc.clock()
            cmd.track.reconnect_deadline = None
            status = CommandStatus.EXECUTING
            if cmd.hard_at is not None and now >= cmd.hard_at:
                status = CommandStatus.TIMEOUT_PENDING
            elif cmd.warn_at is not None and now >= cmd.warn_at:
                status = CommandStatus.RUNNING_WARNING
        what = 're-adopted after a dashboard restart' if was_recovered else 'still running after a reconnect'
        await self.lc.update(cmd, status, event=f'{cmd.op} on {host} {what}', level=EventLevel.INFO)

    async def _judge(self, cmd: Command, host: str) -> None:
        status, text = judge_freshness(cmd.freshness, self._freshness_now(host), cmd.track.expect_agent_update)
        ok = status is CommandStatus.SUCCESS
        await self.lc.finish(
            cmd,
            status,
            actor=f'agent:{host}',
            exit_code=cmd.exit_code,
            message=text if ok else None,
            error=None if ok else text,
        )


def freshness_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The freshness triple of a host row."""
    return {k: row.get(k) or '' for k in FRESHNESS}
